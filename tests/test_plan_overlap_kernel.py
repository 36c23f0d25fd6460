"""plan and reconcile with the observe on a worker thread, against a node holding thousands of
entries (dumps of many recv() buffers): the no-op plan is empty, one changed or missing entry
among them is exactly what the plan shows, and a reconcile round repairs exactly that."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.agent import big_network_node
from tests.support.cluster import overlayc_cli
from tests.support.host import holding, run_in

pytestmark = pytest.mark.kernel

REPLICAS = 3000  # ~3000 × 72 B of fdb entries: about seven 32 KiB dump buffers of each kind


@pytest.fixture
def node(make_netns: Callable[[], str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with big_network_node(make_netns, tmp_path, REPLICAS, 5201) as (ns, _, cfg):
        yield ns, cfg


def test_one_drifted_entry_among_thousands_is_planned_and_repaired(node: tuple[str, Path]) -> None:
    ns, cfg = node
    applied = overlayc_cli(cfg, "apply", "-f", str(cfg), "--node", "a", "--netns", ns, "--yes")
    assert applied.returncode == 0, applied.stderr
    noop = overlayc_cli(cfg, "plan", "-f", str(cfg), "--node", "a", "--netns", ns, "--detailed-exitcode")
    assert (noop.returncode, noop.stdout) == (0, "No changes. Node a matches the configuration.\n")

    sb = holding(ns, "ovx5201")
    fdb = [e for e in json.loads(run_in(sb, "bridge", "-j", "fdb", "show", "dev", "ovx5201").stdout)
           if e.get("dst")]
    neigh = json.loads(run_in(sb, "ip", "-j", "neigh", "show", "dev", "ovx5201").stdout)
    assert len(fdb) == len(neigh) == REPLICAS
    moved, gone = fdb[len(fdb) // 2], neigh[-1]
    other = "192.0.2.3" if moved["dst"] != "192.0.2.3" else "192.0.2.2"
    run_in(sb, "bridge", "fdb", "del", moved["mac"], "dev", "ovx5201", "dst", moved["dst"], "self")
    run_in(sb, "bridge", "fdb", "append", moved["mac"], "dev", "ovx5201", "dst", other, "self", "permanent")
    run_in(sb, "ip", "neigh", "del", gone["dst"], "dev", "ovx5201")

    drift = overlayc_cli(cfg, "plan", "-f", str(cfg), "--node", "a", "--netns", ns, "--detailed-exitcode",
                         "--full")
    assert drift.returncode == 2, drift.stderr
    assert f"+ fdb ovx5201 {moved['mac']} {moved['dst']}" in drift.stdout
    assert f"- fdb ovx5201 {moved['mac']} {other}" in drift.stdout
    assert f"+ neigh ovx5201 {gone['dst']}" in drift.stdout
    assert "2 to add, 0 to change, 0 to replace, 1 to destroy" in drift.stdout

    repaired = overlayc_cli(cfg, "reconcile", "-f", str(cfg), "--node", "a", "--netns", ns, "--once")
    assert repaired.returncode == 2, repaired.stderr  # the round changed something
    report = json.loads(repaired.stdout.splitlines()[-1])
    assert report["outcome"] == "changed", report
    assert {k: v for k, v in report["changes"].items() if v} == {"create": 2, "delete": 1}, report
    again = overlayc_cli(cfg, "plan", "-f", str(cfg), "--node", "a", "--netns", ns, "--detailed-exitcode")
    assert again.returncode == 0, again.stdout
