"""Saved plans on disk (`plan -o FILE`, then `apply -f CFG FILE`): the versioned JSON document
of `overlayc.plan.plan_to_json`, written safely and read strictly (`overlayc.files.plan_doc`)."""

from __future__ import annotations

import json
from pathlib import Path

from overlayc.files.plan_doc import read_plan
from overlayc.files.safe import write_atomic
from overlayc.plan import Plan, plan_to_json


def save_plan(plan: Plan, path: Path) -> None:
    """Write the plan document to `path`: replaced atomically, mode 0644 whatever the umask,
    never through a symbolic link (it holds no secrets). Compact JSON: a file for `apply FILE`,
    written by json's C encoder (indenting takes its pure-Python one, 3× slower for a plan of
    100k changes); `--json` prints the indented form."""
    text = json.dumps(plan_to_json(plan), sort_keys=True, separators=(",", ":")) + "\n"
    write_atomic(path, text.encode(), 0o644)


def load_plan(path: Path) -> Plan:
    """Read a plan saved by `save_plan`, strictly; InputError when it is unreadable, too large,
    or not exactly a plan document of this format (it is then never applied)."""
    return read_plan(path)
