"""A process that runs one command freezes what outlives each allocation-heavy phase
(`gcpause.freeze_after_pauses`, set by `overlayc.launch`), so the collector never walks those
objects again; the reconcile agent's loop keeps the collector as it is. Each case runs in its
own interpreter: freezing is per process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from overlayc.launch import one_command
from tests.support.builders import AT_NOON, cli_at
from tests.support.host import ROOT

_PHASE = """
import gc, json, sys
from overlayc import gcpause
if sys.argv[1] == "one":
    gcpause.freeze_after_pauses()
with gcpause.paused_gc():
    kept = [[i] for i in range(50_000)]  # allocated with the collector off, alive afterwards
print(json.dumps({"frozen": gc.get_freeze_count(), "young": gc.get_count()[0], "on": gc.isenabled()}))
"""


def _phase(mode: str) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-c", _PHASE, mode], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    result: dict[str, int] = json.loads(out)
    return result


def test_after_a_pause_a_one_command_process_freezes_what_is_alive() -> None:
    found = _phase("one")
    assert found["on"] and found["frozen"] >= 50_000 and found["young"] < 1_000


def test_a_long_running_process_keeps_its_objects_collectable() -> None:
    found = _phase("loop")
    assert found["on"] and found["frozen"] == 0


@pytest.mark.parametrize(("args", "one"), [
    (["plan", "-f", "x.yaml", "--node", "n1"], True),
    (["--no-color", "apply", "-f", "x.yaml"], True),
    (["reconcile", "-f", "x.yaml", "--interval", "60s"], False),
    (["--no-color", "reconcile", "-f", "x.yaml"], False),
    (["reconcile", "-f", "x.yaml", "--once"], True),
    (["--version"], True),
    ([], True),
])
def test_only_the_agent_loop_is_not_one_command(args: list[str], one: bool) -> None:
    assert one_command(args) is one


_PROBE = """
import contextlib, gc, sys
sys.argv = ["overlayc", *sys.argv[1:]]
from overlayc.launch import main
with contextlib.redirect_stdout(sys.stderr), contextlib.suppress(SystemExit):
    main()
print(gc.get_freeze_count())
"""


def test_overlayc_plan_as_a_process_runs_with_its_phases_frozen(tmp_path: Path) -> None:
    config = tmp_path / "overlay.yaml"
    config.write_text((ROOT / "examples/seed/overlay.yaml").read_text())
    done = subprocess.run([sys.executable, "-c", _PROBE, "plan", "-f", str(config), "--node", "node2",
                           "--state", "empty", "--at", cli_at(AT_NOON)], capture_output=True, text=True,
                          timeout=120, check=True, cwd=tmp_path,
                          env={"OVERLAYC_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin",
                               "OVERLAYC_LOCK_DIR": str(tmp_path / "locks")})
    assert "Plan for node2:" in done.stderr
    assert int(done.stdout) > 10_000  # the modules, config, lock and desired state
