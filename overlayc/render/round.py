"""One reconcile round as its JSON log line (`overlayc reconcile` prints one per round; pure)."""

from __future__ import annotations

import json
from typing import Any

from overlayc.agent.report import RoundReport
from overlayc.render.diagnostics import render_diagnostic_line


def round_to_json(report: RoundReport) -> dict[str, Any]:
    """The round's log record: ts, node, round, outcome, changes by action, duration, epoch,
    attempts, what was enforced, and the error, diagnostics and notes (about the saved SA
    counters) when there are any."""
    out: dict[str, Any] = {
        "ts": report.ts.isoformat().replace("+00:00", "Z"), "node": report.node, "round": report.round,
        "outcome": report.outcome.value, "changes": dict(report.changes),
        "duration_s": round(report.duration_s, 3), "epoch": report.epoch, "attempts": report.attempts,
        "enforced": report.enforced,
    }
    if report.error is not None:
        out["error"] = report.error
    if report.diagnostics:
        out["diagnostics"] = [render_diagnostic_line(d) for d in report.diagnostics]
    if report.notes:
        out["notes"] = list(report.notes)
    return out


def render_round_json(report: RoundReport) -> str:
    """The round's log line: compact, key-sorted JSON without a newline."""
    return json.dumps(round_to_json(report), sort_keys=True)
