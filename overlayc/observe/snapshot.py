"""Offline observation: a saved state snapshot instead of the live kernel (CI planning)."""

from __future__ import annotations

from pathlib import Path

from overlayc.kernel.state import KernelState, Observed

EMPTY = "empty"


def observe_snapshot(source: str) -> Observed:
    """`empty`, or a KernelState JSON file (as printed by `overlayc observe --json`), as Observed.

    A snapshot records owned objects only, so no foreign collision can be detected from it.
    Raises InputError when the file is unreadable or not a state document."""
    if source == EMPTY:
        return Observed(KernelState())
    from overlayc.files.plan_doc import read_snapshot

    return Observed(read_snapshot(Path(source)))
