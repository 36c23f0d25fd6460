"""Whole-cluster scenarios on this host's kernel (plain networks only: it cannot install ESP SAs).

Each test builds a multi-node lab (one namespace per node on a shared underlay bridge, cluster named
after the lab's tag), applies every node, and checks what an operator would: every endpoint reaches
every other on the networks they share, and edits of the config change only what they should.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from lab.topology import Lab
from overlayc.files.lock import read_lock
from overlayc.kernel.objects import Fdb, Neigh
from overlayc.observe.kernel import observe
from tests.support.cluster import (
    Member,
    apply_api,
    apply_cli,
    matrix,
    members,
    node_sandboxes,
    sandbox,
    seed_workdir,
    write_config,
)
from tests.support.counters import netns_list
from tests.support.host import ip_json
from tests.support.traffic import HTTP_PORT, HttpServer, http_get, unreachable

pytestmark = pytest.mark.kernel

SEED_NODES = ["node1", "node2", "node3"]


def test_seed_plain_every_endpoint_reaches_every_other_by_ping_and_http(
    lab_factory: Any, tmp_path: Path
) -> None:
    lab = lab_factory(SEED_NODES)
    cfg = seed_workdir(lab, tmp_path / "seed", encrypted=False)
    for node in SEED_NODES:
        res = apply_cli(cfg, lab, node)
        assert res.returncode == 0, f"apply {node}: {res.stdout}\n{res.stderr}"
        # node3 runs no endpoint, so no network is present there: nothing to do
        expect = "No changes" if node == "node3" else "verified against the kernel"
        assert expect in res.stdout, res.stdout
    assert len(observe(lab.netns("node3"), lab.tag).owned) == 0
    groups = members(cfg)
    assert {net: sorted(m.endpoint for m in ms) for net, ms in groups.items()} == {
        "insecure": ["probe", "web.1"], "secure": ["probe", "web.1"]}
    for ms in groups.values():
        for m in ms:  # the endpoint holds its address in its own namespace
            addrs = [a["local"] for link in ip_json(m.netns, "addr", "show") for a in link["addr_info"]]
            assert str(m.ip) in addrs, (m, addrs)
    # `secure` is plain here: its vxlan uses the plain data port and no XFRM object exists;
    # each vxlan is in its network's sandbox, none in the node's namespace
    for node in ("node1", "node2"):
        assert ip_json(lab.netns(node), "-d", "link", "show", "type", "vxlan") == []
        ports = {ln["ifname"]: ln["linkinfo"]["info_data"]["port"]
                 for net in ("insecure", "secure")
                 for ln in ip_json(sandbox(lab, node, net), "-d", "link", "show", "type", "vxlan")}
        assert ports == {"ovx4096": 4789, "ovx4097": 4789}, ports
        assert ip_json(lab.netns(node), "xfrm", "policy", "show") == []

    assert unreachable(matrix(groups)) == []

    servers = {m.netns: HttpServer(m.netns, tmp_path / "www" / m.endpoint, f"marker-{lab.tag}-{m.endpoint}")
               for m in groups["insecure"]}
    try:
        for server in servers.values():
            server.wait_ready()
        for net, ms in groups.items():
            for src in ms:
                for dst in ms:
                    if src is dst:
                        continue
                    body = http_get(src.netns, f"http://{dst.ip}:{HTTP_PORT}/marker.txt")
                    assert body.strip() == servers[dst.netns].marker, (net, src.endpoint, dst.endpoint, body)
    finally:
        for server in servers.values():
            server.stop()


# --- a generated-style cluster: 4 nodes (+1 later), 3 networks, 4 services (one global), 1 endpoint
def cluster(lab: Lab, nodes: list[str], without: tuple[str, ...] = ()) -> dict[str, Any]:
    services: dict[str, Any] = {
        "web": {"replicas": 3, "networks": ["front", "back"]},
        "api": {"replicas": 2, "networks": ["back"]},
        "agent": {"mode": "global", "networks": ["ops"]},
        "db": {"replicas": 1, "networks": ["back", "ops"], "constraints": ["node.labels.zone == b"]},
    }
    return {
        "version": 1,
        "cluster": {"name": lab.tag, "id": f"scenario-{lab.tag}"},
        "nodes": {n: {"address": str(lab.address(n)), "labels": {"zone": "ab"[i % 2]}}
                  for i, n in enumerate(nodes)},
        "networks": {
            "front": {"subnet": "10.41.0.0/24", "attachable": True},
            "back": {"subnet": "10.42.0.0/24"},
            "ops": {"subnet": "10.43.0.0/24", "vni": 7043},
        },
        "services": {k: v for k, v in services.items() if k not in without},
        "endpoints": {"tool": {"node": nodes[0], "networks": ["front"]}},
    }


def apply_all(cfg: Path, lab: Lab, nodes: list[str]) -> None:
    for node in nodes:
        apply_api(cfg, lab, node)


def kernel_view(lab: Lab, nodes: list[str], groups: dict[str, list[Member]]) -> dict[str, Any]:
    """What must not move for an existing endpoint: its namespace (inode), its links (ifindex,
    MAC, addresses), and the host-side veths on its node (ifindex)."""
    view: dict[str, Any] = {}
    for m in {m.netns: m for ms in groups.values() for m in ms}.values():
        links = ip_json(m.netns, "addr", "show")
        view[m.netns] = (os.stat(f"/run/netns/{m.netns}").st_ino, sorted(
            (ln["ifname"], ln["ifindex"], ln["address"], tuple(a["local"] for a in ln["addr_info"]))
            for ln in links))
    for node in nodes:  # the host sides live in the node's sandboxes
        view[node] = sorted((sb, ln["ifname"], ln["ifindex"], ln.get("master"))
                            for sb in node_sandboxes(lab, node)
                            for ln in ip_json(sb, "link", "show", "type", "veth"))
    return view


def remote_entries(lab: Lab, node: str) -> tuple[set[str], set[str]]:
    """MACs of the vxlan fdb entries with a remote dst, and the IPs of the vxlan neighbours, of a
    node as iproute2 shows them; asserted equal to what overlayc's observer reads."""
    ns = lab.netns(node)
    boxes = node_sandboxes(lab, node)
    macs = {e["mac"] for sb in boxes for e in ip_json(sb, "bridge", "fdb", "show") if e.get("dst") and
            e.get("ifname", "").startswith("ovx")}
    ips = {e["dst"] for sb in boxes for e in ip_json(sb, "neigh", "show")
           if e.get("dev", "").startswith("ovx")}
    owned = observe(ns, lab.tag).owned
    assert {o.lladdr for o in owned if isinstance(o, Fdb)} == macs
    assert {str(o.dst) for o in owned if isinstance(o, Neigh)} == ips
    return macs, ips


@pytest.mark.slow
def test_generated_cluster_reachability_service_removal_node_addition_and_idempotence(
    lab_factory: Any, tmp_path: Path
) -> None:
    nodes5 = ["n1", "n2", "n3", "n4", "n5"]
    lab = lab_factory(nodes5)
    nodes4 = nodes5[:4]
    cfg = write_config(tmp_path / "c" / "overlay.yaml", cluster(lab, nodes4))
    apply_all(cfg, lab, nodes4)
    groups = members(cfg)
    assert {net: len(ms) for net, ms in groups.items()} == {"front": 4, "back": 6, "ops": 5}
    assert len({m.node for ms in groups.values() for m in ms}) == 4, "the tasks are not spread"
    assert unreachable(matrix(groups)) == [], "full reachability matrix on shared networks"

    # remove a service: its entries go on every node, and its endpoint namespaces
    api = [m for m in groups["back"] if m.endpoint.startswith("api.")]
    assert len(api) == 2
    before = {n: remote_entries(lab, n) for n in nodes4}
    for m in api:  # every other node had it
        assert all(m.mac in before[n][0] and str(m.ip) in before[n][1] for n in nodes4 if n != m.node), m
        assert m.netns in netns_list()
    write_config(cfg, cluster(lab, nodes4, without=("api",)))
    apply_all(cfg, lab, nodes4)
    for n in nodes4:
        macs, ips = remote_entries(lab, n)
        assert not {m.mac for m in api} & macs, (n, macs)
        assert not {str(m.ip) for m in api} & ips, (n, ips)
    assert not {m.netns for m in api} & set(netns_list())
    web1 = next(m for m in groups["back"] if m.endpoint == "web.1")
    assert unreachable([(web1.netns, m.ip) for m in api], wait=0.5) == [
        f"{web1.netns} -> {m.ip}" for m in api], "a removed task still answers"
    groups = members(cfg)
    assert all(not m.endpoint.startswith("api.") for ms in groups.values() for m in ms)

    # add a node: the overlay grows to it, nothing existing moves (lock and kernel)
    old_lock = (cfg.parent / "overlayc.lock").read_text()
    lock0 = read_lock(cfg.parent / "overlayc.lock")
    view0 = kernel_view(lab, nodes4, groups)
    write_config(cfg, cluster(lab, nodes5, without=("api",)))
    apply_all(cfg, lab, nodes5)
    lock1 = read_lock(cfg.parent / "overlayc.lock")
    assert lock1.tasks == {**lock0.tasks, "agent.n5": "n5"}, (old_lock, lock1.tasks)
    assert {k: v for k, v in lock1.endpoints.items() if k in lock0.endpoints} == lock0.endpoints
    assert set(lock1.endpoints) - set(lock0.endpoints) == {"agent.n5"}
    assert kernel_view(lab, nodes4, groups) == view0, "an existing endpoint or veth was touched"
    groups5 = members(cfg)
    new = next(m for m in groups5["ops"] if m.endpoint == "agent.n5")
    for n in nodes4:
        macs, ips = remote_entries(lab, n)
        assert new.mac in macs and str(new.ip) in ips, n
    assert unreachable(matrix(groups5)) == []

    # a second reconcile of every node changes nothing (CLI, --detailed-exitcode)
    snapshot, lock_text = kernel_view(lab, nodes5, groups5), (cfg.parent / "overlayc.lock").read_text()
    for node in nodes5:
        res = apply_cli(cfg, lab, node, "--detailed-exitcode")
        assert res.returncode == 0, f"{node}: {res.stdout}\n{res.stderr}"
        assert f"No changes. Node {node} matches the configuration." in res.stdout
    assert kernel_view(lab, nodes5, groups5) == snapshot
    assert (cfg.parent / "overlayc.lock").read_text() == lock_text
