"""The reconcile loop with a fake clock, a fake sleep and a fake apply (no kernel)."""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from overlayc.agent.loop import (
    EPOCH_DELAY,
    Control,
    Reconciler,
    RetryPolicy,
    is_transient,
    next_epoch_wake,
    next_wake,
)
from overlayc.agent.report import RoundOutcome, RoundReport
from overlayc.agent.run import _install_signals, parse_interval
from overlayc.apply.run import ApplyResult, Outcome
from overlayc.apply.session import Applied
from overlayc.config.load import load_config
from overlayc.diff import Action, Change, Reason
from overlayc.errors import ConfigError, Diagnostic, EnvironmentProblem, Location, LockBusy, Severity
from overlayc.inputs import Target
from overlayc.kernel.objects import Netns
from overlayc.plan import Plan
from overlayc.render.round import round_to_json
from tests.support.builders import assign
from tests.support.host import EXAMPLES

T0 = 1_800_000_005.0  # 5 s into an epoch of 20 s (1_800_000_000 is a multiple of 20)
BAD = ConfigError([Diagnostic(Severity.ERROR, "unknown-key", "unknown key 'encrypt' in network 'secure'",
                              Location("overlay.yaml", 12, 5))])


def target(example: str = "plain", node: str = "host-a", rotation: int | None = None) -> Target:
    config = load_config([EXAMPLES / example / "overlay.yaml"]).config
    if rotation is not None:
        enc = config.cluster.encryption.model_copy(update={"rotation": rotation})
        config = config.model_copy(update={"cluster": config.cluster.model_copy(update={"encryption": enc})})
    return Target(config, assign(config), node, None, datetime.fromtimestamp(T0, UTC), None)


def applied(outcome: Outcome, creates: int = 0) -> Applied:
    changes = tuple(Change(Action.CREATE, ("netns", f"n{i}"), None, Netns(f"n{i}"), Reason.NOT_IN_KERNEL)
                    for i in range(creates))
    plan = Plan("1.0", "host-a", None, datetime.fromtimestamp(T0, UTC), "-", changes)
    failures = ["create netns n0: injected"] if outcome in (Outcome.ROLLED_BACK,
                                                            Outcome.ROLLBACK_INCOMPLETE) else []
    return Applied(plan, ApplyResult(outcome, executed=creates, failures=failures))


class FakeTime:
    """A clock that only moves when the loop sleeps; records every sleep."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


def make(prepare: Callable[[datetime], Target], apply: Callable[[Target], Applied], fake: FakeTime,
         **kw: object) -> tuple[Reconciler, list[RoundReport]]:
    reports: list[RoundReport] = []
    rec = Reconciler(prepare=prepare, apply=apply, interval=60, clock=fake.clock, sleep=fake.sleep,
                     sinks=[reports.append], **kw)  # type: ignore[arg-type]
    return rec, reports


def scripted(*steps: object) -> Callable[..., Any]:
    """A function returning (or raising) the given values in turn, the last one forever."""
    items: Iterator[object] = iter(steps)
    last: list[object] = []

    def call(*_args: object) -> object:
        value = next(items, last[0] if last else None)
        last[:] = [value]
        if isinstance(value, BaseException):
            raise value
        return value

    return call


def test_a_good_round_applies_and_becomes_the_last_good() -> None:
    fake, good = FakeTime(), target()
    rec, reports = make(lambda at: dataclasses.replace(good, at=at), lambda t: applied(Outcome.CHANGED, 3),
                        fake)
    report = rec.run_round()
    assert report.outcome is RoundOutcome.CHANGED and report.exit_code == 2
    assert report.changes == {"create": 3, "update": 0, "replace": 0, "delete": 0}
    assert (report.node, report.enforced, report.attempts, report.epoch) == ("host-a", "config", 1, None)
    assert rec.last_good is not None and rec.last_good.node == "host-a"
    line = round_to_json(report)
    assert {"ts", "node", "round", "outcome", "changes", "duration_s", "epoch"} <= set(line)
    assert "error" not in line and reports == [report]


def test_a_bad_config_keeps_enforcing_the_last_good_and_reports_the_diagnostics() -> None:
    fake, good = FakeTime(), target()
    seen: list[Target] = []

    def apply(t: Target) -> Applied:
        seen.append(t)
        return applied(Outcome.NOTHING)

    rec, _ = make(scripted(good, BAD), apply, fake)
    rec.run_round()
    fake.now += 60
    bad = rec.run_round()
    assert bad.outcome is RoundOutcome.INVALID_CONFIG and bad.failed and bad.exit_code == 65
    assert bad.enforced == "last-good"
    assert bad.diagnostics == tuple(BAD.diagnostics)
    assert bad.error is not None and "invalid configuration" in bad.error
    assert round_to_json(bad)["diagnostics"] == [
        "overlay.yaml:12:5: error[unknown-key]: unknown key 'encrypt' in network 'secure'"]
    # the last good input was applied again, at the new instant (keys keep rotating)
    assert seen[1].config == good.config and seen[1].at.timestamp() == T0 + 60
    assert rec.last_good is good


def test_a_bad_config_without_a_last_good_touches_nothing() -> None:
    calls: list[Target] = []

    def apply(t: Target) -> Applied:
        calls.append(t)
        return applied(Outcome.NOTHING)

    rec, _ = make(scripted(BAD), apply, FakeTime())
    report = rec.run_round()
    assert (report.outcome, report.enforced, report.attempts, calls) == (
        RoundOutcome.INVALID_CONFIG, "none", 0, [])


def test_transient_errors_are_retried_with_backoff_within_the_round() -> None:
    fake = FakeTime()
    busy = LockBusy("apply: the lock is held by pid 1")
    rec, _ = make(lambda at: target(), scripted(busy, busy, applied(Outcome.CHANGED, 1)), fake)
    report = rec.run_round()
    assert report.outcome is RoundOutcome.CHANGED and report.attempts == 3
    assert fake.sleeps == [1.0, 2.0]


def test_retries_are_capped_and_the_round_fails_naming_the_error() -> None:
    fake = FakeTime()
    rec, _ = make(lambda at: target(), scripted(LockBusy("held by pid 7")), fake,
                  retry=RetryPolicy(attempts=4, base=1.0, cap=3.0))
    report = rec.run_round()
    assert report.outcome is RoundOutcome.ERROR and report.attempts == 4
    assert fake.sleeps == [1.0, 2.0, 3.0]
    assert report.error is not None and "held by pid 7" in report.error


def test_a_rolled_back_apply_is_retried_and_a_permanent_error_is_not() -> None:
    fake = FakeTime()
    rec, _ = make(lambda at: target(), scripted(applied(Outcome.ROLLED_BACK, 2), applied(Outcome.CHANGED, 2)),
                  fake)
    assert rec.run_round().outcome is RoundOutcome.CHANGED and fake.sleeps == [1.0]
    fake2 = FakeTime()
    rec2, _ = make(lambda at: target(), scripted(EnvironmentProblem("this kernel cannot do ESP")), fake2)
    report = rec2.run_round()
    assert (report.outcome, report.attempts, fake2.sleeps) == (RoundOutcome.ERROR, 1, [])


def test_always_rolled_back_ends_as_rolled_back_with_the_failure() -> None:
    rec, _ = make(lambda at: target(), scripted(applied(Outcome.ROLLED_BACK, 2)), FakeTime())
    report = rec.run_round()
    assert report.outcome is RoundOutcome.ROLLED_BACK and report.exit_code == 3
    assert report.error is not None and "injected" in report.error


@pytest.mark.parametrize(("err", "transient"), [
    (LockBusy("x"), True), (OSError(105, "No buffer space available"), True),
    (OSError(1, "Operation not permitted"), False), (EnvironmentProblem("x"), False), (BAD, False),
])
def test_is_transient(err: BaseException, transient: bool) -> None:
    assert is_transient(err) is transient


def test_next_wake_is_the_interval_or_right_after_the_next_epoch_boundary() -> None:
    assert next_wake(T0, 60, rotation=None) == T0 + 60
    assert next_wake(T0, 60, rotation=20) == T0 - 5 + 20 + EPOCH_DELAY
    assert next_wake(T0, 10, rotation=20) == T0 + 10
    assert next_wake(T0, 60, rotation=None, jitter=True, rand=lambda: 0.0) == pytest.approx(T0 + 54)
    assert next_wake(T0, 60, rotation=None, jitter=True, rand=lambda: 1.0) == pytest.approx(T0 + 66)
    boundary = T0 - 5 + 20
    assert next_epoch_wake(boundary + EPOCH_DELAY, 20) == boundary + 20 + EPOCH_DELAY
    assert next_epoch_wake(boundary + EPOCH_DELAY - 0.5, 20) == boundary + EPOCH_DELAY


def test_the_loop_wakes_right_after_every_epoch_boundary() -> None:
    fake = FakeTime()
    seed = target("seed", "node2", rotation=20)
    rec, reports = make(lambda at: dataclasses.replace(seed, at=at), lambda t: applied(Outcome.NOTHING), fake)

    def sleep(seconds: float) -> None:
        FakeTime.sleep(fake, seconds)
        if len(reports) == 4:
            rec.control.request_stop()

    rec.sleep = sleep
    rec.run()
    starts = [r.ts.timestamp() for r in reports]
    assert starts == [T0, T0 + 17, T0 + 37, T0 + 57]  # boundaries at T0+15, +35, +55, each + 2 s
    epochs = [r.epoch for r in reports]
    first = epochs[0]
    assert first is not None
    assert epochs[1:] == [first + 1, first + 2, first + 3]


def test_a_stop_during_a_round_finishes_it_then_ends_the_loop() -> None:
    fake = FakeTime()
    rec, reports = make(lambda at: target(), lambda t: applied(Outcome.NOTHING), fake)

    def apply(t: Target) -> Applied:
        rec.control.request_stop()  # SIGTERM arrives while the round is applying
        return applied(Outcome.CHANGED, 1)

    rec.apply = apply
    last = rec.run()
    assert last is not None and last.outcome is RoundOutcome.CHANGED
    assert len(reports) == 1 and fake.sleeps == []


def test_a_reload_during_a_round_starts_the_next_round_at_once() -> None:
    fake = FakeTime()
    rec, reports = make(lambda at: target(), lambda t: applied(Outcome.NOTHING), fake)

    def apply(t: Target) -> Applied:
        if len(reports) == 0:
            rec.control.request_reload()  # SIGHUP during the first round
        if len(reports) == 1:
            rec.control.request_stop()
        return applied(Outcome.NOTHING)

    rec.apply = apply
    rec.run()
    assert [r.round for r in reports] == [1, 2]
    assert fake.sleeps == [] and reports[1].ts == reports[0].ts  # no sleep in between


def test_a_stop_while_sleeping_ends_the_loop_without_another_round() -> None:
    fake = FakeTime()
    rec, reports = make(lambda at: target(), lambda t: applied(Outcome.NOTHING), fake)

    def sleep(seconds: float) -> None:
        fake.sleeps.append(seconds)
        rec.control.request_stop()

    rec.sleep = sleep
    rec.run()
    assert len(reports) == 1 and fake.sleeps == [60]


def test_once_runs_one_round() -> None:
    rec, reports = make(lambda at: target(), lambda t: applied(Outcome.NOTHING), FakeTime())
    last = rec.run(once=True)
    assert last is not None and last.exit_code == 0 and len(reports) == 1


def test_signals_set_the_control_flags_and_cut_a_sleep_short() -> None:
    control = Control()
    previous = _install_signals(control)
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        assert control.reload and not control.stop
        control.sleep(3600)  # returns at once: a reload is pending
        os.kill(os.getpid(), signal.SIGTERM)
        assert control.stop
        control.sleep(3600)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@pytest.mark.parametrize(("text", "seconds"), [("60s", 60.0), ("5m", 300.0), ("90", 90.0), ("1h", 3600.0)])
def test_parse_interval(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-5s", "0", "1.5s"])
def test_parse_interval_refuses_non_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(text)


def test_reconcile_help_lists_the_options(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from overlayc.cli import app

    out = CliRunner().invoke(app, ["reconcile", "--help"], env={"COLUMNS": "200"}).output
    for option in ("--interval", "--jitter", "--once", "--metrics-port", "--metrics-address",
                   "--lock-timeout", "--key-file", "--netns", "--node"):
        assert option in out


def test_an_unusable_input_other_than_the_config_also_keeps_the_last_good() -> None:
    from overlayc.errors import InputError

    good = target()
    rec, _ = make(scripted(good, InputError("/etc/overlayc/keys/a.key: must be readable by its owner only")),
                  lambda t: applied(Outcome.NOTHING), FakeTime())
    rec.run_round()
    report = rec.run_round()
    assert (report.outcome, report.enforced, report.exit_code) == (RoundOutcome.ERROR, "last-good", 1)
    assert report.error is not None and "readable by its owner only" in report.error


def test_a_stop_saves_the_counters_once_with_the_last_good_target_at_that_time() -> None:
    """SIGTERM (systemd stopping the agent before a reboot): after the round, `on_stop` gets the
    last good target at the current time, once — the last save of the SA counters."""
    fake = FakeTime()
    stops: list[Target] = []
    rec, reports = make(lambda at: target(), lambda t: applied(Outcome.NOTHING), fake, on_stop=stops.append)

    def sleep(seconds: float) -> None:
        fake.sleeps.append(seconds)
        fake.now += 5
        rec.control.request_stop()

    rec.sleep = sleep
    rec.run()
    assert len(reports) == 1 and len(stops) == 1
    assert stops[0].node == "host-a" and stops[0].at == datetime.fromtimestamp(T0 + 5, UTC)


def test_once_or_no_good_input_saves_nothing_on_exit() -> None:
    stops: list[Target] = []
    rec, _ = make(lambda at: target(), lambda t: applied(Outcome.NOTHING), FakeTime(), on_stop=stops.append)
    rec.run(once=True)
    bad, _ = make(scripted(BAD), lambda t: applied(Outcome.NOTHING), FakeTime(), on_stop=stops.append)
    bad.sleep = lambda seconds: bad.control.request_stop()
    bad.run()
    assert stops == [], "nothing to save without a target that was ever good"


def test_apply_notes_reach_the_round_log_line() -> None:
    note = "no saved counters for the SAs of epoch 7: sending on the SAs of epoch 8 until it begins"

    def apply(t: Target) -> Applied:
        return dataclasses.replace(applied(Outcome.CHANGED, 1), notes=(note,))

    rec, reports = make(lambda at: target(), apply, FakeTime())
    rec.run(once=True)
    assert reports[0].notes == (note,) and round_to_json(reports[0])["notes"] == [note]
    quiet, more = make(lambda at: target(), lambda t: applied(Outcome.NOTHING), FakeTime())
    quiet.run(once=True)
    assert "notes" not in round_to_json(more[0])
