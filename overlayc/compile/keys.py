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
import binascii
import errno
import hashlib
import os
import re
import stat
from pathlib import Path

from overlayc.config.model import NAME_RE
from overlayc.errors import InputError

# `cryptography` is imported by the functions that use it: it adds 6.6 MiB and 40 ms to every
# process that compiles, and most compiles (no encrypted network, or no private key) never use it.

DEFAULT_KEY_DIR = Path("/etc/overlayc/keys")
KEY_DIR_ENV = "OVERLAYC_KEY_DIR"  # overrides DEFAULT_KEY_DIR (tests, unprivileged use)
KEY_LEN = 32
ESP_INFO = b"overlayc/esp"
# key ‖ salt lengths for rfc4106(gcm(aes)) (RFC 4106 §8.1: the last 4 bytes are the nonce salt)
ALGORITHM_KEY_LEN = {"aes-128-gcm": 16 + 4, "aes-256-gcm": 32 + 4}


class KeyFileError(InputError):
    """A private key file exists but cannot be used (permissions, content). Never shows the key."""


class KeyMismatch(InputError):
    """A private key does not belong to the node whose public key the configuration holds."""


# --- files ------------------------------------------------------------------------------------
def key_dir() -> Path:
    """Where node keys live by default: $OVERLAYC_KEY_DIR, else /etc/overlayc/keys."""
    env = os.environ.get(KEY_DIR_ENV)
    return Path(env) if env else DEFAULT_KEY_DIR


def default_key_path(node: str) -> Path:
    """The default private key file of `node`: `<key dir>/<node>.key`; InputError for a bad name."""
    if not re.match(NAME_RE, node):
        raise InputError(f"{node!r} is not a node name (lower-case letters, digits, '-', '_')")
    return key_dir() / f"{node}.key"


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


def write_private_key(path: Path, raw: bytes, *, force: bool = False) -> None:
    """Write `raw` as a key file at `path`, created with mode 0600 (never wider, not even briefly).

    Without `force` an existing file is never touched (O_EXCL) and InputError says so. With `force`
    the key is written to a fresh 0600 file next to it and renamed over it (atomic replace).
    The parent directory is created with mode 0700 when missing.
    """
    line = (encode_key(raw) + "\n").encode("ascii")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = path.with_name(f".{path.name}.tmp{os.getpid()}") if force else path
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise InputError(f"{path} already exists; refusing to overwrite it (use --force)") from None
    except OSError as err:
        raise InputError(f"cannot create {target}: {err.strerror}") from None
    try:
        # the umask can only remove bits, but be explicit: the file is 0600 whatever the umask
        os.fchmod(fd, 0o600)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    if force:
        os.replace(target, path)


def check_key_file_mode(path: Path, mode: int) -> None:
    """Refuse a key file that group or others can access in any way (ssh's rule)."""
    if mode & 0o077:
        raise KeyFileError(
            f"private key {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"it must be readable by its owner only: chmod 600 {path}"
        )


def read_private_key(path: Path) -> bytes:
    """The 32 raw private-key bytes of the key file at `path`.

    Raises InputError when the file is missing, KeyFileError when it is not a regular file, has
    group/other permission bits, or does not hold exactly one base64 line of 32 bytes.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a FIFO must not block
    except FileNotFoundError:
        raise InputError(f"private key {path} does not exist (create it with `overlayc keys gen`)") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise KeyFileError(f"private key {path} is a symbolic link; give the file itself") from None
        raise InputError(f"cannot read private key {path}: {err.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"private key {path} is not a regular file")
        check_key_file_mode(path, info.st_mode)
        data = fh.read(4096)
    return _decode_key_file(path, data)


def _decode_key_file(path: Path, data: bytes) -> bytes:
    # Errors below describe the shape of the content, never the content itself.
    problem = f"private key {path} is not one line of base64 holding {KEY_LEN} bytes"
    lines = data.splitlines()
    if len(lines) != 1:
        raise KeyFileError(f"{problem} (found {len(lines)} lines)")
    try:
        raw = base64.b64decode(lines[0].strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{problem} (not valid base64)") from None
    if len(raw) != KEY_LEN:
        raise KeyFileError(f"{problem} (decodes to {len(raw)} bytes)")
    return raw


def load_private_key(path: Path) -> bytes | None:
    """Like `read_private_key`, but a missing file means "key unavailable" (None): CI plans."""
    if not os.path.lexists(path):
        return None
    return read_private_key(path)


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
def generate_key_file(path: Path, *, force: bool = False) -> bytes:
    """Create a fresh private key file at `path` (see `write_private_key`); return its public key."""
    private = generate_private_key()
    write_private_key(path, private, force=force)
    return public_key_of(private)


def resolve_private_key(node: str, key_file: Path | None) -> bytes | None:
    """The node's private key for compile, or None when it is unavailable.

    Without `key_file`, the default path is used and a missing file means "unavailable" (a CI
    plan). An explicitly given `key_file` must exist: a typo must not silently drop the keys.
    A file with group/other permissions or bad content is an error either way.
    """
    if key_file is not None:
        return read_private_key(key_file)
    return load_private_key(default_key_path(node))
