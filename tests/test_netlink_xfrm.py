"""XFRM codec: round trips for every message type, and byte equality with what iproute2 sends
(requests captured with strace into tests/data/xfrm-*.json by tests/support/strace_capture.py)."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from overlayc.apply.requests import requests_for
from overlayc.diff import Action, Change, Reason
from overlayc.kernel.objects import XfrmPolicy, XfrmState, XfrmTemplate, fingerprint
from overlayc.kernel.ownership import PRIO_BLOCK, PRIO_PEER, REQID
from overlayc.netlink import xfrm as nx
from overlayc.netlink.core import NLM_F_ACK, NLM_F_REQUEST, parse_attrs
from tests.support.host import DATA

KEY20 = bytes(range(1, 21))
A, B = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    data["body"] = bytes.fromhex(data["body"])
    return data


def sa(**kw: Any) -> XfrmState:
    base: dict[str, Any] = dict(src=A, dst=B, spi=0x1001, key_fp=fingerprint(KEY20), secret=KEY20)
    base.update(kw)
    return XfrmState(**base)


PEER_OUT = XfrmPolicy("out", IPv4Network("10.0.0.1/32"), IPv4Network("10.0.0.2/32"), 4790, PRIO_PEER,
                      "allow", XfrmTemplate(A, B))
BLOCK_IN = XfrmPolicy("in", IPv4Network("0.0.0.0/0"), IPv4Network("0.0.0.0/0"), 4790, PRIO_BLOCK, "block")


def test_captured_sa_decodes_to_the_object_iproute2_was_given() -> None:
    got = nx.decode_sa(fixture("xfrm-sa-esn")["body"])
    assert got == sa()
    assert got.secret == KEY20
    assert got.key_fp == fingerprint(KEY20)
    assert (got.reqid, got.replay_window, got.esn, got.icv_bits) == (REQID, 128, True, 128)


@pytest.mark.parametrize(("name", "obj"), [("xfrm-policy-out", PEER_OUT), ("xfrm-policy-block-in", BLOCK_IN)])
def test_captured_policy_decodes(name: str, obj: XfrmPolicy) -> None:
    assert nx.decode_policy(fixture(name)["body"]) == obj


def test_sa_encoding_is_byte_identical_to_iproute2() -> None:
    cap = fixture("xfrm-sa-esn")
    create = Change(Action.CREATE, sa().key, None, sa(), Reason.NOT_IN_KERNEL)
    (mtype, flags, body), = requests_for(create, {})
    assert (mtype, flags | NLM_F_REQUEST | NLM_F_ACK) == (cap["type"], cap["flags"])
    assert body == cap["body"]


@pytest.mark.parametrize(("name", "obj"), [("xfrm-policy-out", PEER_OUT), ("xfrm-policy-block-in", BLOCK_IN)])
def test_policy_encoding_is_byte_identical_to_iproute2(name: str, obj: XfrmPolicy) -> None:
    cap = fixture(name)
    (mtype, flags, body), = requests_for(Change(Action.CREATE, obj.key, None, obj, Reason.NOT_IN_KERNEL), {})
    assert (mtype, flags | NLM_F_REQUEST | NLM_F_ACK, body) == (cap["type"], cap["flags"], cap["body"])


def test_delete_requests_are_byte_identical_to_iproute2() -> None:
    pol_del, sa_del = fixture("xfrm-policy-del"), fixture("xfrm-sa-del")
    (t1, _, b1), = requests_for(Change(Action.DELETE, PEER_OUT.key, PEER_OUT, None, Reason.NOT_IN_CONFIG), {})
    (t2, _, b2), = requests_for(Change(Action.DELETE, sa().key, sa(), None, Reason.NOT_IN_CONFIG), {})
    assert (t1, b1) == (pol_del["type"], pol_del["body"])
    assert (t2, b2) == (sa_del["type"], sa_del["body"])


SAS = [
    sa(),
    sa(spi=0xFFFFFFFF, replay_window=64),
    sa(esn=False, replay_window=32),
    sa(esn=False, replay_window=0),
    sa(key_bits=288, secret=bytes(range(36)), key_fp=fingerprint(bytes(range(36)))),
    sa(src=IPv4Address("192.0.2.7"), dst=IPv4Address("198.51.100.9"), spi=0x100, replay_window=1024),
]


@pytest.mark.parametrize("obj", SAS, ids=lambda o: f"{o.spi:x}-esn{o.esn}-w{o.replay_window}-k{o.key_bits}")
def test_sa_round_trip(obj: XfrmState) -> None:
    back = nx.decode_sa(nx.encode_sa(obj))
    assert back == obj
    assert back.secret == obj.secret


def test_sa_window_lives_in_esn_attribute_when_esn_is_on() -> None:
    body = nx.encode_sa(sa(replay_window=256))
    attrs = parse_attrs(body, nx.SA_INFO_SIZE, len(body))
    bmp_len, *_, window = nx.REPLAY_ESN.unpack_from(attrs[nx.XFRMA_REPLAY_ESN_VAL])
    assert (bmp_len, window) == (8, 256)
    assert body[nx.SA_INFO_SIZE - 7 - 3 : nx.SA_INFO_SIZE - 7] == bytes([0, 0, nx.XFRM_STATE_ESN])


def test_sa_mark_is_encoded() -> None:
    body = nx.encode_sa(sa(), nx.Mark(0xD0C4E3))
    attrs = parse_attrs(body, nx.SA_INFO_SIZE, len(body))
    assert nx.MARK.unpack(attrs[nx.XFRMA_MARK]) == (0xD0C4E3, 0xFFFFFFFF)
    assert nx.decode_sa(body) == sa()


def test_sa_without_key_material_is_refused() -> None:
    with pytest.raises(ValueError, match="key material unknown"):
        nx.encode_sa(sa(secret=None, key_fp=None))


def test_sa_with_wrong_key_length_is_refused() -> None:
    with pytest.raises(ValueError, match="bits"):
        nx.encode_sa(sa(secret=b"short"))


POLICIES = [
    PEER_OUT,
    BLOCK_IN,
    XfrmPolicy("in", IPv4Network("10.0.0.2/32"), IPv4Network("10.0.0.1/32"), 4790, PRIO_PEER, "allow",
               XfrmTemplate(B, A)),
    XfrmPolicy("out", IPv4Network("0.0.0.0/0"), IPv4Network("0.0.0.0/0"), 4789, PRIO_BLOCK, "block"),
    XfrmPolicy("out", IPv4Network("172.16.0.0/12"), IPv4Network("192.168.1.0/24"), 0, 0x6FFF, "allow"),
]


@pytest.mark.parametrize("obj", POLICIES, ids=lambda p: "-".join(p.key[1:]))
def test_policy_round_trip(obj: XfrmPolicy) -> None:
    body = nx.encode_policy(obj)
    assert nx.decode_policy(body) == obj
    assert nx.decode_policy_key(body) == (obj.dir, obj.src, obj.dst, obj.proto, obj.dport, obj.priority)


@pytest.mark.parametrize("obj", POLICIES, ids=lambda p: "-".join(p.key[1:]))
def test_policy_id_carries_selector_and_direction(obj: XfrmPolicy) -> None:
    sel, index, direction = nx.USERPOLICY_ID.unpack(nx.encode_policy_id(obj))
    assert nx.unpack_selector(sel) == (obj.src, obj.dst, obj.proto, obj.dport)
    assert (index, direction) == (0, nx.XFRM_POLICY_IN if obj.dir == "in" else nx.XFRM_POLICY_OUT)


def test_sa_header_of_a_foreign_sa() -> None:
    body = nx.encode_sa(sa(reqid=42))
    head = nx.decode_sa_header(body)
    assert (head.src, head.dst, head.spi, head.proto, head.reqid) == (A, B, 0x1001, nx.IPPROTO_ESP, 42)


def test_update_uses_upd_messages() -> None:
    moved = XfrmPolicy(PEER_OUT.dir, PEER_OUT.src, PEER_OUT.dst, PEER_OUT.dport, PRIO_PEER + 1, "allow",
                       PEER_OUT.tmpl)
    (t, _, body), = requests_for(Change(Action.UPDATE, PEER_OUT.key, PEER_OUT, moved, Reason.DRIFT), {})
    assert t == nx.XFRM_MSG_UPDPOLICY
    assert nx.decode_policy(body) == moved
