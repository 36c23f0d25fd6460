"""Each network in its own namespace (issue 17, sandboxes), on this host's kernel.

The seed example (encryption off: this kernel has no ESP) on a lab of three nodes: the node's
firewall is out of the overlay's path, the node holds no overlay address unless `gateway:` says so,
the vxlan's UDP socket (and so XFRM) stays in the node's namespace, a node applied with the layout
before sandboxes is moved by one apply (rolled back whole when it fails), and destroy leaves no
sandbox.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lab.topology import Lab
from overlayc.apply.kernel import KernelHandle
from overlayc.apply.run import Outcome, Progress, apply_changes
from overlayc.compile import compile_node
from overlayc.config.load import load_config
from overlayc.diff import Change, diff
from overlayc.errors import ExecutionError
from overlayc.kernel.state import KernelState, Observed
from overlayc.netlink.netns import namespace_id
from overlayc.observe.kernel import observe
from overlayc.plan import order
from tests.support.builders import assign_loaded
from tests.support.cluster import (
    apply_cli,
    matrix,
    members,
    node_sandboxes,
    overlayc_cli,
    sandbox,
    seed_workdir,
)
from tests.support.host import ip_json, run_in
from tests.support.layout import flat
from tests.support.traffic import HTTP_PORT, HttpServer, http_get, ping, unreachable

pytestmark = pytest.mark.kernel

NODES = ["node1", "node2", "node3"]
NETWORKS = ("insecure", "secure")


def _apply_all(cfg: Path, lab: Lab) -> None:
    for node in NODES:
        res = apply_cli(cfg, lab, node)
        assert res.returncode == 0, f"apply {node}: {res.stdout}\n{res.stderr}"


def _answers(ns: str, dst: Any) -> int:
    """Echo replies to one ping from `ns` to `dst`; 0 also when `ns` has no route to it at all."""
    try:
        return ping(ns, dst, wait=1.0)
    except OSError:  # ENETUNREACH: the namespace has no address or route towards it
        return 0


def _firewall(ns: str) -> None:
    """What Docker (and kube-proxy) hosts have: br_netfilter calling iptables on bridged frames,
    FORWARD policy DROP, and an nftables forward chain with policy drop (counting what it sees)."""
    run_in(ns, "sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1")
    run_in(ns, "iptables", "-P", "FORWARD", "DROP")
    run_in(ns, "nft", "add table inet p17s; add chain inet p17s p17sforward "
           "{ type filter hook forward priority 0; policy drop; }; add rule inet p17s p17sforward counter")


def _forward_counts(ns: str) -> tuple[int, int]:
    """(packets the iptables FORWARD policy dropped, packets the nftables forward chain saw)."""
    out = run_in(ns, "iptables", "-L", "FORWARD", "-v", "-x", "-n").stdout
    policy = re.search(r"policy DROP (\d+) packets", out)
    assert policy is not None, out
    nft = run_in(ns, "nft", "list chain inet p17s p17sforward").stdout
    counter = re.search(r"counter packets (\d+)", nft)
    assert counter is not None, nft
    return int(policy.group(1)), int(counter.group(1))


def test_seed_works_with_forward_drop_firewalls_that_see_no_overlay_frame(
    lab_factory: Any, tmp_path: Path
) -> None:
    lab = lab_factory(NODES)
    for node in NODES:
        _firewall(lab.netns(node))
    cfg = seed_workdir(lab, tmp_path / "seed", encrypted=False)
    _apply_all(cfg, lab)
    groups = members(cfg)
    assert unreachable(matrix(groups)) == []
    servers = {m.netns: HttpServer(m.netns, tmp_path / "www" / m.endpoint, f"p17s-{lab.tag}-{m.endpoint}")
               for m in groups["insecure"]}
    try:
        for server in servers.values():
            server.wait_ready()
        for ms in groups.values():
            for src in ms:
                for dst in ms:
                    if src is not dst:
                        body = http_get(src.netns, f"http://{dst.ip}:{HTTP_PORT}/marker.txt")
                        assert body.strip() == servers[dst.netns].marker
    finally:
        for server in servers.values():
            server.stop()
    for node in NODES:
        assert _forward_counts(lab.netns(node)) == (0, 0), node
    # the sandboxes have no rule, no forwarding and no IPv6 (as Docker's)
    for net in NETWORKS:
        sb = sandbox(lab, "node2", net)
        assert run_in(sb, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "0"
        assert run_in(sb, "sysctl", "-n", "net.ipv6.conf.all.disable_ipv6").stdout.strip() == "1"
        assert ip_json(sb, "-6", "addr", "show") == []


def test_node_holds_no_overlay_address_and_networks_stay_apart(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(NODES)
    cfg = seed_workdir(lab, tmp_path / "seed", encrypted=False)
    _apply_all(cfg, lab)
    groups = members(cfg)
    for node in NODES:
        ns = lab.netns(node)
        run_in(ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        names = {ln["ifname"] for ln in ip_json(ns, "link", "show")}
        assert names == {"lo", lab.underlay_dev}, names  # no bridge, vxlan or veth of overlayc
        v6 = [a for ln in ip_json(ns, "-6", "addr", "show") for a in ln["addr_info"]
              if ln["ifname"] != lab.underlay_dev]
        assert all(a["local"] == "::1" for a in v6), v6
        for m in (m for ms in groups.values() for m in ms):
            assert _answers(ns, m.ip) == 0, (node, m)
    for m in (m for ms in groups.values() for m in ms):  # IPv4-only networks: no IPv6 on endpoints
        assert ip_json(m.netns, "-6", "addr", "show", "scope", "link") == [], m
    probe = next(m for m in groups["insecure"] if m.endpoint == "probe")
    web_secure = next(m for m in groups["secure"] if m.endpoint == "web.1")
    run_in(probe.netns, "ip", "route", "replace", "203.0.113.0/24", "dev", "eth0")  # try anyway
    assert _answers(probe.netns, web_secure.ip) == 0


def test_vxlan_socket_and_xfrm_stay_in_the_node_namespace(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(NODES)
    cfg = seed_workdir(lab, tmp_path / "seed", encrypted=False)
    _apply_all(cfg, lab)
    node1 = lab.netns("node1")
    sockets = run_in(node1, "ss", "-Hulnp").stdout + run_in(node1, "ss", "-Huln").stdout
    assert ":4789" in sockets, sockets
    for net in NETWORKS:
        assert ":4789" not in run_in(sandbox(lab, "node1", net), "ss", "-Huln").stdout
        vx = ip_json(sandbox(lab, "node1", net), "-d", "link", "show", "type", "vxlan")
        assert len(vx) == 1 and "link_netnsid" in vx[0], vx  # its socket's namespace is elsewhere
    probe = next(m for m in members(cfg)["insecure"] if m.endpoint == "probe")
    web = next(m for m in members(cfg)["insecure"] if m.endpoint == "web.1")
    assert ping(probe.netns, web.ip) == 1
    block = ["ip", "xfrm", "policy", "add", "src", "0.0.0.0/0", "dst", "0.0.0.0/0", "proto", "udp",
             "dport", "4789", "dir", "out", "priority", "1", "action", "block"]
    run_in(node1, *block)
    try:  # the node namespace's XFRM policy governs the overlay's datagrams
        assert ping(probe.netns, web.ip, wait=1.0) == 0
    finally:
        run_in(node1, "ip", "xfrm", "policy", "flush")
    assert ping(probe.netns, web.ip) == 1


def _desired(cfg: Path, lab: Lab, node: str) -> KernelState:
    loaded = load_config([cfg])
    return compile_node(loaded.config, assign_loaded(loaded), node, at=datetime.now(UTC), private_key=None,
                        owner=namespace_id(lab.netns(node)))


def _apply_old(cfg: Path, lab: Lab) -> None:
    for node in ("node1", "node2"):
        with KernelHandle(lab.netns(node), lab.tag) as kernel:
            old = flat(_desired(cfg, lab, node))
            result = apply_changes(kernel, old, diff(old, kernel.observe()))
            assert result.outcome is Outcome.CHANGED, result


def _links(ns: str) -> list[tuple[str, str, int]]:
    return sorted((ln["ifname"], ln["address"], ln["mtu"]) for ln in ip_json(ns, "link", "show"))


def test_upgrade_from_the_node_namespace_layout_in_one_apply(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(NODES)
    cfg = seed_workdir(lab, tmp_path / "seed", encrypted=False)
    _apply_old(cfg, lab)
    node1 = lab.netns("node1")
    assert {"ovb4096", "ovx4096", "ovb4097", "ovx4097"} <= {n for n, _, _ in _links(node1)}
    assert node_sandboxes(lab, "node1") == []
    groups = members(cfg)
    assert unreachable(matrix(groups)) == []
    plan = overlayc_cli(cfg, "plan", "-f", str(cfg), "--node", "node1", "--netns", node1)
    assert "moves from the node's namespace into sandbox" in plan.stdout, plan.stdout
    _apply_all(cfg, lab)
    assert {n for n, _, _ in _links(node1)} == {"lo", lab.underlay_dev}
    assert len(node_sandboxes(lab, "node1")) == 2
    assert unreachable(matrix(groups)) == []
    for node in NODES:
        res = apply_cli(cfg, lab, node)
        assert res.returncode == 0 and "No changes" in res.stdout, res.stdout


class _FailingAfter:
    """A kernel whose first execute performs only its first `n` changes, then fails as a refused
    request would; the rollback's executes then run unhindered."""

    def __init__(self, kernel: KernelHandle, n: int) -> None:
        self.kernel, self.n = kernel, n

    def observe(self) -> Observed:
        return self.kernel.observe()

    def execute(self, changes: Sequence[Change], progress: Progress | None = None) -> None:
        n, self.n = self.n, -1
        if n < 0 or len(changes) <= n:
            self.kernel.execute(changes, progress)
            return
        self.kernel.execute(changes[:n], progress)
        raise ExecutionError(tuple(range(n)), ((n, "p17s: refused"),))


def _fail_midway(lab: Lab, node: str, desired: KernelState) -> Outcome:
    """Apply `desired` on `node`, failing after two thirds of the plan; the outcome."""
    with KernelHandle(lab.netns(node), lab.tag) as kernel:
        live = kernel.observe()
        changes = order(diff(desired, live))
        result = apply_changes(_FailingAfter(kernel, len(changes) * 2 // 3), desired, changes,
                               prior=live.owned)
        assert result.outcome is Outcome.ROLLED_BACK, (result.failures, result.rollback_problems)
        return result.outcome


def _snapshot(lab: Lab, node: str) -> Any:
    ns = lab.netns(node)
    return (_links(ns), node_sandboxes(lab, node), observe(ns, lab.tag).owned.dumps())


def test_failed_apply_in_the_new_layout_leaves_the_kernel_as_found(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(NODES)
    cfg = seed_workdir(lab, tmp_path / "seed", encrypted=False)
    before = _snapshot(lab, "node2")
    assert _fail_midway(lab, "node2", _desired(cfg, lab, "node2")) is Outcome.ROLLED_BACK
    assert _snapshot(lab, "node2") == before
    # and an upgrade that fails is rolled back whole to the old layout
    _apply_old(cfg, lab)
    old = _snapshot(lab, "node2")
    assert _fail_midway(lab, "node2", _desired(cfg, lab, "node2")) is Outcome.ROLLED_BACK
    after = _snapshot(lab, "node2")
    assert (sorted((n, mac) for n, mac, _ in after[0]), after[1], after[2]) == (
        sorted((n, mac) for n, mac, _ in old[0]), old[1], old[2])


def test_destroy_leaves_no_sandbox(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(NODES)
    cfg = seed_workdir(lab, tmp_path / "seed", encrypted=False)
    _apply_all(cfg, lab)
    assert len(node_sandboxes(lab, "node2")) == 2
    res = overlayc_cli(cfg, "destroy", "--netns", lab.netns("node2"), "--cluster", lab.tag, "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert node_sandboxes(lab, "node2") == []
    assert not [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                          check=True).stdout.split() if n.startswith(f"{lab.tag}-web")]
    assert len(observe(lab.netns("node2"), lab.tag).owned) == 0


def test_gateway_is_the_node_joining_the_network(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(NODES)
    cfg = seed_workdir(lab, tmp_path / "seed", encrypted=False)
    text = cfg.read_text()
    cfg.write_text(text.replace("    subnet: 198.51.100.0/24\n",
                                "    subnet: 198.51.100.0/24\n    gateway: 198.51.100.254\n", 1))
    _apply_all(cfg, lab)
    groups = members(cfg)
    node1 = lab.netns("node1")
    [gw] = [ln for ln in ip_json(node1, "addr", "show") if ln["ifname"].startswith("ovg")]
    assert [(a["family"], a["local"]) for a in gw["addr_info"]] == [("inet", "198.51.100.254")], gw
    assert not [ln for ln in ip_json(sandbox(lab, "node1", "insecure"), "-6", "addr", "show")
                if ln["addr_info"]]
    probe = next(m for m in groups["insecure"] if m.endpoint == "probe")
    probe_secure = next(m for m in groups["secure"] if m.endpoint == "probe")
    assert ping(probe.netns, "198.51.100.254") == 1  # the endpoint reaches the node's address
    assert ping(node1, probe.ip) == 1  # and the node reaches the endpoint, on that network only
    assert _answers(node1, probe_secure.ip) == 0
    for node in NODES:
        res = apply_cli(cfg, lab, node)
        assert res.returncode == 0 and "No changes" in res.stdout, res.stdout
