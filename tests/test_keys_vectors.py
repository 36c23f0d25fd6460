"""The key primitives against their RFCs, and the SA-key formula of DESIGN.md §4 against an
independent stdlib implementation (hmac) of the same formula."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from overlayc import errors
from overlayc.compile import keys
from overlayc.errors import InputError

# RFC 7748 §5.2: (scalar, u-coordinate, X25519(scalar, u))
RFC7748_5_2 = [
    (
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ),
    (
        "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ),
]

# RFC 7748 §6.1
ALICE_PRIV = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PUB = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
BOB_PRIV = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
BOB_PUB = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
SHARED = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")

# RFC 5869 appendix A, test cases 1-3 (SHA-256): (IKM, salt, info, L, OKM)
RFC5869 = [
    (
        bytes([0x0B] * 22), bytes(range(0x00, 0x0D)), bytes(range(0xF0, 0xFA)), 42,
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    ),
    (
        bytes(range(0x00, 0x50)), bytes(range(0x60, 0xB0)), bytes(range(0xB0, 0x100)), 82,
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87",
    ),
    (
        bytes([0x0B] * 22), b"", b"", 42,
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    ),
]


@pytest.mark.parametrize(("scalar", "u", "expected"), RFC7748_5_2)
def test_x25519_rfc7748_section_5_2(scalar: str, u: str, expected: str) -> None:
    assert keys.x25519(bytes.fromhex(scalar), bytes.fromhex(u)).hex() == expected


def test_x25519_rfc7748_section_6_1_key_agreement() -> None:
    assert keys.public_key_of(ALICE_PRIV) == ALICE_PUB
    assert keys.public_key_of(BOB_PRIV) == BOB_PUB
    assert keys.x25519(ALICE_PRIV, BOB_PUB) == SHARED
    assert keys.x25519(BOB_PRIV, ALICE_PUB) == SHARED


def test_x25519_refuses_low_order_public_key_without_showing_private_key() -> None:
    with pytest.raises(InputError, match="low-order") as info:
        keys.x25519(ALICE_PRIV, bytes(32))
    assert ALICE_PRIV.hex() not in str(info.value)


@pytest.mark.parametrize(("ikm", "salt", "info", "length", "okm"), RFC5869)
def test_hkdf_sha256_rfc5869(ikm: bytes, salt: bytes, info: bytes, length: int, okm: str) -> None:
    assert keys.hkdf_sha256(ikm, salt, info, length).hex() == okm


def _reference_hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out, i = out + block, i + 1
    return out[:length]


@pytest.mark.parametrize("length", [20, 36])
@pytest.mark.parametrize("epoch", [0, 1, 4_112_345, 2**40])
def test_sa_key_follows_the_design_formula(length: int, epoch: int) -> None:
    cluster_id = "test-cluster-0001"
    info = b"overlayc/esp" + ALICE_PUB + BOB_PUB + epoch.to_bytes(8, "big")
    expected = _reference_hkdf(SHARED, cluster_id.encode(), info, length)
    got = keys.derive_sa_key(keys.x25519(ALICE_PRIV, BOB_PUB), cluster_id, ALICE_PUB, BOB_PUB, epoch, length)
    assert got == expected
    # the receiving end derives the same key from its own private key and the sender's public key
    bob_side = keys.x25519(BOB_PRIV, ALICE_PUB)
    assert keys.derive_sa_key(bob_side, cluster_id, ALICE_PUB, BOB_PUB, epoch, length) == got


def test_sa_key_differs_per_direction_epoch_and_cluster() -> None:
    derived = {
        keys.derive_sa_key(SHARED, cid, src, dst, e, 20)
        for cid in ("cluster-aaaa", "cluster-bbbb")
        for src, dst in ((ALICE_PUB, BOB_PUB), (BOB_PUB, ALICE_PUB))
        for e in range(5)
    }
    assert len(derived) == 2 * 2 * 5


def test_public_key_fingerprint_is_unpadded_sha256_base64() -> None:
    fp = keys.public_key_fingerprint(ALICE_PUB)
    assert fp.startswith("SHA256:") and not fp.endswith("=")
    assert len(fp) == len("SHA256:") + 43


def test_check_key_pair_names_public_keys_only() -> None:
    keys.check_key_pair(ALICE_PRIV, ALICE_PUB, "alice")
    with pytest.raises(errors.KeyMismatch, match="does not belong") as info:
        keys.check_key_pair(ALICE_PRIV, BOB_PUB, "bob")
    message = str(info.value)
    assert keys.encode_key(BOB_PUB) in message
    assert ALICE_PRIV.hex() not in message and keys.encode_key(ALICE_PRIV) not in message
