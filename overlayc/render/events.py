"""`apply --json` / `destroy --json`: a stream of JSON events, one object per line (pure).

Modelled on Terraform's `-json` UI: every line is an object with `@level`, `@message`, `type`
and the fields of its type, so that a pipeline can follow an apply as it runs and take the
outcome from the last line. Types, in the order they appear:

    version          {format_version, overlayc, operation}
    planned_change   {change: {action, kind, key, reason, fields}}        one per change, in order
    change_summary   {changes: {add, change, replace, destroy}, node}
    apply_progress   {done, total}                                         after each batch
    outcome          {outcome, executed, failures, rollback_problems, exit_code}   always last
    error            {error: {kind, message, exit_code}}                   instead of outcome

`outcome` is `nothing` (nothing to do), `changed` (changed and verified), `rolled_back` or
`rollback_incomplete`. Key material never appears (changes are described by key, not by value).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from overlayc import __version__
from overlayc.diff import Change
from overlayc.plan import Plan

FORMAT_VERSION = "1.0"


def event(kind: str, message: str, level: str = "info", **fields: Any) -> str:
    """One event line (sorted keys, no trailing newline)."""
    return json.dumps({"@level": level, "@message": message, "type": kind, **fields}, sort_keys=True)


def version_event(operation: str) -> str:
    return event("version", f"overlayc {__version__}", format_version=FORMAT_VERSION,
                 overlayc=__version__, operation=operation)


def _change(change: Change) -> dict[str, Any]:
    return {"action": change.action.value, "kind": change.kind, "key": list(change.key),
            "reason": change.reason.value, "fields": list(change.fields)}


def planned_events(plan: Plan) -> list[str]:
    """A `planned_change` per change, then the `change_summary`."""
    lines = [event("planned_change", f"{c.action.value} {' '.join(c.key)}", change=_change(c))
             for c in plan.changes]
    s = plan.summary()
    lines.append(event("change_summary", f"Plan for {plan.node}: {s['add']} to add, {s['change']} to "
                       f"change, {s['replace']} to replace, {s['destroy']} to destroy.",
                       changes=s, node=plan.node))
    return lines


def progress_event(done: int, total: int) -> str:
    return event("apply_progress", f"{done}/{total} changes done", done=done, total=total)


def outcome_event(outcome: str, code: int, executed: int, failures: Sequence[str] = (),
                  rollback_problems: Sequence[str] = (), message: str = "") -> str:
    """The last line of a stream that ran: what happened (`outcome`, see the module docstring)
    and the exit code the process ends with."""
    level = "error" if failures or rollback_problems else "info"
    return event("outcome", message or outcome, level, outcome=outcome, executed=executed,
                 failures=list(failures), rollback_problems=list(rollback_problems), exit_code=code)


def error_event(kind: str, message: str, exit_code: int) -> str:
    """The last line of a stream that stopped on an error (refusal, lock busy, stale plan ...)."""
    return event("error", message, "error", error={"kind": kind, "message": message, "exit_code": exit_code})
