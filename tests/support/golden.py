"""Golden files: compare, or (with OVERLAYC_REGEN_GOLDEN=1, i.e. `make golden`) rewrite."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from tests.support.host import ROOT

REGEN = os.environ.get("OVERLAYC_REGEN_GOLDEN") == "1"
GOLDEN = ROOT / "golden"


def assert_golden(path: Path, actual: str) -> None:
    """Assert `actual` equals the file at `path`; rewrite it instead under `make golden`."""
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != actual:
            path.write_text(actual)
        return
    assert path.exists(), f"missing golden file {path.relative_to(ROOT)}: run `make golden` and review"
    expected = path.read_text()
    if expected != actual:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), actual.splitlines(True), str(path.relative_to(ROOT)), "actual"
            )
        )
        raise AssertionError(f"golden mismatch (run `make golden` and review the diff):\n{diff}")
