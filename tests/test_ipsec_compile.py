"""compile_ipsec and the SPI scheme, example by example (the properties are in test_ipsec_properties)."""

from __future__ import annotations

import hashlib
from ipaddress import IPv4Address, IPv4Network

import pytest

from overlayc import errors
from overlayc.compile import ipsec, keys
from overlayc.compile.ipsec import compile_ipsec, receiver_spis
from overlayc.config.model import Cluster, Config, Encryption, Node
from overlayc.errors import ConfigError
from overlayc.kernel.objects import XfrmPolicy, XfrmState, XfrmTemplate
from overlayc.kernel.xfrm_marks import marks_of
from tests.support.builders import AT_NOV21 as AT

CLUSTER_ID = "cluster-under-test"
PRIVATE = {name: hashlib.sha256(name.encode()).digest() for name in ("a", "b", "c")}
PUBLIC = {name: keys.public_key_of(k) for name, k in PRIVATE.items()}
ADDR = {"a": "192.0.2.1", "b": "192.0.2.2", "c": "192.0.2.3"}


def make_config(algorithm: str = "aes-128-gcm", keyless: tuple[str, ...] = ()) -> Config:
    return Config(
        version=1,
        cluster=Cluster(
            name="t", id=CLUSTER_ID, encrypted_data_port=4800,
            encryption=Encryption(rotation=3600, algorithm=algorithm),
        ),
        nodes={
            n: Node(address=ADDR[n], public_key=None if n in keyless else keys.encode_key(PUBLIC[n]))
            for n in ADDR
        },
    )


def states(objs: list[XfrmState | XfrmPolicy]) -> list[XfrmState]:
    return [o for o in objs if isinstance(o, XfrmState)]


def test_spi_follows_the_documented_formula_when_nothing_collides() -> None:
    epoch = 493_000
    spis = receiver_spis(CLUSTER_ID, PUBLIC["b"], [PUBLIC["a"], PUBLIC["c"]], epoch)
    for sender in ("a", "c"):
        digest = hashlib.sha256(
            b"overlayc/spi" + CLUSTER_ID.encode() + b"\0" + PUBLIC["b"] + PUBLIC[sender]
            + epoch.to_bytes(8, "big") + (0).to_bytes(8, "big")
        ).digest()
        expected = ((int.from_bytes(digest[:4], "big") >> 2) << 2) | (epoch % 4)
        assert spis[PUBLIC[sender]] == expected


def _tiny_candidates(monkeypatch: pytest.MonkeyPatch, calls: list[int], values: int) -> None:
    """Replace the 30-bit hash by one with only `values` outcomes, so collisions are certain."""
    real = ipsec._spi_candidate

    def tiny(prefix: hashlib._Hash, pub: bytes, epoch: int, counter: int) -> int:
        calls.append(counter)
        return real(prefix, pub, epoch, counter) % (values * 4) // 4 * 4 + epoch % 4

    monkeypatch.setattr(ipsec, "_spi_candidate", tiny)


def test_collisions_and_reserved_values_are_resolved_identically_by_every_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    _tiny_candidates(monkeypatch, calls, values=0x100 // 4 + 12)  # 64 reserved, 12 usable values
    senders = [keys.public_key_of(hashlib.sha256(bytes([i])).digest()) for i in range(10)]
    receiver = PUBLIC["a"]
    first = receiver_spis(CLUSTER_ID, receiver, senders, 7)
    assert sorted(first) == sorted(senders)
    assert len(set(first.values())) == len(senders)
    assert all(spi >= 0x100 and spi % 4 == 7 % 4 for spi in first.values())
    assert max(calls) > 0  # the counter was really used
    # another node (other order, with the receiver and duplicates among the candidates) agrees
    again = receiver_spis(CLUSTER_ID, receiver, [receiver, *reversed(senders), senders[0]], 7)
    assert again == first


def test_one_receivers_spis_cost_o_nodes_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = ipsec._spi_candidate

    def counting(prefix: hashlib._Hash, pub: bytes, epoch: int, counter: int) -> int:
        calls.append(counter)
        return real(prefix, pub, epoch, counter)

    monkeypatch.setattr(ipsec, "_spi_candidate", counting)
    senders = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(3000)]
    spis = receiver_spis(CLUSTER_ID, PUBLIC["a"], senders, 12)
    assert len(set(spis.values())) == 3000
    assert len(calls) < 3000 + 10


MARKS = marks_of("t")  # the cluster's own reqid and priorities, not a band shared by all clusters
REQID, PRIO_PEER, PRIO_BLOCK = MARKS.reqid, MARKS.peer_priority(4800), MARKS.block_priority(4800)


def test_node_with_two_peers_has_sas_per_epoch_and_the_full_policy_set() -> None:
    objs = compile_ipsec(make_config(), "a", ["b", "c"], AT, PRIVATE["a"])
    epoch = int(AT.timestamp()) // 3600
    a = IPv4Address(ADDR["a"])
    for peer in ("b", "c"):
        p = IPv4Address(ADDR[peer])
        inbound = [s for s in states(objs) if s.src == p and s.dst == a]
        outbound = [s for s in states(objs) if s.src == a and s.dst == p]
        assert sorted(s.epoch for s in inbound if s.epoch is not None) == [epoch - 1, epoch, epoch + 1]
        assert [s.epoch for s in outbound] == [epoch]
        for s in (*inbound, *outbound):
            assert (s.reqid, s.algo, s.key_bits, s.icv_bits) == (REQID, "rfc4106(gcm(aes))", 160, 128)
            assert (s.replay_window, s.esn, s.mode) == (128, True, "transport")
            assert s.secret is not None and len(s.secret) == 20 and s.key_fp is not None
        assert XfrmPolicy(
            dir="out", src=IPv4Network(f"{a}/32"), dst=IPv4Network(f"{p}/32"), dport=4800,
            priority=PRIO_PEER, action="allow", tmpl=XfrmTemplate(src=a, dst=p, reqid=REQID),
        ) in objs
        assert XfrmPolicy(
            dir="in", src=IPv4Network(f"{p}/32"), dst=IPv4Network(f"{a}/32"), dport=4800,
            priority=PRIO_PEER, action="allow", tmpl=XfrmTemplate(src=p, dst=a, reqid=REQID),
        ) in objs
    blocks = [o for o in objs if isinstance(o, XfrmPolicy) and o.action == "block"]
    assert {(b.dir, str(b.src), str(b.dst), b.priority, b.dport) for b in blocks} == {
        ("out", "0.0.0.0/0", "0.0.0.0/0", PRIO_BLOCK, 4800),
        ("in", "0.0.0.0/0", "0.0.0.0/0", PRIO_BLOCK, 4800),
    }


def test_aes_256_gives_36_byte_keys_of_288_bits() -> None:
    objs = compile_ipsec(make_config("aes-256-gcm"), "a", ["b"], AT, PRIVATE["a"])
    assert {(s.key_bits, len(s.secret or b"")) for s in states(objs)} == {(288, 36)}


def test_no_peer_yet_still_blocks_the_encrypted_port() -> None:
    objs = compile_ipsec(make_config(), "a", [], AT, PRIVATE["a"])
    policies = [(o.dir, o.action) for o in objs if isinstance(o, XfrmPolicy)]
    assert policies == [("out", "block"), ("in", "block")]
    assert states(objs) == []


def test_private_key_of_another_node_is_refused() -> None:
    with pytest.raises(errors.KeyMismatch, match="does not belong to it"):
        compile_ipsec(make_config(), "a", ["b"], AT, PRIVATE["b"])


def test_peer_without_public_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        compile_ipsec(make_config(keyless=("c",)), "a", ["b", "c"], AT, PRIVATE["a"])
    (diag,) = info.value.diagnostics
    assert diag.code == "missing-public-key" and "'c'" in diag.message


def test_repr_and_json_of_compiled_sas_hold_no_key_material() -> None:
    from overlayc.kernel.objects import to_json

    for s in states(compile_ipsec(make_config(), "a", ["b", "c"], AT, PRIVATE["a"])):
        assert s.secret is not None
        text = repr(s) + str(to_json(s))
        for form in (s.secret.hex(), s.secret.hex().upper(), s.secret[:16].hex()):
            assert form not in text


def test_two_nodes_with_the_same_public_key_are_a_config_error() -> None:
    config = make_config()
    copy_of_b = Node(address=ADDR["c"], public_key=keys.encode_key(PUBLIC["b"]))
    twin = config.model_copy(update={"nodes": {**config.nodes, "c": copy_of_b}})
    with pytest.raises(ConfigError) as info:
        compile_ipsec(twin, "a", ["b", "c"], AT, PRIVATE["a"])
    assert [d.code for d in info.value.diagnostics] == ["duplicate-public-key"]


def test_sending_on_the_next_epoch_uses_the_sa_every_peer_already_holds() -> None:
    """The no-saved-state fallback (overlayc.apply.counters): a's outbound SA on epoch e+1 is
    exactly the inbound SA of e+1 that b installed from the start of epoch e (same SPI, same
    key); a's inbound SAs stay e−1, e, e+1, and nothing else changes."""
    config = make_config()
    epoch = int(AT.timestamp()) // 3600
    a, b = IPv4Address(ADDR["a"]), IPv4Address(ADDR["b"])
    normal = compile_ipsec(config, "a", ["b"], AT, PRIVATE["a"])
    shifted = compile_ipsec(config, "a", ["b"], AT, PRIVATE["a"], send_epoch=epoch + 1)
    at_b = states(compile_ipsec(config, "b", ["a"], AT, PRIVATE["b"]))
    (out,) = [s for s in states(shifted) if s.src == a]
    held = next(s for s in at_b if s.src == a and s.epoch == epoch + 1)
    assert out.epoch == epoch + 1
    assert (out.spi, out.key_fp, out.secret) == (held.spi, held.key_fp, held.secret)
    assert [o for o in shifted if not (isinstance(o, XfrmState) and o.src == a)] == \
        [o for o in normal if not (isinstance(o, XfrmState) and o.src == a)]
    assert compile_ipsec(config, "a", ["b"], AT, PRIVATE["a"], send_epoch=epoch) == normal
    with pytest.raises(ValueError, match="neither"):
        compile_ipsec(config, "a", ["b"], AT, PRIVATE["a"], send_epoch=epoch + 2)
    assert b in {s.dst for s in states(shifted)}
