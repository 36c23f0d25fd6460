"""Golden desired states: `golden/compile/<example>/<node>.json` and `.sh` for every example.

An example is a directory `examples/<name>/` holding `overlay.yaml` (examples/invalid/ has none).
Compiled at a fixed instant without private keys (SAs show SPIs, key fingerprints stay unknown),
against the example's committed `overlayc.lock` when it has one, which must then be current.
Regenerate with `make golden` and review the git diff.
"""

from __future__ import annotations

import pytest

from overlayc.compile import lock_changes, read_lock, resolve
from overlayc.config.load import load_config
from overlayc.render.iproute2 import render_iproute2
from tests.support.builders import compile_for
from tests.support.golden import GOLDEN, assert_golden
from tests.support.host import ROOT

EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/overlay.yaml"))


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
        state = compile_for(loaded.config, node, assignment=assignment)
        assert_golden(out / f"{node}.json", state.dumps())
        assert_golden(out / f"{node}.sh", render_iproute2(state, title=node))
    expected = {f"{n}.{ext}" for n in loaded.config.nodes for ext in ("json", "sh")}
    assert {p.name for p in out.iterdir()} == expected, "golden files of removed nodes are left over"
