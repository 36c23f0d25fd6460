"""ESP in the kernel, without overlayc: proves the esp test path (host with ESP, or the ESP lab).

These are the kernel facts overlayc's IPsec relies on (DESIGN.md §4): an SA with
rfc4106(gcm(aes)), a 128-bit ICV, ESN and a 128-packet replay window is accepted and reads back
as such; VXLAN on its own port between two nodes is carried only as ESP under per-peer policies
plus catch-all blocks, and stops (fail closed) when the peer's SAs are gone.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lab.sniff import Capture
from tests.support.host import run_in

pytestmark = [pytest.mark.esp, pytest.mark.kernel]

KEY_AB = "0x0123456789abcdef0123456789abcdef01234567"  # 16 B AES-128 key + 4 B salt
KEY_BA = "0x76543210fedcba9876543210fedcba9876543210"
PORT = "4800"  # the encrypted networks' own VXLAN port
AEAD = "rfc4106(gcm(aes))"


def add_sa(ns: str, src: str, dst: str, spi: str, key: str) -> None:
    """An overlayc-shaped ESP transport SA: GCM, ICV 128, ESN, replay window 128."""
    run_in(ns, "ip", "xfrm", "state", "add", "src", src, "dst", dst, "proto", "esp", "spi", spi,
           "reqid", "42", "mode", "transport", "replay-window", "128", "flag", "esn",
           "aead", AEAD, key, "128")  # fmt: skip


def sa_packets(ns: str) -> int:
    """Sum of the packet counters of the namespace's SAs (`ip -s xfrm state`)."""
    out = run_in(ns, "ip", "-s", "xfrm", "state").stdout
    return sum(int(n) for n in re.findall(r"(\d+)\(packets\)", out))


def xfrm_stat(ns: str) -> dict[str, int]:
    """/proc/net/xfrm_stat of the namespace."""
    out = run_in(ns, "cat", "/proc/net/xfrm_stat").stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines() if line.strip())}


def test_sa_with_gcm_icv128_esn_reads_back(netns: str) -> None:
    add_sa(netns, "192.0.2.1", "192.0.2.2", "0x1001", KEY_AB)
    out = run_in(netns, "ip", "xfrm", "state", "get", "src", "192.0.2.1", "dst", "192.0.2.2",
                 "proto", "esp", "spi", "0x1001").stdout  # fmt: skip
    aead = re.search(r"aead (\S+) (0x[0-9a-f]+) (\d+)", out)
    assert aead is not None, out
    assert aead.groups() == (AEAD, KEY_AB, "128")
    assert re.search(r"proto esp spi 0x00001001 reqid 42 mode transport", out), out
    assert re.search(r"flag esn", out), out
    assert re.search(r"anti-replay esn context", out) and re.search(r"replay_window 128\b", out), out


def vxlan(lab: Any, node: str, peer: str, mac: str, peer_mac: str, ovl: str, peer_ovl: str) -> None:
    """vx42 on the encrypted port, nolearning, static fdb + neighbour towards the peer."""
    local, remote = str(lab.address(node)), str(lab.address(peer))
    for cmd in (
        ["ip", "link", "add", "vx42", "type", "vxlan", "id", "42", "local", local, "dstport", PORT,
         "nolearning", "dev", lab.underlay_dev],
        ["ip", "link", "set", "vx42", "address", mac, "mtu", "1400"],
        ["ip", "addr", "add", f"{ovl}/24", "dev", "vx42"],
        ["ip", "link", "set", "vx42", "up"],
        ["bridge", "fdb", "append", peer_mac, "dev", "vx42", "dst", remote, "self", "permanent"],
        ["ip", "neigh", "add", peer_ovl, "lladdr", peer_mac, "dev", "vx42", "nud", "permanent"],
    ):  # fmt: skip
        lab.exec(node, *cmd)


def ipsec(lab: Any, node: str, peer: str, spi_out: str, key_out: str, spi_in: str, key_in: str) -> None:
    """SAs both ways, per-peer policies (priority 100) and catch-all blocks (200) on PORT."""
    s, p = str(lab.address(node)), str(lab.address(peer))
    ns = lab.netns(node)
    add_sa(ns, s, p, spi_out, key_out)
    add_sa(ns, p, s, spi_in, key_in)
    for d, src, dst in (("out", s, p), ("in", p, s)):
        lab.exec(node, "ip", "xfrm", "policy", "add", "src", f"{src}/32", "dst", f"{dst}/32", "proto", "udp",
                 "dport", PORT, "dir", d, "priority", "100", "tmpl", "src", src, "dst", dst,
                 "proto", "esp", "reqid", "42", "mode", "transport")  # fmt: skip
        lab.exec(node, "ip", "xfrm", "policy", "add", "src", "0.0.0.0/0", "dst", "0.0.0.0/0", "proto", "udp",
                 "dport", PORT, "dir", d, "priority", "200", "action", "block")  # fmt: skip


def tcpdump_lines(pcap: Path, bpf: str = "") -> list[str]:
    """tcpdump's reading of a capture, filtered by `bpf`: one line per packet."""
    out = subprocess.run(["tcpdump", "-nn", "-r", str(pcap), *bpf.split()],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return out.splitlines()


@pytest.mark.slow
def test_vxlan_over_esp_between_two_nodes(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(["a", "b"])
    vxlan(lab, "a", "b", "02:42:c6:33:64:01", "02:42:c6:33:64:02", "198.51.100.1", "198.51.100.2")
    vxlan(lab, "b", "a", "02:42:c6:33:64:02", "02:42:c6:33:64:01", "198.51.100.2", "198.51.100.1")
    assert lab.ping("a", lab.address("b")), "underlay does not work"
    ipsec(lab, "a", "b", "0x1001", KEY_AB, "0x2002", KEY_BA)
    ipsec(lab, "b", "a", "0x2002", KEY_BA, "0x1001", KEY_AB)
    before = sa_packets(lab.netns("a"))

    pcap = tmp_path / "esp.pcap"
    capture = Capture(lab.underlay, "br0", pcap) if shutil.which("tcpdump") else None
    with capture or contextlib.nullcontext():
        assert lab.ping("a", "198.51.100.2", count=3), "overlay ping over ESP failed"
    assert sa_packets(lab.netns("a")) >= before + 6, "SA counters did not count the pings"
    if capture:
        assert len(tcpdump_lines(pcap, "esp")) >= 6, tcpdump_lines(pcap)
        assert tcpdump_lines(pcap, f"udp port {PORT}") == [], "cleartext VXLAN on the underlay"
        assert not [line for line in tcpdump_lines(pcap) if "ICMP echo" in line], "inner ICMP visible"

    # fail closed: without b's SAs the pings stop; b counts ESP it cannot match to a state
    lab.exec("b", "ip", "xfrm", "state", "flush")
    assert not lab.ping("a", "198.51.100.2", count=2, wait=1.0), "overlay still works without b's SAs"
    assert xfrm_stat(lab.netns("b"))["XfrmInNoStates"] > 0
