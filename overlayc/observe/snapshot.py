"""Offline observation: a saved state snapshot instead of the live kernel (CI planning)."""

from __future__ import annotations

import json
from pathlib import Path

from overlayc.errors import InputError
from overlayc.kernel.state import KernelState, Observed

EMPTY = "empty"


def observe_snapshot(source: str) -> Observed:
    """`empty`, or a KernelState JSON file (as printed by `overlayc observe --json`), as Observed.

    A snapshot records owned objects only, so no foreign collision can be detected from it.
    Raises InputError when the file is unreadable or not a state document."""
    if source == EMPTY:
        return Observed(KernelState())
    path = Path(source)
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise InputError(f"{path}: cannot read the state snapshot: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not JSON: {err}") from None
    try:
        return Observed(KernelState.from_json(data))
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path}: not an overlayc state snapshot ({err})") from None
