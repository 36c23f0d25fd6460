"""Golden desired states: `golden/compile/<example>/<node>.json` and `.sh` for every example.

An example is a directory `examples/<name>/` holding `overlay.yaml` (examples/invalid/ has none).
Compiled at a fixed instant without private keys (SAs show SPIs, key fingerprints stay unknown),
against the example's committed `overlayc.lock` when it has one, which must then be current.
Regenerate with `make golden` and review the git diff.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from overlayc.compile import compile_node, lock_changes, resolve
from overlayc.config.load import load_config
from overlayc.files.lock import read_lock
from overlayc.render.iproute2 import render_iproute2
from tests.golden import GOLDEN, assert_golden

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/overlay.yaml"))
AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("example", EXAMPLES)
def test_golden_compile(example: str) -> None:
    loaded = load_config([ROOT / "examples" / example / "overlay.yaml"])
    lock = read_lock(loaded.lock_path)
    assignment, new_lock, diags = resolve(loaded.config, lock, loaded.locate)
    assert diags == []
    if loaded.lock_path.exists():
        assert lock_changes(lock, new_lock) == [], f"{loaded.lock_path} is stale"
    out = GOLDEN / "compile" / example
    for node in sorted(loaded.config.nodes):
        state = compile_node(loaded.config, assignment, node, at=AT, private_key=None)
        assert_golden(out / f"{node}.json", state.dumps())
        assert_golden(out / f"{node}.sh", render_iproute2(state, title=node))
    expected = {f"{n}.{ext}" for n in loaded.config.nodes for ext in ("json", "sh")}
    assert {p.name for p in out.iterdir()} == expected, "golden files of removed nodes are left over"
