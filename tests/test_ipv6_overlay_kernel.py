"""Dual-stack and IPv6-only overlays over an IPv6 underlay on this host's kernel (docs/ipv6.md).

Three nodes reach each other over IPv6 (2001:db8::/64 on the lab bridge). Network `dual` has an
IPv4 and an IPv6 subnet, network `six` an IPv6 subnet only; a global service puts one endpoint on
each node in both. What an operator checks: the endpoints hold their addresses (IPv6 usable at
once: `nodad`), the sandboxes have IPv6 on and permanent NDP entries for the remote endpoints
(read back with overlayc's observer and with `ip -j`), every endpoint reaches every other by ping,
ping -6 and HTTP over both families, the underlay carries no inner ARP and no NS/NA (the vxlan
devices answer them from the permanent entries: `proxy` covers NDP too), a second apply changes
nothing, and destroy leaves nothing.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest

from lab.sniff import Capture
from lab.sniff6 import read_pcap6, sniff_stats6
from overlayc.compile.assign import Attachment
from overlayc.kernel.objects import Endpoint, Neigh, Sandbox
from overlayc.observe.kernel import observe
from tests.support.builders import assign_loaded
from tests.support.cluster import apply_cli, overlayc_cli, reapplied_status, sandbox, write_config
from tests.support.counters import netns_list
from tests.support.host import ip_json
from tests.support.traffic import unreachable
from tests.support.traffic6 import dual_stack_server, unreachable6, url

pytestmark = pytest.mark.kernel

NODES = ["node1", "node2", "node3"]
UNDERLAY = "2001:db8::/64"


def _config(lab: Any, where: Path) -> Path:
    return write_config(where / "overlay.yaml", {
        "version": 1, "cluster": {"name": lab.tag, "id": f"{lab.tag}-cluster-id"},
        "nodes": {n: {"address": str(lab.address(n))} for n in NODES},
        "networks": {"dual": {"subnets": ["10.0.9.0/24", "fd00:9::/64"]}, "six": {"subnet": "fd00:a::/64"}},
        "services": {"web": {"mode": "global", "networks": ["dual", "six"]}},
    })


def _attachments(cfg: Path) -> dict[str, list[Attachment]]:
    from overlayc.config.load import load_config

    return {net: list(atts) for net, atts in assign_loaded(load_config([cfg])).attachments.items()}


def _netns(lab: Any, a: Attachment) -> str:
    return f"{lab.tag}-{a.endpoint}"


def _pairs(lab: Any, atts: list[Attachment], family: int) -> list[tuple[str, Any]]:
    return [(_netns(lab, a), b.ip if family == 4 else b.ip6) for a in atts for b in atts if a is not b]


def _check_node(lab: Any, node: str, atts: dict[str, list[Attachment]]) -> None:
    """What `node` holds: IPv6 on in both sandboxes, an NDP entry per remote endpoint (and ARP
    entries on `dual` only), the local endpoint's addresses, not tentative."""
    owned = observe(lab.netns(node), lab.tag).owned
    assert {o.name: o.ipv6 for o in owned if isinstance(o, Sandbox)} == {
        sandbox(lab, node, "dual"): True, sandbox(lab, node, "six"): True}
    remote = {(str(a.ip6), a.mac) for net in ("dual", "six") for a in atts[net] if a.node != node}
    remote |= {(str(a.ip), a.mac) for a in atts["dual"] if a.node != node}
    assert {(str(o.dst), o.lladdr) for o in owned if isinstance(o, Neigh)} == remote
    for net in ("dual", "six"):
        entries = ip_json(sandbox(lab, node, net), "-6", "neigh", "show")
        six = [n for n in entries if "PERMANENT" in n["state"]]
        assert {(n["dst"], n["lladdr"]) for n in six} == {
            (str(a.ip6), a.mac) for a in atts[net] if a.node != node}, six
    mine = {a.network: a for net in atts.values() for a in net if a.node == node}
    eps = {o.mac: o for o in owned if isinstance(o, Endpoint)}
    assert eps[mine["six"].mac].address is None and eps[mine["six"].mac].mac.startswith("06:")
    for a in mine.values():
        addrs = ip_json(_netns(lab, a), "-6", "addr", "show", "scope", "global")
        held = {(i["local"], "tentative" in i) for link in addrs for i in link["addr_info"] if "local" in i}
        assert (str(a.ip6), False) in held, addrs


def test_dual_stack_and_ipv6_only_overlays_over_an_ipv6_underlay(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(NODES, subnet=UNDERLAY, prefix="oc15b-")
    cfg = _config(lab, tmp_path / "cfg")
    for node in NODES:
        res = apply_cli(cfg, lab, node)
        assert res.returncode == 0, f"apply {node}: {res.stdout}\n{res.stderr}"
    atts = _attachments(cfg)
    assert sorted(a.node for a in atts["dual"]) == NODES and all(a.ip is None for a in atts["six"])
    for node in NODES:
        _check_node(lab, node, atts)

    pcap = tmp_path / "underlay.pcap"
    pairs4, pairs6 = _pairs(lab, atts["dual"], 4), _pairs(lab, atts["dual"], 6) + _pairs(lab, atts["six"], 6)
    with Capture(lab.underlay, "br0", pcap):
        assert unreachable(pairs4, count=2) == []
        assert unreachable6(pairs6, count=2) == []
    stats = sniff_stats6(read_pcap6(pcap), b"", plain_port=4789, encrypted_port=4800)
    # every echo and reply crossed as VXLAN over UDP/IPv6; ARP and neighbour discovery were
    # answered by the vxlan devices (`proxy` + the permanent entries) and never left the node
    assert stats.inner.get("ipv4", 0) >= 2 * 2 * len(pairs4), stats
    assert stats.inner.get("icmpv6", 0) >= 2 * 2 * len(pairs6), stats
    assert {k: stats.inner.get(k, 0) for k in ("arp", "ns", "na")} == {"arp": 0, "ns": 0, "na": 0}, stats

    _http_over_both_families(lab, atts, tmp_path)

    doc = reapplied_status(cfg, lab, NODES)  # a second apply is a no-op; status is healthy
    assert {(n["name"], n["neigh"]["live"]) for n in doc["networks"]} == {("dual", 4), ("six", 2)}
    for node in NODES:
        res = overlayc_cli(cfg, "destroy", "--netns", lab.netns(node), "--yes")
        assert res.returncode == 0, res.stdout + res.stderr
        assert len(observe(lab.netns(node), None).owned) == 0
    assert [ns for ns in netns_list() if ns.startswith(f"{lab.tag}-") and ns not in
            {lab.netns(n) for n in NODES}] == []


def _http_over_both_families(lab: Any, atts: dict[str, list[Attachment]], tmp_path: Path) -> None:
    """Each endpoint GETs every other's marker over IPv4 and IPv6 on `dual` and IPv6 on `six`."""
    from tests.support.traffic import http_get

    servers = {_netns(lab, a): dual_stack_server(_netns(lab, a), tmp_path / "www" / a.endpoint,
                                                    f"marker-{lab.tag}-{a.endpoint}")
               for a in atts["dual"]}
    try:
        for server in servers.values():
            server.wait_ready()
        for net, families in (("dual", (4, 6)), ("six", (6,))):
            for src in atts[net]:
                for dst in atts[net]:
                    for family in families if src is not dst else ():
                        address: IPv4Address | IPv6Address | None = dst.ip if family == 4 else dst.ip6
                        assert address is not None
                        body = http_get(_netns(lab, src), url(address))
                        assert body.strip() == servers[_netns(lab, dst)].marker, (src, dst, body)
    finally:
        for server in servers.values():
            server.stop()


def test_an_ipv6_subnet_added_to_a_running_network_and_removed(lab_factory: Any, tmp_path: Path) -> None:
    """Adding an IPv6 subnet to a running IPv4 network updates it in place: every IPv4 address
    and MAC stays (pinned), the endpoints get their IPv6 addresses and reach each other over
    IPv6; removing it again takes IPv6 off and leaves IPv4 working. Each step ends in a no-op."""
    nodes = NODES[:2]
    lab = lab_factory(nodes, subnet=UNDERLAY, prefix="oc15b-")
    where = tmp_path / "cfg"

    def step(subnets: list[str]) -> dict[str, Attachment]:
        cfg = write_config(where / "overlay.yaml", {
            "version": 1, "cluster": {"name": lab.tag, "id": f"{lab.tag}-cluster-id"},
            "nodes": {n: {"address": str(lab.address(n))} for n in nodes},
            "networks": {"n": {"subnets": subnets}},
            "services": {"web": {"mode": "global", "networks": ["n"]}}})
        for expected in ("", "No changes"):
            for node in nodes:
                res = apply_cli(cfg, lab, node)
                assert res.returncode == 0 and expected in res.stdout, f"{node}: {res.stdout}\n{res.stderr}"
        return {a.endpoint: a for a in _attachments(cfg)["n"]}

    before = step(["10.0.9.0/24"])
    dual = step(["10.0.9.0/24", "fd00:9::/64"])
    assert {e: (a.ip, a.mac) for e, a in dual.items()} == {e: (a.ip, a.mac) for e, a in before.items()}
    atts = list(dual.values())
    assert unreachable(_pairs(lab, atts, 4)) == [] and unreachable6(_pairs(lab, atts, 6)) == []
    after = step(["10.0.9.0/24"])
    assert {e: (a.ip, a.mac, a.ip6) for e, a in after.items()} == {
        e: (a.ip, a.mac, None) for e, a in dual.items()}
    assert unreachable(_pairs(lab, list(after.values()), 4)) == []
    for a in after.values():
        assert ip_json(_netns(lab, a), "-6", "addr", "show", "dev", "eth0") == [], "IPv6 is off again"
    for node in nodes:
        res = overlayc_cli(where / "overlay.yaml", "destroy", "--netns", lab.netns(node), "--yes")
        assert res.returncode == 0, res.stdout + res.stderr
