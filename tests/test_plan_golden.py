"""Golden plan cases: `golden/plan/<case>/case.yaml` → `plan.txt` + `plan.json` (or `error.txt`).

case.yaml:
    config: examples/seed/overlay.yaml   # relative to the repo, or a file name in the case dir
    node: node2
    at: "2026-01-01T12:00:00Z"
    live: empty | live.json | {compiled_at: T, config: PATH, remove: [KEY...], set: [{key: KEY, f: v}]}
    foreign_links: {NAME: description}   # optional: foreign objects observe would report
    foreign: [[KEY..., description]]

A `compiled_at` live state is the same node compiled at T (default: `at`), then edited: how a
node looks that applied an older config or time. Planning uses the lock next to the config
without writing it, and no private key (SA keys show as unknown, as in CI).
Regenerate with `make golden` (OVERLAYC_REGEN_GOLDEN=1) and review the diff.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from overlayc.compile.epoch import parse_at
from overlayc.config.load import LoadedConfig, load_config
from overlayc.errors import OverlaycError
from overlayc.kernel.objects import KernelObject
from overlayc.kernel.state import KernelState, Observed
from overlayc.observe.snapshot import observe_snapshot
from overlayc.plan import plan_node
from overlayc.render.plan import render_plan_json, render_plan_text
from tests.support.builders import assign_loaded, compile_for
from tests.support.golden import GOLDEN, assert_golden
from tests.support.host import ROOT

CASES = sorted(p.parent for p in (GOLDEN / "plan").glob("*/case.yaml"))


def _config(case_dir: Path, name: str) -> LoadedConfig:
    path = case_dir / name if (case_dir / name).exists() else ROOT / name
    return load_config([path])


def _compiled(loaded: LoadedConfig, node: str, at: str) -> KernelState:
    return compile_for(loaded.config, node, at=parse_at(at), assignment=assign_loaded(loaded))


def _edited(state: KernelState, spec: dict[str, Any]) -> KernelState:
    removed = {tuple(k) for k in spec.get("remove", [])}
    changes = {tuple(s["key"]): {k: v for k, v in s.items() if k != "key"} for s in spec.get("set", [])}
    objects: list[KernelObject] = []
    for obj in state:
        if obj.key not in removed:
            objects.append(replace(obj, **changes.get(obj.key, {})))
    return KernelState(objects)


def _live(case_dir: Path, case: dict[str, Any]) -> Observed:
    spec = case["live"]
    if isinstance(spec, str):
        owned = observe_snapshot(spec if spec == "empty" else str(case_dir / spec)).owned
    else:
        loaded = _config(case_dir, spec.get("config", case["config"]))
        owned = _edited(_compiled(loaded, case["node"], str(spec.get("compiled_at", case["at"]))), spec)
    foreign = {tuple(f[:-1]): f[-1] for f in case.get("foreign", [])}
    return Observed(owned, dict(case.get("foreign_links", {})), foreign)


@pytest.mark.parametrize("case_dir", CASES, ids=[c.name for c in CASES])
def test_golden_plan(case_dir: Path) -> None:
    case = YAML(typ="safe").load((case_dir / "case.yaml").read_text())
    loaded = _config(case_dir, case["config"])
    assignment = assign_loaded(loaded)
    try:
        plan = plan_node(loaded.config, assignment, case["node"], at=parse_at(str(case["at"])),
                         private_key=None, live=_live(case_dir, case))
    except OverlaycError as err:
        assert_golden(case_dir / "error.txt", f"{type(err).__name__} (exit {err.exit_code}): {err}\n")
        return
    assert_golden(case_dir / "plan.txt", render_plan_text(plan))
    assert_golden(case_dir / "plan.json", render_plan_json(plan))


def test_there_are_golden_plan_cases() -> None:
    assert len(CASES) >= 10
