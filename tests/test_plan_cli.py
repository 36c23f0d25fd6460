"""`overlayc plan`: offline planning, exit codes, JSON and saved plans, lock handling, node choice."""

from __future__ import annotations

import json
import shutil
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from overlayc.errors import InputError
from overlayc.files.plans import load_plan
from overlayc.kernel.state import KernelState
from overlayc.observe.addresses import node_by_address
from tests.support.builders import AT_NOON, cli_at
from tests.support.cli import run
from tests.support.host import ROOT

AT_ARGS = ["--at", cli_at(AT_NOON)]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A copy of the seed config (its lock is written next to it, not into examples/)."""
    path = tmp_path / "overlay.yaml"
    shutil.copy(ROOT / "examples/seed/overlay.yaml", path)
    return path


def test_changes_exit_2_with_detailed_exitcode_and_the_lock_is_written(config: Path) -> None:
    code, out, _ = run("plan", "-f", str(config), "--node", "node2", "--state", "empty",
                       "--detailed-exitcode", *AT_ARGS)
    assert code == 2
    assert out.endswith("Plan for node2: 21 to add, 0 to change, 0 to replace, 0 to destroy.\n")
    assert "\x1b[" not in out  # no colour when not on a terminal
    assert (config.parent / "overlayc.lock").exists()


def test_changes_exit_0_without_detailed_exitcode(config: Path) -> None:
    assert run("plan", "-f", str(config), "--node", "node2", "--state", "empty", *AT_ARGS)[0] == 0


def test_no_changes_against_a_snapshot_of_the_desired_state(config: Path, tmp_path: Path) -> None:
    code, out, _ = run("render", "-f", str(config), "--node", "node2", *AT_ARGS)
    assert code == 0
    snapshot = tmp_path / "live.json"
    snapshot.write_text(KernelState.loads(out).dumps())
    code, out, _ = run("plan", "-f", str(config), "--node", "node2", "--state", str(snapshot),
                       "--detailed-exitcode", *AT_ARGS)
    assert (code, out) == (0, "No changes. Node node2 matches the configuration.\n")


def test_json_output_and_saved_plan_agree(config: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    code, out, err = run("plan", "-f", str(config), "--node", "node1", "--state", "empty", "--json",
                         "-o", str(saved), *AT_ARGS)
    assert code == 0 and f"saved the plan to {saved}" in err
    doc = json.loads(out)
    assert doc["format_version"] == "1.0" and doc["node"] == "node1"
    assert doc["summary"] == {"add": 21, "change": 0, "replace": 0, "destroy": 0}
    assert json.loads(saved.read_text()) == doc
    assert len(load_plan(saved).changes) == 21


def test_locked_fails_when_the_lock_would_change(config: Path) -> None:
    code, _, err = run("plan", "-f", str(config), "--node", "node2", "--state", "empty", "--locked", *AT_ARGS)
    assert code == 1 and "is out of date (--locked)" in err
    assert not (config.parent / "overlayc.lock").exists()


def test_unreadable_snapshot_is_an_input_error(config: Path, tmp_path: Path) -> None:
    code, _, err = run("plan", "-f", str(config), "--node", "node2", "--state", str(tmp_path / "nope"))
    assert code == 1 and "cannot read the state snapshot" in err


def test_invalid_config_exits_65(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ncluster: {name: x, id: cluster-id-1, bogus: 1}\n")
    assert run("plan", "-f", str(bad), "--node", "n", "--state", "empty")[0] == 65


NODES = {"node1": IPv4Address("192.0.2.1"), "node2": IPv4Address("192.0.2.2")}


def test_the_node_is_the_one_whose_address_is_local() -> None:
    assert node_by_address(NODES, [IPv4Address("127.0.0.1"), IPv4Address("192.0.2.2")]) == "node2"


@pytest.mark.parametrize(("local", "message"), [
    ([], "no node's address is on an interface of network namespace ns1 "
         "(nodes: node1 (192.0.2.1), node2 (192.0.2.2)); choose one with --node"),
    (list(NODES.values()), "several nodes have an address on network namespace ns1: "
                           "node1 (192.0.2.1), node2 (192.0.2.2); choose one with --node"),
])
def test_no_or_several_local_nodes_is_an_error_listing_candidates(
        local: list[IPv4Address], message: str) -> None:
    with pytest.raises(InputError) as err:
        node_by_address(NODES, local, "ns1")
    assert str(err.value) == message
