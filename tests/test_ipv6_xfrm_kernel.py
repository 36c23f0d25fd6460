"""Fail-closed encryption over an IPv6 underlay, on this host's kernel (it has XFRM policies but
no ESP: the SAs are left out, which is the "missing SA" case of reference/xfrm-enforcement.md).

node1 of the IPv6 seed holds its compiled devices, endpoints and XFRM policies (IPv6 selectors,
read back by observe and by `ip -j xfrm policy`); nodes 2 and 3 hold nothing, so they send in
clear what a peer without policies (node2) and a non-peer (node3) would. Proven, with node1's
/proc/net/xfrm_stat and a capture of the underlay:
- out: the encrypted network's traffic to the peer never leaves (no SA: XfrmOutNoStates, no
  UDP to the encrypted port on the wire); UDP to the port for a non-peer is blocked (XfrmOutPolBlock);
- in: cleartext VXLAN on the encrypted port from the peer is dropped (XfrmInTmplMismatch), from a
  non-peer too (XfrmInPolBlock); the same frames on the plain port are delivered (control);
- the IPv6 fail-open sysctls (`net.ipv6.conf.{all,eth0}.disable_policy`) exist here, refuse, and
  (each of them set to 1) really let cleartext in: why they are checked.
"""

from __future__ import annotations

import socket
import struct
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lab.netns import in_netns
from lab.probe import checksum
from lab.sniff import Capture
from lab.sniff6 import read_pcap6, sniff_stats6
from overlayc.apply.kernel import KernelHandle
from overlayc.apply.session import check_fail_closed
from overlayc.compile import compile_node
from overlayc.config.load import load_config
from overlayc.diff import Action, Change, Reason
from overlayc.errors import EnvironmentProblem
from overlayc.inputs import prepare_target
from overlayc.kernel.objects import KernelObject, XfrmPolicy, XfrmState
from overlayc.kernel.state import KernelState
from overlayc.kernel.xfrm_marks import marks_of
from overlayc.netlink.netns import namespace_id
from overlayc.observe.kernel import observe
from overlayc.plan import order
from tests.support.builders import assign_loaded
from tests.support.cluster import SEED_IPV6, key_file, members, seed_workdir
from tests.support.counters import link_stat, xfrm_stat
from tests.support.host import holding, run_in
from tests.support.traffic import ping

pytestmark = pytest.mark.kernel

NODES = ["node1", "node2", "node3"]
PLAIN_PORT, ENCRYPTED_PORT = 4789, 4800
MARKER = b"p15-cleartext-marker"


def _inner_echo(src_mac: str, dst_mac: str, src: str, dst: str, seq: int) -> bytes:
    """Inner Ethernet/IPv4/ICMP echo request carrying MARKER."""
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x1515, seq) + MARKER
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0x4000, 64, 1, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    macs = bytes.fromhex(dst_mac.replace(":", "") + src_mac.replace(":", ""))
    return macs + b"\x08\x00" + ip + icmp


def _send_udp6(dst: str, port: int, payloads: list[bytes]) -> int:
    """Send each payload to [dst]:port from the calling thread's namespace; how many the kernel
    took (a send refused by an XFRM block policy raises EPERM)."""
    sent = 0
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        for p in payloads:
            try:
                s.sendto(p, (dst, port))
                sent += 1
            except PermissionError:
                pass
    return sent


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


@pytest.fixture
def node1(lab_factory: Any, tmp_path: Path) -> tuple[Any, Path, KernelState]:
    """The lab, the config, and node1's compiled state without SAs, applied to node1."""
    lab = lab_factory(NODES, subnet="2001:db8::/64")
    cfg = seed_workdir(lab, tmp_path / "seed6", example=SEED_IPV6)
    loaded = load_config([cfg])
    desired = compile_node(loaded.config, assign_loaded(loaded), "node1", at=datetime.now(UTC),
                           private_key=None, owner=namespace_id(lab.netns("node1")))
    objs: list[KernelObject] = [o for o in desired if not isinstance(o, XfrmState)]
    with KernelHandle(lab.netns("node1")) as h:
        h.execute(order(Change(Action.CREATE, o.key, None, o, Reason.NOT_IN_KERNEL) for o in objs))
    return lab, cfg, KernelState(objs)


def test_ipv6_policies_are_installed_as_compiled(node1: tuple[Any, Path, KernelState]) -> None:
    lab, cfg, state = node1
    marks = marks_of(load_config([cfg]).config.cluster.name)
    peer, block = marks.peer_priority(4800), marks.block_priority(4800)
    want = [o for o in state if isinstance(o, XfrmPolicy)]
    assert {str(p.src) for p in want} == {"2001:db8::1/128", "2001:db8::2/128", "::/0"}
    got = [o for o in observe(lab.netns("node1"), lab.tag).owned if isinstance(o, XfrmPolicy)]
    assert sorted(got, key=lambda p: p.key) == sorted(want, key=lambda p: p.key)
    shown = run_in(lab.netns("node1"), "ip", "xfrm", "policy").stdout  # iproute2 has no JSON here
    for line in (f"src 2001:db8::1/128 dst 2001:db8::2/128 proto udp dport 4800 \n\tdir out priority {peer}",
                 f"src 2001:db8::2/128 dst 2001:db8::1/128 proto udp dport 4800 \n\tdir in priority {peer}",
                 f"src ::/0 dst ::/0 proto udp dport 4800 \n\tdir out action block priority {block}",
                 f"src ::/0 dst ::/0 proto udp dport 4800 \n\tdir in action block priority {block}",
                 f"tmpl src 2001:db8::1 dst 2001:db8::2\n\t\tproto esp reqid {marks.reqid} mode transport"):
        assert line in shown, shown


def test_nothing_leaves_or_enters_in_clear_on_the_encrypted_port(
    node1: tuple[Any, Path, KernelState], tmp_path: Path
) -> None:
    lab, cfg, _state = node1
    groups = members(cfg)
    probe = next(m for m in groups["secure"] if m.endpoint == "probe")
    web = {net: next(m for m in ms if m.endpoint == "web.1") for net, ms in groups.items()}
    a1, a2, a3 = (str(lab.address(n)) for n in NODES)
    before = xfrm_stat(lab.netns("node1"))
    rx_plain = link_stat(holding(lab.netns("node1"), "ovx4096"), "ovx4096", "rx_packets")
    pcap = tmp_path / "underlay.pcap"
    with Capture(lab.underlay, "br0", pcap):
        assert ping(probe.netns, web["secure"].ip, count=3, wait=1.0) == 0  # no SA: never sent
        assert in_netns(lab.netns("node1"), _send_udp6, a3, ENCRYPTED_PORT, [b"x"] * 3) == 0
        for src_ns, port, vni, net in ((lab.netns("node2"), ENCRYPTED_PORT, 4097, "secure"),
                                       (lab.netns("node3"), ENCRYPTED_PORT, 4097, "secure"),
                                       (lab.netns("node2"), PLAIN_PORT, 4096, "insecure")):
            p = next(m for m in groups[net] if m.endpoint == "probe")
            vx = struct.pack("!B3sI", 0x08, b"\0\0\0", vni << 8)
            frames = [vx + _inner_echo(web[net].mac, p.mac, str(web[net].ip), str(p.ip), seq)
                      for seq in range(3)]
            assert in_netns(src_ns, _send_udp6, a1, port, frames) == 3
    got = _delta(before, xfrm_stat(lab.netns("node1")))
    assert got.get("XfrmOutNoStates", 0) >= 1 and got.get("XfrmOutPolBlock", 0) == 3, got
    assert got.get("XfrmInTmplMismatch") == 3 and got.get("XfrmInPolBlock") == 3, got
    plain_now = link_stat(holding(lab.netns("node1"), "ovx4096"), "ovx4096", "rx_packets")
    assert plain_now - rx_plain == 3  # control: delivered
    stats = sniff_stats6(read_pcap6(pcap), MARKER, PLAIN_PORT, ENCRYPTED_PORT)
    sent_from_node1 = [p for p in read_pcap6(pcap) if p.src == a1 and p.dport == ENCRYPTED_PORT]
    assert sent_from_node1 == [] and stats.udp_encrypted == 6, stats  # only the injected ones
    assert {p.src for p in read_pcap6(pcap) if p.dport == ENCRYPTED_PORT} == {a2, a3}


def test_the_ipv6_fail_open_sysctls_are_checked(node1: tuple[Any, Path, KernelState]) -> None:
    lab, cfg, state = node1
    target = prepare_target(load_config([cfg]), node="node1", netns=lab.netns("node1"),
                            at=datetime.now(UTC), key_file=key_file(cfg, "node1"))
    check_fail_closed(target, state)  # all 0: fine
    for name in ("all", "eth0"):
        lab.exec("node1", "sysctl", "-qw", f"net.ipv6.conf.{name}.disable_policy=1")
        with pytest.raises(EnvironmentProblem, match=rf"net\.ipv6\.conf\.{name}\.disable_policy = 1"):
            check_fail_closed(target, state)
        lab.exec("node1", "sysctl", "-qw", f"net.ipv6.conf.{name}.disable_policy=0")


def _cleartext_delivered(lab: Any, cfg: Path) -> int:
    """Cleartext VXLAN for the encrypted network sent from node2 to node1's encrypted port: how
    many frames node1's vxlan device received (0 while the inbound policy check holds)."""
    groups = members(cfg)
    web, probe = (next(m for m in groups["secure"] if m.endpoint == e) for e in ("web.1", "probe"))
    vx = struct.pack("!B3sI", 0x08, b"\0\0\0", 4097 << 8)
    frames = [vx + _inner_echo(web.mac, probe.mac, str(web.ip), str(probe.ip), seq) for seq in range(3)]
    rx = link_stat(holding(lab.netns("node1"), "ovx4097"), "ovx4097", "rx_packets")
    in_netns(lab.netns("node2"), _send_udp6, str(lab.address("node1")), ENCRYPTED_PORT, frames)
    time.sleep(0.5)
    return link_stat(holding(lab.netns("node1"), "ovx4097"), "ovx4097", "rx_packets") - rx


@pytest.mark.parametrize("conf", ["all", "eth0"])
def test_ipv6_disable_policy_really_opens_the_encrypted_port(
    node1: tuple[Any, Path, KernelState], conf: str
) -> None:
    """Why the IPv6 sysctl is checked: set to 1, it lets cleartext in (measured, not assumed)."""
    lab, cfg, _state = node1
    assert _cleartext_delivered(lab, cfg) == 0
    lab.exec("node1", "sysctl", "-qw", f"net.ipv6.conf.{conf}.disable_policy=1")
    try:
        assert _cleartext_delivered(lab, cfg) == 3
    finally:
        lab.exec("node1", "sysctl", "-qw", f"net.ipv6.conf.{conf}.disable_policy=0")
    assert _cleartext_delivered(lab, cfg) == 0
