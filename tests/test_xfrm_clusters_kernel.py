"""XFRM objects per cluster in a real kernel (namespaces the tests create): exact ownership of
policies, two clusters in one node namespace, and the upgrade from the single legacy marks.

This kernel has no ESP/GCM, so the desired state here is a cluster's links plus its policies
(what compile_ipsec makes, through the same functions); SAs are exercised in the ESP lab
(tests/esp) and by observe over replayed dumps (tests/test_observe_xfrm.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from overlayc.apply.session import destroy_netns
from overlayc.errors import PlanError
from overlayc.kernel.objects import XfrmPolicy
from overlayc.kernel.xfrm_marks import LEGACY, XfrmMarks, marks_of
from tests.support.host import EXAMPLES, run_in
from tests.support.kernel import sh
from tests.support.xfrm_clusters import ANY, apply, cluster_state, plan, policies, views

pytestmark = pytest.mark.kernel

SEED = EXAMPLES / "seed"


def add_foreign_near(ns: str, marks: XfrmMarks, port: int) -> None:
    """Foreign policies next to, between and equal to the cluster's priorities, on other ports
    and selectors (what another tool could hold)."""
    peer, block = marks.peer_priority(port), marks.block_priority(port)
    for line in (
        f"src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport {port + 1} dir in priority {block} action block",
        f"src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport {port + 1} dir out priority {block - 1} action block",
        f"src 10.0.0.0/8 dst 0.0.0.0/0 proto udp dport {port} dir in priority {block} action block",
        f"src 0.0.0.0/0 dst 0.0.0.0/0 proto tcp dport {port} dir out priority {block + 1} action block",
        f"src 10.0.0.1/32 dst 10.0.0.9/32 proto udp dport {port} dir out priority {peer + 1} "
        f"tmpl src 10.0.0.1 dst 10.0.0.9 proto esp reqid {marks.reqid} mode transport",
        f"src 10.0.0.9/32 dst 10.0.0.1/32 proto udp dport {port} dir in priority {peer} "
        "tmpl src 10.0.0.9 dst 10.0.0.1 proto esp reqid 13681891 mode transport",
        f"src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport {port + 2} dir in priority {peer - 1} action block",
    ):
        sh(ns, f"ip xfrm policy add {line}")


def test_foreign_policies_near_overlaycs_priorities_are_never_touched(netns: str) -> None:
    cluster, port = "p17x-a", 4800
    add_foreign_near(netns, marks_of(cluster), port)
    foreign = policies(netns)
    assert foreign.count("\n\tdir ") == 7
    desired = cluster_state(cluster, 4100, port)
    assert apply(netns, cluster, desired) == 8
    assert apply(netns, cluster, desired) == 0  # re-apply: nothing to do, nothing touched
    destroy_netns(netns, cluster, confirm=lambda _plan: True)
    assert policies(netns) == foreign, "a foreign policy changed"


def test_a_foreign_policy_with_a_desired_selector_is_a_plan_error_naming_it(netns: str) -> None:
    sh(netns, "ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport 4800 dir in priority 9 "
              "action block")
    before = policies(netns)
    with pytest.raises(PlanError) as err:
        plan(netns, "p17x-a", cluster_state("p17x-a", 4100, 4800))
    assert err.value.exit_code == 1
    assert ("xfrm-policy in 0.0.0.0/0 0.0.0.0/0 17 4800: XFRM policy dir in priority 9, not overlayc's"
            in str(err.value))
    assert policies(netns) == before


CLUSTERS = {"p17x-a": (4100, 4800), "p17x-b": (4200, 4801)}


@pytest.mark.parametrize("kept", sorted(CLUSTERS))
def test_two_clusters_in_one_node_namespace_stay_apart(netns: str, kept: str) -> None:
    (gone,) = set(CLUSTERS) - {kept}
    states = {c: cluster_state(c, *CLUSTERS[c]) for c in CLUSTERS}
    apply(netns, kept, states[kept])
    alone = views(netns)
    apply(netns, gone, states[gone])
    assert plan(netns, kept, states[kept]) == [], "the other cluster's apply changed this one's objects"
    assert plan(netns, gone, states[gone]) == []
    assert policies(netns).count("\n\tdir ") == 8
    destroy_netns(netns, gone, confirm=lambda _plan: True)
    assert views(netns) == alone, "destroying one cluster changed the other's objects"


def test_two_clusters_on_one_encrypted_port_are_refused_naming_both(netns: str) -> None:
    apply(netns, "p17x-a", cluster_state("p17x-a", 4100, 4800))
    before = views(netns)
    with pytest.raises(PlanError) as err:
        plan(netns, "p17x-b", cluster_state("p17x-b", 4200, 4800))
    text = str(err.value)
    assert "of overlayc cluster 'p17x-a'" in text
    assert ("clusters 'p17x-b' and 'p17x-a' would both carry encrypted networks on this node on data "
            "port 4800") in text
    assert views(netns) == before


def test_upgrade_from_legacy_marks_never_removes_a_policy(netns: str) -> None:
    """A node applied with the single legacy marks moves to its cluster's marks in one apply.
    The kernel keeps one policy per (dir, selector), whatever the priority (a second add is
    EEXIST), so each policy is moved by XFRM_MSG_UPDPOLICY, which swaps it in one step: the
    monitor sees updates only, never a deletion, so the encrypted port is never open."""
    cluster = "p17x-a"
    apply(netns, cluster, cluster_state(cluster, 4100, 4800, LEGACY))
    assert policies(netns).count("priority 28432") == 2
    monitor = subprocess.Popen(["ip", "-n", netns, "xfrm", "monitor", "policy"], stdout=subprocess.PIPE,
                               text=True)
    try:
        time.sleep(1.0)  # the monitor's subscription is made
        desired = cluster_state(cluster, 4100, 4800)
        assert apply(netns, cluster, desired) == 4
        time.sleep(1.0)
    finally:
        monitor.terminate()
    events = monitor.communicate(timeout=10)[0]
    assert events.count("Updated") == 4 and "Deleted" not in events, events
    marks = marks_of(cluster)
    now = policies(netns)
    assert f"priority {marks.block_priority(4800)}" in now and "priority 28432" not in now
    assert f"reqid {marks.reqid}" in now and f"reqid {LEGACY.reqid}" not in now
    assert apply(netns, cluster, desired) == 0


def test_priority_is_no_identity_for_the_kernel(netns: str) -> None:
    """The kernel fact the upgrade rests on: a second policy with the same selector and another
    priority is refused (EEXIST), so make-before-break of a policy is an in-place update."""
    line = "src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport 4800 dir out action block priority"
    sh(netns, f"ip xfrm policy add {line} 100")
    again = run_in(netns, "ip", "xfrm", "policy", "add", *f"{line} 200".split(), check=False)
    assert again.returncode != 0 and "File exists" in again.stderr
    first, second = (XfrmPolicy("out", ANY, ANY, 4800, p, "block") for p in (100, 200))
    assert first.key == second.key  # overlayc's key follows the kernel's identity


def test_plan_of_a_second_cluster_on_the_same_encrypted_port_exits_1_naming_both(netns: str,
                                                                                 tmp_path: Path) -> None:
    """End to end: `overlayc plan` of the seed example (encrypted network on port 4800) renamed
    to cluster p17x-b, on a node namespace where cluster p17x-a holds port 4800."""
    apply(netns, "p17x-a", cluster_state("p17x-a", 4100, 4800))
    before = views(netns)
    (tmp_path / "overlay.yaml").write_text(
        (SEED / "overlay.yaml").read_text().replace("  name: seed\n", "  name: p17x-b\n", 1))
    shutil.copy(SEED / "overlayc.lock", tmp_path / "overlayc.lock")
    cmd = [sys.executable, "-m", "overlayc", "plan", "-f", "overlay.yaml", "--node", "node1",
           "--netns", netns]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert out.returncode == 1, out.stderr
    for direction in ("in", "out"):
        assert (f"xfrm-policy {direction} 0.0.0.0/0 0.0.0.0/0 17 4800: XFRM policy dir {direction} priority "
                f"{marks_of('p17x-a').block_priority(4800)}, of overlayc cluster 'p17x-a': clusters "
                "'p17x-b' and 'p17x-a' would both carry encrypted networks on this node on data port 4800"
                ) in out.stderr
    assert "Traceback" not in out.stderr and views(netns) == before
