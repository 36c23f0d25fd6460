"""XFRM per cluster with SAs (the ESP lab): two clusters in one node namespace keep their SAs
and policies apart, and a node applied with the legacy marks moves to its cluster's marks in
one apply (SAs re-created with the cluster's reqid, policies swapped in place)."""

from __future__ import annotations

import subprocess
import time

import pytest

from overlayc.apply.session import destroy_netns
from overlayc.kernel.xfrm_marks import LEGACY, marks_of
from tests.support.host import run_in
from tests.support.xfrm_clusters import apply, cluster_state, plan, views

pytestmark = [pytest.mark.esp, pytest.mark.kernel]

CLUSTERS = {"p17x-a": (4100, 4800), "p17x-b": (4200, 4801)}


def states(ns: str) -> str:
    return run_in(ns, "ip", "xfrm", "state").stdout


@pytest.mark.parametrize("kept", sorted(CLUSTERS))
def test_two_clusters_with_sas_in_one_node_namespace_stay_apart(netns: str, kept: str) -> None:
    (gone,) = set(CLUSTERS) - {kept}
    desired = {c: cluster_state(c, *CLUSTERS[c], with_sas=True) for c in CLUSTERS}
    apply(netns, kept, desired[kept])
    alone = views(netns)
    assert states(netns).count(f"reqid {marks_of(kept).reqid} ") == 2
    apply(netns, gone, desired[gone])
    assert states(netns).count("proto esp spi") == 4
    assert plan(netns, kept, desired[kept]) == [], "the other cluster's apply changed this one's objects"
    assert plan(netns, gone, desired[gone]) == []
    destroy_netns(netns, gone, confirm=lambda _plan: True)
    assert views(netns) == alone, "destroying one cluster changed the other's SAs or policies"


def test_upgrade_from_legacy_marks_recreates_sas_and_swaps_policies(netns: str) -> None:
    cluster = "p17x-a"
    apply(netns, cluster, cluster_state(cluster, 4100, 4800, LEGACY, with_sas=True))
    assert states(netns).count(f"reqid {LEGACY.reqid} ") == 2
    desired = cluster_state(cluster, 4100, 4800, with_sas=True)
    monitor = subprocess.Popen(["ip", "-n", netns, "xfrm", "monitor", "policy"], stdout=subprocess.PIPE,
                               text=True)
    try:
        time.sleep(3.0)  # the monitor's subscription is made (slow under TCG)
        assert apply(netns, cluster, desired) == 6  # 2 SAs replaced, 4 policies updated
        time.sleep(2.0)
    finally:
        monitor.terminate()
    events = monitor.communicate(timeout=10)[0]
    assert events.count("Updated") == 4 and "Deleted" not in events, events
    now = states(netns)
    assert now.count(f"reqid {marks_of(cluster).reqid} ") == 2 and f"reqid {LEGACY.reqid} " not in now
    assert apply(netns, cluster, desired) == 0
