"""The CI subset of the fuzz harness (tests/fuzz.py; `make fuzz` runs ≥ 10,000 inputs): mutated
examples, locks, saved plans, snapshots and option values end in a diagnostic or a one-line
error, never in a traceback, and none runs longer than 5 s."""

from __future__ import annotations

import pytest

from tests.fuzz import Report, fuzz

pytestmark = pytest.mark.slow


def test_fuzzed_inputs_never_reach_a_traceback() -> None:
    report = Report()
    fuzz(report, examples=60)
    assert report.total >= 5 * 60
    assert report.tracebacks == [], report.text()
    assert report.slow == [], report.text()
    # not vacuous: inputs were refused in every way, and some were still accepted
    kinds = {k.split(": ")[1] for k in report.outcomes}
    assert {"ConfigError", "InputError"} <= kinds, report.text()
