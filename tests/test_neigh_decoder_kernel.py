"""observe's FDB/neighbour dump decoders (`entrydump.fdb_keys`, `neigh_macs`) against the
general decoder (`parse_neigh_dump`) filtered by what overlayc writes, on the same kernel state:
every dump buffer gives the same entries, including those it does not take the fast path for
(IPv6 neighbours, fdb entries without dst, entries the kernel learned or made itself)."""

from __future__ import annotations

import subprocess

import pytest

from overlayc.netlink import entrydump
from overlayc.netlink import neigh as nn
from overlayc.netlink.netns import Namespace
from overlayc.observe.kernel import read_links
from tests.support.kernel import sh

pytestmark = pytest.mark.kernel


def _fill(ns: str, count: int) -> None:
    sh(ns, "ip link add ovx1 type vxlan id 4096 local 10.0.0.1 dstport 4790 nolearning proxy")
    sh(ns, "ip link add ovx2 type vxlan id 4097 local 10.0.0.1 dstport 4791 nolearning")
    sh(ns, "ip link set ovx1 up")
    sh(ns, "ip link set ovx2 up")
    macs = [f"02:42:0a:01:{i >> 8:02x}:{i & 255:02x}" for i in range(count)]
    fdb = "".join(f"fdb append {mac} dev ovx1 dst 10.0.{i % 3}.2 self permanent\n"
                  for i, mac in enumerate(macs))
    neigh = "".join(f"neigh replace 10.1.{i >> 8}.{i & 255} lladdr {mac} dev ovx1 nud permanent\n"
                    for i, mac in enumerate(macs))
    subprocess.run(["bridge", "-n", ns, "-batch", "-"], input=fdb, text=True, check=True)
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input=neigh, text=True, check=True)
    sh(ns, "bridge fdb append 00:00:00:00:00:00 dev ovx2 dst 10.0.0.9 self permanent")
    sh(ns, "ip -6 neigh replace fd00::6 lladdr 02:42:0a:01:00:06 dev ovx1 nud permanent")
    sh(ns, "ip neigh replace 10.9.0.1 lladdr 02:42:0a:09:00:01 dev ovx2 nud stale")  # not permanent


def _buffers(ns: str, family: int) -> tuple[list[bytes], set[int]]:
    with Namespace(ns) as handle:
        links, _ = read_links(handle.route)
        bufs = [bytes(b) for b in handle.route.dump_raw(nn.RTM_GETNEIGH, nn.encode_dump(family))]
    return bufs, set(links)


Tables = dict[int, set[bytes]] | dict[int, dict[bytes, bytes]]


def _decode(bufs: list[bytes], devices: set[int], family: int) -> Tables:
    """What observe keeps of the dump buffers: fdb keys per device, or neighbours per device."""
    if family == nn.AF_BRIDGE:
        sets: dict[int, set[bytes]] = {i: set() for i in devices}
        for buf in bufs:
            entrydump.fdb_keys(buf, sets)
        return sets
    tables: dict[int, dict[bytes, bytes]] = {i: {} for i in devices}
    for buf in bufs:
        entrydump.neigh_macs(buf, tables)
    return tables


def _reference(bufs: list[bytes], devices: set[int], family: int) -> Tables:
    """The same, from the general decoder and the contract of fdb_keys / neigh_macs."""
    entries = [e for buf in bufs for e in nn.parse_neigh_dump(buf, devices)]
    ours = [(i, dst, mac) for i, state, flags, dst, mac in entries
            if state & nn.NUD_PERMANENT and len(dst) in (4, 16) and len(mac) == 6
            and (family != nn.AF_BRIDGE or flags & nn.NTF_SELF)]
    if family == nn.AF_BRIDGE:
        return {i: {mac + dst for j, dst, mac in ours if j == i} for i in devices}
    return {i: {dst: mac for j, dst, mac in ours if j == i} for i in devices}


@pytest.mark.parametrize("family", [nn.AF_BRIDGE, nn.AF_INET, 10])  # 10: AF_INET6
def test_observes_decoders_agree_with_the_general_one(netns: str, family: int) -> None:
    _fill(netns, 600)
    bufs, devices = _buffers(netns, family)
    expected = _reference(bufs, devices, family)
    assert sum(len(t) for t in expected.values()) >= (601 if family == nn.AF_BRIDGE else 1)
    if family == 10:
        assert any(len(dst) == 16 for t in expected.values() for dst in t)  # IPv6 kept whole
    general_calls: list[int] = []
    real = nn.parse_neigh_dump

    def counted(buf: bytes, ifindexes: object) -> object:
        general_calls.append(1)
        return real(buf, ifindexes)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(entrydump, "parse_neigh_dump", counted)
        assert _decode(bufs, devices, family) == expected
    if family != 10:  # the kernel's own layout: all but the few odd entries take the fast path
        assert len(general_calls) <= 5
    some = {next(iter(devices))}
    assert _decode(bufs, some, family) == _reference(bufs, some, family)


def test_observes_decoders_fall_back_for_other_layouts() -> None:
    """A message whose first attributes are not the kernel's usual pair is decoded generally."""
    body = nn.NDMSG.pack(nn.AF_INET, 7, nn.NUD_PERMANENT, nn.NTF_SELF, 0)
    lladdr = bytes([10, 0, nn.NDA_LLADDR, 0]) + b"\1" * 6 + b"\0\0"
    dst = bytes([8, 0, nn.NDA_DST, 0]) + bytes([10, 1, 0, 6])
    for attrs in (lladdr + dst, dst + lladdr, dst, lladdr):  # reversed, alone, short
        msg = body + attrs
        buf = (16 + len(msg)).to_bytes(4, "little") + nn.RTM_NEWNEIGH.to_bytes(2, "little") + bytes(10) + msg
        for family in (nn.AF_INET, nn.AF_BRIDGE):
            assert _decode([buf], {7}, family) == _reference([buf], {7}, family)
        assert _decode([buf], {8}, nn.AF_INET) == {8: {}}
