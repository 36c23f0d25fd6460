"""The seed scenario over an IPv6 underlay on this host's kernel (plain: it cannot install ESP SAs).

Three nodes reach each other over IPv6 only (2001:db8::/64 on the lab bridge); the overlays keep
their IPv4 subnets. What an operator checks: VXLAN devices and FDB entries are IPv6 (read back
with overlayc's observer and with `ip -j` / `bridge -j`), every endpoint reaches every other by
ping and HTTP, the underlay carries no inner ARP or neighbour discovery (answered locally from
the permanent entries), a second apply changes nothing, and destroy leaves nothing.
"""

from __future__ import annotations

from ipaddress import IPv6Address
from pathlib import Path
from typing import Any

import pytest

from lab.sniff import Capture
from lab.sniff6 import read_pcap6, sniff_stats6
from overlayc.kernel.objects import Fdb, Vxlan
from overlayc.observe.kernel import observe
from tests.support.cluster import (
    SEED_IPV6,
    apply_cli,
    matrix,
    members,
    overlayc_cli,
    reapplied_status,
    seed_workdir,
)
from tests.support.counters import netns_list
from tests.support.host import ip_json
from tests.support.traffic import HTTP_PORT, HttpServer, http_get, unreachable

pytestmark = pytest.mark.kernel

NODES = ["node1", "node2", "node3"]
UNDERLAY = "2001:db8::/64"


def _vxlans(lab: Any, node: str) -> dict[str, dict[str, Any]]:
    return {ln["ifname"]: ln for ln in ip_json(lab.netns(node), "-d", "link", "show", "type", "vxlan")}


def test_seed_over_ipv6_underlay_reaches_every_endpoint_without_arp_on_the_wire(
    lab_factory: Any, tmp_path: Path
) -> None:
    lab = lab_factory(NODES, subnet=UNDERLAY)
    assert lab.address("node1") == IPv6Address("2001:db8::1")
    cfg = seed_workdir(lab, tmp_path / "seed6", encrypted=False, example=SEED_IPV6)
    for node in NODES:
        res = apply_cli(cfg, lab, node)
        assert res.returncode == 0, f"apply {node}: {res.stdout}\n{res.stderr}"

    # the kernel holds IPv6 VTEPs, checksums on, MTU 1500 - 70 (overlayc's view and iproute2's)
    for node, peer in (("node1", "node2"), ("node2", "node1")):
        owned = observe(lab.netns(node), lab.tag).owned
        vx = [o for o in owned if isinstance(o, Vxlan)]
        assert {(v.name, v.local, v.mtu, v.udp6zerocsumtx, v.udp6zerocsumrx) for v in vx} == {
            (name, lab.address(node), 1430, False, False) for name in ("ovx4096", "ovx4097")}
        assert {o.dst for o in owned if isinstance(o, Fdb)} == {lab.address(peer)}
        for name, link in _vxlans(lab, node).items():
            data = link["linkinfo"]["info_data"]
            assert (data["local6"], data["port"], link["mtu"]) == (str(lab.address(node)), 4789, 1430), name
            assert data["udp_zero_csum6_tx"] is False and data["udp_zero_csum6_rx"] is False, data
            fdb = ip_json(lab.netns(node), "bridge", "fdb", "show", "dev", name)
            assert {e["dst"] for e in fdb if "dst" in e} == {str(lab.address(peer))}, fdb

    groups = members(cfg)
    pcap = tmp_path / "underlay.pcap"
    with Capture(lab.underlay, "br0", pcap):
        assert unreachable(matrix(groups), count=2) == []
    stats = sniff_stats6(read_pcap6(pcap), b"", plain_port=4789, encrypted_port=4800)
    # every echo and reply crossed as VXLAN over UDP/IPv6; ARP was answered by the vxlan devices
    # (`proxy` + the permanent neighbour entries) and never left the node
    assert stats.inner.get("ipv4", 0) >= 2 * 2 * len(matrix(groups)), stats
    assert {k: stats.inner.get(k, 0) for k in ("arp", "ns", "na")} == {"arp": 0, "ns": 0, "na": 0}, stats

    servers = {m.netns: HttpServer(m.netns, tmp_path / "www" / m.endpoint, f"marker-{lab.tag}-{m.endpoint}")
               for m in groups["insecure"]}
    try:
        for server in servers.values():
            server.wait_ready()
        for ms in groups.values():
            for src in ms:
                for dst in ms:
                    if src is not dst:
                        body = http_get(src.netns, f"http://{dst.ip}:{HTTP_PORT}/marker.txt")
                        assert body.strip() == servers[dst.netns].marker, (src, dst, body)
    finally:
        for server in servers.values():
            server.stop()

    doc = reapplied_status(cfg, lab, NODES)  # a second apply is a no-op; status is healthy
    assert {(n["name"], n["mtu"]["live"], n["fdb"]["live"]) for n in doc["networks"]} == {
        ("insecure", 1430, 1), ("secure", 1430, 1)}

    for node in NODES:
        res = overlayc_cli(cfg, "destroy", "--netns", lab.netns(node), "--yes")
        assert res.returncode == 0, res.stdout + res.stderr
        assert len(observe(lab.netns(node), None).owned) == 0
        assert ip_json(lab.netns(node), "-d", "link", "show", "type", "vxlan") == []
    assert [ns for ns in netns_list() if ns.startswith(f"{lab.tag}-") and ns not in
            {lab.netns(n) for n in NODES}] == []
