"""The saved SA counters as inputs of the read-only commands (DESIGN.md §4): `plan` and `status`
against a node's kernel compile the outbound SAs on the epoch `apply` would send on — the next
one while the node has no saved counters — and `status` says so. Offline plans never read them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from overlayc.apply.continuity import FILE_NAME, counters_path
from overlayc.apply.counters import Counters, Fallback, dumps
from overlayc.compile.epoch import epoch_of
from tests.support.cli import run
from tests.support.host import ROOT

pytestmark = pytest.mark.kernel

WHEN = "2026-01-01T12:00:00Z"
EPOCH = epoch_of(datetime(2026, 1, 1, 12, tzinfo=UTC), 43200)
NODE2 = IPv4Address("192.0.2.2")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "overlay.yaml"
    shutil.copy(ROOT / "examples/seed/overlay.yaml", path)
    shutil.copy(ROOT / "examples/seed/overlayc.lock", tmp_path / "overlayc.lock")  # status is --locked
    return path


def outbound_epochs(plan: dict[str, Any]) -> list[int]:
    return [c["after"]["epoch"] for c in plan["changes"] if c["after"] and c["after"]["kind"] == "xfrm-state"
            and c["after"]["src"] == str(NODE2)]


def plan(config: Path, *extra: str) -> dict[str, Any]:
    code, out, err = run("plan", "-f", str(config), "--node", "node2", "--json", "--at", WHEN, *extra)
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_plan_against_the_kernel_sends_on_the_epoch_the_saved_counters_call_for(
    config: Path, make_netns: Callable[[], str], tmp_path: Path
) -> None:
    ns, state = make_netns(), tmp_path / "state"
    live = ("--netns", ns, "--state-dir", str(state))
    assert outbound_epochs(plan(config, *live)) == [EPOCH + 1], "no counters saved: the next epoch's SA"
    assert not state.exists(), "a plan creates nothing"
    assert outbound_epochs(plan(config, "--state", "empty")) == [EPOCH], "offline: no node state"
    path = counters_path(ns, state, create=True)
    path.write_bytes(dumps(Counters(), "seed-example-cluster"))
    assert outbound_epochs(plan(config, *live)) == [EPOCH]
    path.write_bytes(dumps(Counters({}, Fallback("seed-example-cluster", 43200, EPOCH)), "x"))
    assert outbound_epochs(plan(config, *live)) == [EPOCH + 1], "the fallback holds until the epoch ends"
    path.write_bytes(b"{corrupt")
    assert outbound_epochs(plan(config, *live)) == [EPOCH + 1]


def test_status_shows_the_fallback_and_why(
    config: Path, make_netns: Callable[[], str], tmp_path: Path
) -> None:
    ns, state = make_netns(), tmp_path / "state"
    (counters_path(ns, state, create=True)).write_text("not json")
    code, out, err = run("status", "-f", str(config), "--node", "node2", "--netns", ns, "--at", WHEN,
                         "--sample", "0", "--json", "--state-dir", str(state))
    assert code == 1, err  # degraded: nothing is installed in this namespace
    doc = json.loads(out)
    path = state / f"netns-{ns}" / FILE_NAME
    assert doc["counters"][0].startswith(f"{path}: saved counters unusable (not JSON")
    assert doc["counters"][1] == (f"no saved counters for the SAs of epoch {EPOCH}: sending on the SAs of "
                                  f"epoch {EPOCH + 1} until it begins (every peer holds them, unused)")
    outbound = [s for p in doc["peers"] for s in p["sas"] if s["direction"] == "out"]
    assert [(s["epoch"], s["restored"]) for s in outbound] == [(EPOCH + 1, False)]


def test_a_declined_or_rolled_back_apply_leaves_the_saved_counters_describing_the_kernel(
    config: Path, make_netns: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file speaks of the SAs the kernel holds: an apply that is declined changes neither;
    one that is rolled back keeps what the file said of the prior SAs (here the fallback in force
    and an SA of another rotation's numbering, which the apply's own save drops)."""
    from overlayc.apply import session
    from overlayc.apply.counters import SavedSa, loads
    from overlayc.apply.run import Outcome
    from overlayc.errors import EnvironmentProblem
    from overlayc.inputs import prepare_target

    ns, state = make_netns(), tmp_path / "state"
    path = counters_path(ns, state, create=True)
    other = SavedSa(NODE2, IPv4Address("192.0.2.1"), 0x1003, "sha256:0123456789ab", 7, oseq=500)
    cluster = "seed-example-cluster"
    before = dumps(Counters({other.id: other}, Fallback(cluster, 12, 7)), cluster)
    path.write_bytes(before)
    monkeypatch.setattr(session, "_preflight", lambda *args: None)  # ESP or not, on every host
    key = tmp_path / "node2.key"
    shutil.copy(ROOT / "examples/seed/keys/node2.key", key)
    key.chmod(0o600)
    target = prepare_target([config], node="node2", netns=ns, at=WHEN, state_dir=state, key_file=key)
    declined = session.apply_target(target, confirm=lambda plan: False, allow_missing_address=True)
    assert declined.result.outcome is Outcome.NOTHING and path.read_bytes() == before

    def refuse(*args: object) -> None:
        raise EnvironmentProblem("refused by the test after execution")

    monkeypatch.setattr(session, "check_fail_closed", refuse)  # verification fails: a rollback
    applied = session.apply_target(target, confirm=lambda plan: True, allow_missing_address=True)
    assert applied.result.outcome is Outcome.ROLLED_BACK, applied.result
    kept = loads(path.read_bytes())
    assert kept.fallback == Fallback(cluster, 12, 7) and other.id in kept.sas
