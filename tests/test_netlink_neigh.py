"""Neighbour/FDB codec, the fast dump parser, netlink framing and error parsing (pure)."""

from __future__ import annotations

import errno
import struct
from ipaddress import IPv4Address, IPv6Address

import pytest

from overlayc.apply.messages import explain
from overlayc.apply.requests import CREATE_REPLACE, requests_for
from overlayc.diff import Action, Change, Reason
from overlayc.errors import MissingDevice
from overlayc.kernel.objects import Fdb, Neigh, Vxlan
from overlayc.netlink import entrydump
from overlayc.netlink import neigh as nn
from overlayc.netlink.core import (
    HDR,
    NLM_F_ACK_TLVS,
    NLM_F_CAPPED,
    NLMSG_DONE,
    NLMSG_ERROR,
    Message,
    attr,
    attr_str,
    pack_msg,
    parse_attrs,
    parse_error,
    split_msgs,
)
from overlayc.netlink.entrydump import fdb_keys, neigh_macs

MAC = "02:42:0a:01:00:06"
FDB = Fdb("ovx1", MAC, IPv4Address("10.0.0.2"))
NEIGH = Neigh("ovx1", IPv4Address("10.1.0.6"), MAC)


def test_fdb_body_matches_bridge_fdb_replace_self_permanent() -> None:
    """strace of `bridge fdb replace 02:42:0a:01:00:06 dev ovx1 dst 10.0.0.2 self permanent`
    (iproute2 6.x): flags REQUEST|ACK|REPLACE|CREATE, ndm AF_BRIDGE, state NOARP|PERMANENT,
    NTF_SELF, then NDA_LLADDR (len 10) and NDA_DST (len 8): 48 bytes with the header."""
    body = nn.encode_fdb(7, MAC, IPv4Address("10.0.0.2"))
    assert len(body) + 16 == 48
    assert nn.NDMSG.unpack_from(body) == (nn.AF_BRIDGE, 7, nn.NUD_NOARP | nn.NUD_PERMANENT, nn.NTF_SELF, 0)
    assert body == nn.NDMSG.pack(nn.AF_BRIDGE, 7, 0xC0, nn.NTF_SELF, 0) + attr(nn.NDA_LLADDR, bytes.fromhex(
        "02420a010006")) + attr(nn.NDA_DST, bytes([10, 0, 0, 2]))
    attrs = parse_attrs(body, nn.NDMSG.size, len(body))
    assert attrs == {nn.NDA_LLADDR: bytes.fromhex("02420a010006"), nn.NDA_DST: bytes([10, 0, 0, 2])}


def test_neigh_body_and_delete_body() -> None:
    """strace of `ip neigh replace 10.1.0.6 lladdr 02:42:0a:01:00:06 dev ovx1 nud permanent`:
    ndm AF_INET, state PERMANENT, flags 0, NDA_DST (len 8) then NDA_LLADDR (len 10)."""
    body = nn.encode_neigh(7, IPv4Address("10.1.0.6"), MAC)
    assert body == nn.NDMSG.pack(nn.AF_INET, 7, 0x80, 0, 0) + attr(nn.NDA_DST, bytes([10, 1, 0, 6])) + attr(
        nn.NDA_LLADDR, bytes.fromhex("02420a010006"))
    assert nn.NDMSG.unpack_from(body) == (nn.AF_INET, 7, nn.NUD_PERMANENT, 0, 0)
    assert parse_attrs(body, 12, len(body))[nn.NDA_LLADDR] == bytes.fromhex("02420a010006")
    bare = nn.encode_neigh(7, IPv4Address("10.1.0.6"))
    assert parse_attrs(bare, nn.NDMSG.size, len(bare)) == {nn.NDA_DST: bytes([10, 1, 0, 6])}


def _dump(entries: list[tuple[int, bytes]], extra: bytes = b"") -> bytes:
    return b"".join(pack_msg(nn.RTM_NEWNEIGH, 2, 9, body) for _, body in entries) + extra


def test_dump_parser_filters_by_device_and_keeps_raw_fields() -> None:
    buf = _dump([
        (7, nn.encode_fdb(7, MAC, IPv4Address("10.0.0.2"))),
        (8, nn.encode_fdb(8, "02:00:00:00:00:01", IPv4Address("10.0.0.3"))),
        (7, nn.encode_neigh(7, IPv4Address("10.1.0.6"), MAC)),
    ], pack_msg(NLMSG_DONE, 2, 9, b"\0" * 4))
    got = list(nn.parse_neigh_dump(buf, {7}))
    assert got == [
        (7, nn.FDB_STATE, nn.NTF_SELF, bytes([10, 0, 0, 2]), bytes.fromhex("02420a010006")),
        (7, nn.NUD_PERMANENT, 0, bytes([10, 1, 0, 6]), bytes.fromhex("02420a010006")),
    ]
    assert nn.mac_str(got[0][4]) == MAC


def test_dump_parser_tolerates_entries_without_dst() -> None:
    body = nn.NDMSG.pack(nn.AF_BRIDGE, 7, nn.NUD_PERMANENT, nn.NTF_SELF, 0) + attr(nn.NDA_LLADDR, b"\1" * 6)
    assert list(nn.parse_neigh_dump(_dump([(7, body)]), {7})) == [(7, 0x80, 2, b"", b"\1" * 6)]


def test_fast_decoder_reads_the_sandbox_layout_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """An fdb entry of a vxlan in a sandbox (its socket in another namespace) starts with
    NDA_LINK_NETNSID (dump of kernel 6.1); observe's decoder reads it without the general one."""
    mac = bytes.fromhex("02420a010006")
    bodies = [nn.NDMSG.pack(nn.AF_BRIDGE, index, nn.FDB_STATE, nn.NTF_SELF, 0)
              + attr(nn.NDA_LINK_NETNSID, b"\0" * 4) + attr(nn.NDA_LLADDR, mac)
              + attr(nn.NDA_DST, bytes([10, 0, 0, 2])) + attr(3, b"\0" * 16) for index in (7, 8)]
    buf = _dump([(7, bodies[0]), (8, bodies[1])])
    expected = list(nn.parse_neigh_dump(buf, {7}))
    assert expected == [(7, nn.FDB_STATE, nn.NTF_SELF, bytes([10, 0, 0, 2]), mac)]
    monkeypatch.setattr(entrydump, "parse_neigh_dump", lambda *_: pytest.fail("general decoder used"))
    sets: dict[int, set[bytes]] = {7: set()}
    entrydump.fdb_keys(buf, sets)
    assert sets == {7: {mac + bytes([10, 0, 0, 2])}}


@pytest.mark.parametrize(("change", "expected"), [
    (Change(Action.CREATE, FDB.key, None, FDB, Reason.NOT_IN_KERNEL), [(nn.RTM_NEWNEIGH, CREATE_REPLACE)]),
    (Change(Action.DELETE, FDB.key, FDB, None, Reason.NOT_IN_CONFIG), [(nn.RTM_DELNEIGH, 0)]),
    (Change(Action.UPDATE, NEIGH.key, NEIGH, NEIGH, Reason.DRIFT), [(nn.RTM_NEWNEIGH, CREATE_REPLACE)]),
    (Change(Action.REPLACE, NEIGH.key, NEIGH, NEIGH, Reason.CANNOT_UPDATE),
     [(nn.RTM_DELNEIGH, 0), (nn.RTM_NEWNEIGH, CREATE_REPLACE)]),
])
def test_requests_for_fdb_and_neigh(change: Change, expected: list[tuple[int, int]]) -> None:
    reqs = requests_for(change, {"ovx1": 7})
    assert [(t, f) for t, f, _ in reqs] == expected
    assert all(nn.NDMSG.unpack_from(body)[1] == 7 for _, _, body in reqs)


def test_requests_for_missing_device() -> None:
    with pytest.raises(MissingDevice):
        requests_for(Change(Action.CREATE, FDB.key, None, FDB, Reason.NOT_IN_KERNEL), {})


def _error(err: int, flags: int, extack: str = "") -> Message:
    orig = HDR.pack(16, 16, 5, 3, 0)
    body = struct.pack("=i", -err) + orig + (attr_str(1, extack) if extack else b"")
    return next(split_msgs(pack_msg(NLMSG_ERROR, flags, 3, body)))


@pytest.mark.parametrize(("msg", "expected"), [
    (_error(0, NLM_F_CAPPED), (0, "")),
    (_error(errno.EEXIST, NLM_F_CAPPED), (errno.EEXIST, "")),
    (_error(errno.EINVAL, NLM_F_CAPPED | NLM_F_ACK_TLVS, "MTU too big"), (errno.EINVAL, "MTU too big")),
])
def test_parse_error(msg: Message, expected: tuple[int, str]) -> None:
    assert parse_error(msg) == expected


VX = Vxlan("ovx4096", "0e:00:00:00:0a:01", 4096, IPv4Address("10.0.0.1"), 4790, 1450, "ovb1", "overlayc:c:n")


@pytest.mark.parametrize(("obj", "code", "extack", "expected"), [
    (VX, errno.EEXIST, "", "vxlan ovx4096: create: the kernel refused: device exists and is not overlayc's"),
    (VX, errno.EPERM, "", "vxlan ovx4096: create: the kernel refused: needs CAP_NET_ADMIN"),
    (VX, errno.EADDRINUSE, "", "VNI 4096 on UDP port 4790 is already bound by another vxlan device"),
    (FDB, errno.ENOENT, "", "fdb 02:42:0a:01:00:06 dst 10.0.0.2 on ovx1: create: the kernel refused: "
                            "it does not exist"),
    (NEIGH, errno.EINVAL, "bad thing", "rejected the request as invalid (kernel says: bad thing)"),
])
def test_explain(obj: Fdb | Neigh | Vxlan, code: int, extack: str, expected: str) -> None:
    assert expected in explain(obj, "create", code, extack)


def test_entry_dump_decoders_keep_exactly_overlaycs_entries() -> None:
    """fdb_keys / neigh_macs: permanent `self` fdb entries with a dst (IPv4 or IPv6, node or
    sandbox layout) and permanent neighbours of the given devices; nothing else."""
    mac, other = bytes.fromhex("02420a010006"), bytes.fromhex("02420a010007")
    v4, v6 = IPv4Address("10.0.0.2"), IPv6Address("fd00::2")
    sandboxed = (nn.NDMSG.pack(nn.AF_BRIDGE, 7, nn.FDB_STATE, nn.NTF_SELF, 0)
                 + attr(nn.NDA_LINK_NETNSID, b"\0" * 4) + attr(nn.NDA_LLADDR, other)
                 + attr(nn.NDA_DST, v4.packed))
    learned = nn.NDMSG.pack(nn.AF_BRIDGE, 7, 0x02, nn.NTF_SELF, 0) + attr(nn.NDA_LLADDR, b"\1" * 6) + attr(
        nn.NDA_DST, v4.packed)
    master = nn.NDMSG.pack(nn.AF_BRIDGE, 7, nn.NUD_PERMANENT, 0, 0) + attr(nn.NDA_LLADDR, b"\2" * 6)
    fdb = _dump([(7, nn.encode_fdb(7, MAC, v4)), (7, nn.encode_fdb(7, MAC, v6)),
                 (8, nn.encode_fdb(8, MAC, v4)), (7, sandboxed), (7, learned), (7, master)])
    sets: dict[int, set[bytes]] = {7: set()}
    fdb_keys(fdb, sets)
    assert sets == {7: {mac + v4.packed, mac + v6.packed, other + v4.packed}}
    reversed_attrs = nn.NDMSG.pack(nn.AF_INET, 7, nn.NUD_PERMANENT, 0, 0) + attr(nn.NDA_LLADDR, other) + attr(
        nn.NDA_DST, bytes([10, 1, 0, 7]))
    stale = nn.NDMSG.pack(nn.AF_INET, 7, 0x04, 0, 0) + attr(nn.NDA_DST, bytes([10, 1, 0, 8])) + attr(
        nn.NDA_LLADDR, other)
    neigh = _dump([(7, nn.encode_neigh(7, IPv4Address("10.1.0.6"), MAC)), (7, reversed_attrs), (7, stale),
                   (8, nn.encode_neigh(8, IPv4Address("10.1.0.9"), MAC))])
    tables: dict[int, dict[bytes, bytes]] = {7: {}}
    neigh_macs(neigh, tables)
    assert tables == {7: {bytes([10, 1, 0, 6]): mac, bytes([10, 1, 0, 7]): other}}
