"""Saved plans on disk (`plan -o FILE`, then `apply -f CFG FILE`): the versioned JSON document
of `overlayc.plan.plan_to_json`."""

from __future__ import annotations

import json
from pathlib import Path

from overlayc.errors import InputError
from overlayc.plan import Plan, dumps, plan_from_json


def save_plan(plan: Plan, path: Path) -> None:
    """Write the plan document to `path` (mode 0644; it holds no secrets)."""
    try:
        path.write_text(dumps(plan))
    except OSError as err:
        raise InputError(f"{path}: cannot write the plan: {err.strerror}") from None


def load_plan(path: Path) -> Plan:
    """Read a plan saved by `save_plan`; raises InputError when unreadable or malformed."""
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise InputError(f"{path}: cannot read the plan: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not a plan document: {err}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a plan document")
    return plan_from_json(data)
