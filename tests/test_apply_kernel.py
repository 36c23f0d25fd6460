"""apply / destroy against the real kernel, in namespaces the tests create and remove."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from overlayc.apply.kernel import KernelHandle
from overlayc.apply.run import Outcome, Progress, apply_changes
from overlayc.config.load import load_config
from overlayc.diff import Change, diff
from overlayc.errors import ExecutionError
from overlayc.kernel.state import Observed
from overlayc.netlink.netns import namespace_id
from overlayc.plan import order
from tests.support.agent import node_namespace
from tests.support.builders import compile_for
from tests.support.counters import netns_list
from tests.support.dumps import dump
from tests.support.host import holding, run_in, sandboxes_of

pytestmark = pytest.mark.kernel

@dataclass
class Node:
    ns: str
    cluster: str
    tmp: Path

    def config(self, body: str, data_port: int = 4789) -> Path:
        path = self.tmp / "overlay.yaml"
        path.write_text(textwrap.dedent(f"""\
            version: 1
            cluster: {{name: {self.cluster}, id: test-cluster-{self.cluster}, data_port: {data_port}}}
            nodes:
              a: {{address: 192.0.2.1}}
              b: {{address: 192.0.2.2}}
            """) + textwrap.dedent(body))
        return path

    def overlayc(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "overlayc", *args], capture_output=True, text=True,
                              timeout=timeout, check=False, cwd=self.tmp)


@pytest.fixture
def node(make_netns: Callable[[], str], tmp_path: Path) -> Iterator[Node]:
    with node_namespace(make_netns) as (ns, cluster):
        yield Node(ns, cluster, tmp_path)


NETWORKS = """\
networks:
  front: {subnet: 10.31.0.0/24, vni: 5101}
  back: {subnet: 10.32.0.0/24, vni: 5102, mtu: 1400}
services:
  web: {replicas: 2, networks: [front, back]}
  db: {replicas: 2, networks: [back]}
"""
# every kind of change against NETWORKS (with data port 4790): replaces (the port cannot change in
# place), an update (MTU), deletes (db, and the devices of VNI 5101) and creates (cache, VNI 5111)
CHANGED = """\
networks:
  front: {subnet: 10.31.0.0/24, vni: 5111}
  back: {subnet: 10.32.0.0/24, vni: 5102, mtu: 1380}
services:
  web: {replicas: 2, networks: [front, back]}
  cache: {replicas: 2, networks: [front]}
"""


def test_apply_twice_then_the_second_changes_nothing(node: Node) -> None:
    cfg = node.config(NETWORKS)
    first = node.overlayc("apply", "-f", str(cfg), "--node", "a", "--netns", node.ns, "--yes",
                         "--detailed-exitcode")
    assert first.returncode == 2, first.stderr
    assert "verified against the kernel" in first.stdout
    links = {ln["ifname"]: ln for sb in sandboxes_of(node.ns)  # each network's links in its sandbox
             for ln in json.loads(run_in(sb, "ip", "-d", "-j", "link").stdout)}
    assert len(sandboxes_of(node.ns)) == 2
    assert links["ovx5101"]["linkinfo"]["info_data"]["id"] == 5101
    assert links["ovx5102"]["mtu"] == 1400
    assert links["ovx5101"]["master"] == "ovb5101"
    second = node.overlayc("apply", "-f", str(cfg), "--node", "a", "--netns", node.ns, "--yes",
                          "--detailed-exitcode")
    assert second.returncode == 0, second.stderr
    assert "No changes. Node a matches the configuration." in second.stdout


def test_hand_made_drift_is_shown_and_repaired(node: Node) -> None:
    cfg = node.config(NETWORKS)
    assert node.overlayc("apply", "-f", str(cfg), "--node", "a", "--netns", node.ns, "--yes").returncode == 0
    at = holding(node.ns, "ovx5101")
    fdb = next(e for e in json.loads(run_in(at, "bridge", "-j", "fdb", "show", "dev", "ovx5101").stdout)
               if e.get("dst"))
    run_in(at, "bridge", "fdb", "del", fdb["mac"], "dev", "ovx5101", "dst", fdb["dst"], "self")
    run_in(holding(node.ns, "ovx5102"), "ip", "link", "set", "ovx5102", "mtu", "1300")
    plan = node.overlayc("plan", "-f", str(cfg), "--node", "a", "--netns", node.ns, "--detailed-exitcode")
    assert plan.returncode == 2, plan.stderr
    assert f"+ fdb ovx5101 {fdb['mac']} {fdb['dst']}" in plan.stdout
    assert "~ vxlan ovx5102" in plan.stdout and "mtu = 1300 -> 1400" in plan.stdout
    assert "1 to add, 1 to change, 0 to replace, 0 to destroy" in plan.stdout
    fixed = node.overlayc("apply", "-f", str(cfg), "--node", "a", "--netns", node.ns, "--yes")
    assert fixed.returncode == 0, fixed.stderr
    again = node.overlayc("plan", "-f", str(cfg), "--node", "a", "--netns", node.ns, "--detailed-exitcode")
    assert again.returncode == 0, again.stdout


class FailingHandle:
    """The real kernel handle, with the k-th change of the first execute refused (injected)."""

    def __init__(self, handle: KernelHandle, fail_at: int) -> None:
        self.handle = handle
        self.fail_at = fail_at
        self.calls = 0

    def observe(self) -> Observed:
        return self.handle.observe()

    def execute(self, changes: Sequence[Change], progress: Progress | None = None) -> None:
        self.calls += 1
        if self.calls > 1:
            self.handle.execute(changes, progress)
            return
        try:
            self.handle.execute(changes[: self.fail_at], progress)
        except ExecutionError:
            raise
        raise ExecutionError(tuple(range(self.fail_at)), ((self.fail_at, "injected failure"),))


def test_a_failure_at_every_position_rolls_back_to_an_identical_dump(node: Node) -> None:
    before_cfg = load_config([node.config(NETWORKS)]).config
    assert node.overlayc("apply", "-f", str(node.tmp / "overlay.yaml"), "--node", "a", "--netns",
                         node.ns, "--yes").returncode == 0
    config = load_config([node.config(CHANGED, data_port=4790)]).config
    desired = compile_for(config, "a", at=datetime.now(UTC), owner=namespace_id(node.ns))
    prior_dump = dump(node.ns, node.cluster)
    with KernelHandle(node.ns, node.cluster) as handle:
        changes = order(diff(desired, handle.observe()), before_cfg.nodes["a"].address)
        kinds = {c.action.value for c in changes}
        assert {"create", "update", "replace", "delete"} <= kinds, kinds
        for k in range(len(changes)):
            result = apply_changes(FailingHandle(handle, k), desired, changes)
            assert result.outcome is Outcome.ROLLED_BACK, (k, result)
            assert dump(node.ns, node.cluster) == prior_dump, f"not restored after a failure at {k}"
        assert apply_changes(handle, desired, changes).outcome is Outcome.CHANGED
    assert dump(node.ns, node.cluster) != prior_dump


def test_a_stale_saved_plan_is_refused_naming_the_drift(node: Node) -> None:
    cfg = node.config(NETWORKS)
    assert node.overlayc("apply", "-f", str(cfg), "--node", "a", "--netns", node.ns, "--yes").returncode == 0
    run_in(holding(node.ns, "ovx5102"), "ip", "link", "set", "ovx5102", "mtu", "1300")
    saved = node.overlayc("plan", "-f", str(cfg), "--node", "a", "--netns", node.ns, "-o", "p.json")
    assert saved.returncode == 0, saved.stderr
    run_in(holding(node.ns, "ovx5102"), "ip", "link", "set", "ovx5102", "mtu", "1200")  # drift since
    refused = node.overlayc("apply", "-f", str(cfg), "p.json")
    assert refused.returncode == 1
    assert "the saved plan is stale" in refused.stderr and "vxlan ovx5102: changed" in refused.stderr
    at = holding(node.ns, "ovx5102")
    assert json.loads(run_in(at, "ip", "-j", "link", "show", "ovx5102").stdout)[0]["mtu"] == 1200
    fresh = node.overlayc("plan", "-f", str(cfg), "--node", "a", "--netns", node.ns, "-o", "p.json")
    assert fresh.returncode == 0
    applied = node.overlayc("apply", "-f", str(cfg), "p.json", "--detailed-exitcode")
    assert applied.returncode == 2, applied.stderr
    assert json.loads(run_in(at, "ip", "-j", "link", "show", "ovx5102").stdout)[0]["mtu"] == 1400


def test_two_concurrent_applies_never_interleave(node: Node, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVERLAYC_LOCK_DIR", str(tmp_path / "locks"))
    cfg = node.config(NETWORKS)
    args = [sys.executable, "-m", "overlayc", "apply", "-f", str(cfg), "--node", "a", "--netns", node.ns,
            "--yes", "--lock-timeout", "60"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    texts = sorted(o[0] for o in outs)
    assert sum("Apply complete" in t for t in texts) == 1, texts
    assert sum("No changes." in t for t in texts) == 1, texts


def test_a_held_lock_makes_apply_exit_75_naming_the_holder(node: Node, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from overlayc.apply import lock as lockmod

    monkeypatch.setenv("OVERLAYC_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.setattr(lockmod, "LOCK_DIR", tmp_path / "locks")
    cfg = node.config(NETWORKS)
    with lockmod.apply_lock(node.ns, timeout=0, operation="test"):
        busy = node.overlayc("apply", "-f", str(cfg), "--node", "a", "--netns", node.ns, "--yes",
                             "--lock-timeout", "0.3")
    assert busy.returncode == 75, busy.stderr
    assert "is held by pid" in busy.stderr


def test_non_interactive_apply_without_yes_changes_nothing(node: Node) -> None:
    cfg = node.config(NETWORKS)
    refused = node.overlayc("apply", "-f", str(cfg), "--node", "a", "--netns", node.ns)
    assert refused.returncode == 1
    assert "pass --yes" in refused.stderr
    assert not [ln for ln in json.loads(run_in(node.ns, "ip", "-j", "link").stdout)
                if ln["ifname"].startswith("ov")]
    assert sandboxes_of(node.ns) == []


def test_destroy_removes_what_overlayc_owns_and_nothing_else(node: Node) -> None:
    run_in(node.ns, "ip", "link", "add", "oct-foreign", "type", "bridge")
    run_in(node.ns, "ip", "neigh", "add", "192.0.2.77", "lladdr", "02:00:00:00:00:77", "dev", "oct-u",
           "nud", "permanent")
    foreign_before = dump(node.ns, node.cluster)
    cfg = node.config(NETWORKS)
    assert node.overlayc("apply", "-f", str(cfg), "--node", "a", "--netns", node.ns, "--yes").returncode == 0
    assert [n for n in netns_list() if n.startswith(f"{node.cluster}-")]
    gone = node.overlayc("destroy", "--netns", node.ns, "--yes")
    assert gone.returncode == 0, gone.stderr
    assert "Destroy complete" in gone.stdout
    assert dump(node.ns, node.cluster) == foreign_before
    assert not [n for n in netns_list() if n.startswith(f"{node.cluster}-")]


EXAMPLE_PUBLIC_KEY = "QWfOvszOZ62logBnaao7jh0X6y/XVbZjTwQaNfEtah0="  # examples/seed/keys/node1.key (EXAMPLE)
ENCRYPTED_ALONE = """\
networks:
  vault: {subnet: 10.33.0.0/24, vni: 5103, encrypted: true}
services:
  safe: {replicas: 1, networks: [vault], constraints: ["node.hostname == a"]}
"""


def test_a_removed_policy_is_shown_and_repaired(node: Node) -> None:
    """An encrypted network present on one node only: no peer, so no SAs, but its fail-closed
    block policies (which this kernel can hold without ESP)."""
    cfg = node.config(ENCRYPTED_ALONE)
    cfg.write_text(cfg.read_text().replace(
        "a: {address: 192.0.2.1}", f"a: {{address: 192.0.2.1, public_key: {EXAMPLE_PUBLIC_KEY}}}"))
    applied = node.overlayc("apply", "-f", str(cfg), "--node", "a", "--netns", node.ns, "--yes")
    assert applied.returncode == 0, applied.stderr
    shown = run_in(node.ns, "ip", "xfrm", "policy", "show").stdout
    assert shown.count("action block") == 2 and "dport 4800" in shown, shown
    run_in(node.ns, "ip", "xfrm", "policy", "delete", "src", "0.0.0.0/0", "dst", "0.0.0.0/0",
           "proto", "udp", "dport", "4800", "dir", "in")
    plan = node.overlayc("plan", "-f", str(cfg), "--node", "a", "--netns", node.ns, "--detailed-exitcode")
    assert plan.returncode == 2, plan.stderr
    assert "+ xfrm-policy in 0.0.0.0/0 0.0.0.0/0 17 4800" in plan.stdout
    assert "1 to add, 0 to change, 0 to replace, 0 to destroy" in plan.stdout
    assert node.overlayc("apply", "-f", str(cfg), "--node", "a", "--netns", node.ns, "--yes").returncode == 0
    assert run_in(node.ns, "ip", "xfrm", "policy", "show").stdout.count("action block") == 2
