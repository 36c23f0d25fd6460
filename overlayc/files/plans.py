"""Saved plans on disk (`plan -o FILE`, then `apply -f CFG FILE`): the versioned JSON document
of `overlayc.plan.plan_to_json`, written safely and read strictly (`overlayc.files.plan_doc`)."""

from __future__ import annotations

from pathlib import Path

from overlayc.files.plan_doc import read_plan
from overlayc.files.safe import write_atomic
from overlayc.plan import Plan, dumps


def save_plan(plan: Plan, path: Path) -> None:
    """Write the plan document to `path`: replaced atomically, mode 0644 whatever the umask,
    never through a symbolic link (it holds no secrets)."""
    write_atomic(path, dumps(plan).encode(), 0o644)


def load_plan(path: Path) -> Plan:
    """Read a plan saved by `save_plan`, strictly; InputError when it is unreadable, too large,
    or not exactly a plan document of this format (it is then never applied)."""
    return read_plan(path)
