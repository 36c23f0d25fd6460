"""Node keys and per-pair epoch keys (DESIGN.md §4).

Each node has an X25519 key pair. The private key stays in one file on the node:
ONE line, base64 of the 32 raw private bytes, then "\\n", mode 0600 (anything readable by group or
others is refused, as ssh does). The public key (base64 of 32 raw bytes) is in the YAML.

Per ordered pair (A→B) and epoch e, both ends derive the same SA key without any exchange:

    K = HKDF-SHA256(ikm  = X25519(A, B),
                    salt = cluster id (UTF-8),
                    info = b"overlayc/esp" ‖ pubA ‖ pubB ‖ e (8 bytes, big-endian, two's complement),
                    L    = 20 (AES-128 key ‖ 4-byte GCM salt) or 36 (AES-256 key ‖ salt))

A computes X25519(privA, pubB), B computes X25519(privB, pubA): the same shared secret.

No function here puts key material into an exception message, a repr or a log line.
"""

from __future__ import annotations

import base64
import hashlib

from overlayc.errors import InputError, KeyMismatch

# `cryptography` is imported by the functions that use it: it adds 6.6 MiB and 40 ms to every
# process that compiles, and most compiles (no encrypted network, or no private key) never use it.

KEY_LEN = 32
ESP_INFO = b"overlayc/esp"
# key ‖ salt lengths for rfc4106(gcm(aes)) (RFC 4106 §8.1: the last 4 bytes are the nonce salt)
ALGORITHM_KEY_LEN = {"aes-128-gcm": 16 + 4, "aes-256-gcm": 32 + 4}




def generate_private_key() -> bytes:
    """32 fresh raw X25519 private-key bytes from the OS CSPRNG (via cryptography)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    return X25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def encode_key(raw: bytes) -> str:
    """Base64 of 32 raw key bytes (the format of key files and of `public_key:` in YAML)."""
    if len(raw) != KEY_LEN:
        raise ValueError(f"an X25519 key has {KEY_LEN} bytes, got {len(raw)}")
    return base64.b64encode(raw).decode("ascii")


# --- primitives -------------------------------------------------------------------------------
def public_key_of(private_key: bytes) -> bytes:
    """The 32 raw X25519 public-key bytes of 32 raw private-key bytes."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pub = X25519PrivateKey.from_private_bytes(private_key).public_key()
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_fingerprint(public_key: bytes) -> str:
    """`SHA256:<base64, unpadded>` of the raw public key, in the style of `ssh-keygen -l`."""
    digest = hashlib.sha256(public_key).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def x25519(private_key: bytes, peer_public_key: bytes) -> bytes:
    """RFC 7748 X25519(k, u) for raw 32-byte scalar and u-coordinate.

    Raises InputError for a low-order peer key (all-zero shared secret, RFC 7748 §6.1): such a
    public key in the configuration would give every pair the same, publicly known key.
    """
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

    priv = X25519PrivateKey.from_private_bytes(private_key)
    try:
        return priv.exchange(X25519PublicKey.from_public_bytes(peer_public_key))
    except ValueError:
        raise InputError(
            f"public key {encode_key(peer_public_key)} is a low-order point; regenerate that node's key"
        ) from None


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF with SHA-256 (extract with `salt`, expand with `info` to `length` bytes)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def esp_info(pub_src: bytes, pub_dst: bytes, epoch: int) -> bytes:
    """HKDF info of the SA src→dst in `epoch`: b"overlayc/esp" ‖ pub_src ‖ pub_dst ‖ e (8 B, BE)."""
    return ESP_INFO + pub_src + pub_dst + epoch.to_bytes(8, "big", signed=True)


def derive_sa_key(
    shared: bytes, cluster_id: str, pub_src: bytes, pub_dst: bytes, epoch: int, length: int
) -> bytes:
    """Key ‖ salt of the SA src→dst in `epoch`, from the pair's X25519 shared secret."""
    return hkdf_sha256(shared, cluster_id.encode("utf-8"), esp_info(pub_src, pub_dst, epoch), length)


def check_key_pair(private_key: bytes, public_key: bytes, node: str) -> None:
    """Raise KeyMismatch unless `private_key` is the private half of the node's `public_key`."""
    actual = public_key_of(private_key)
    if actual != public_key:
        raise KeyMismatch(
            f"the private key given for node {node!r} does not belong to it: its public key is "
            f"{encode_key(actual)}, the configuration has {encode_key(public_key)} "
            "(wrong --key-file, or the YAML was not updated after `overlayc keys gen`)"
        )


# --- what the CLI calls -------------------------------------------------------------------------
