"""The fast neighbour/FDB dump decoder (`neigh_entries`) against the general one
(`parse_neigh_dump`) on the same kernel state: every dump buffer decodes to the same entries,
including entries it does not take the fast path for (IPv6 neighbours, fdb entries without dst,
entries the kernel learned or made itself)."""

from __future__ import annotations

import subprocess

import pytest

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


@pytest.mark.parametrize("family", [nn.AF_BRIDGE, nn.AF_INET, 10])  # 10: AF_INET6
def test_fast_decoder_agrees_with_the_general_one(netns: str, family: int) -> None:
    _fill(netns, 600)
    bufs, devices = _buffers(netns, family)
    general = [e for buf in bufs for e in nn.parse_neigh_dump(buf, devices)]
    fast = [e for buf in bufs for e in nn.neigh_entries(buf, devices, family)]
    assert fast == general
    assert len(general) >= (601 if family == nn.AF_BRIDGE else 1)
    if family == 10:
        assert any(len(dst) == 16 for _, _, _, dst, _ in fast)  # IPv6 addresses come back whole
    general_calls: list[int] = []
    real = nn.parse_neigh_dump

    def counted(buf: bytes, ifindexes: set[int]) -> object:
        general_calls.append(1)
        return real(buf, ifindexes)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nn, "parse_neigh_dump", counted)
        assert [e for buf in bufs for e in nn.neigh_entries(buf, devices, family)] == general
    if family != 10:  # the kernel's own layout: all but the few odd entries take the fast path
        assert len(general_calls) <= 5
    some = {next(iter(devices))}
    assert [e for buf in bufs for e in nn.neigh_entries(buf, some, family)] == [
        e for buf in bufs for e in nn.parse_neigh_dump(buf, some)]


def test_fast_decoder_falls_back_for_other_layouts() -> None:
    """A message whose first attributes are not the kernel's usual pair is decoded generally."""
    body = nn.NDMSG.pack(nn.AF_INET, 7, nn.NUD_PERMANENT, 0, 0)
    lladdr = bytes([10, 0, nn.NDA_LLADDR, 0]) + b"\1" * 6 + b"\0\0"
    dst = bytes([8, 0, nn.NDA_DST, 0]) + bytes([10, 1, 0, 6])
    for attrs in (lladdr + dst, dst + lladdr, dst, lladdr):  # reversed, alone, short
        msg = body + attrs
        buf = (16 + len(msg)).to_bytes(4, "little") + nn.RTM_NEWNEIGH.to_bytes(2, "little") + bytes(10) + msg
        assert nn.neigh_entries(buf, {7}, nn.AF_INET) == list(nn.parse_neigh_dump(buf, {7}))
        assert nn.neigh_entries(buf, {7}, nn.AF_BRIDGE) == list(nn.parse_neigh_dump(buf, {7}))
        assert nn.neigh_entries(buf, {8}, nn.AF_INET) == []
