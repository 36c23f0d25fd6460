"""The bench waits for the machine to settle before each measured run (bench.core.settle): the
kernel frees a deleted namespace's entries on its own workers after `ip netns del` returns."""

from __future__ import annotations

import pytest

from bench import core


def test_settle_waits_until_the_machine_is_nearly_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = iter([1.0, 0.9, 0.1, 1.0])
    calls: list[float] = []

    def busy(window: float) -> float:
        calls.append(window)
        return next(seen)

    monkeypatch.setattr(core, "_busy_cores", busy)
    core.settle()
    assert len(calls) == 3


def test_settle_gives_up_on_a_machine_busy_with_other_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "_busy_cores", lambda window: 2.0)
    monkeypatch.setattr(core, "SETTLE_MAX", 0.0)
    core.settle()  # returns: measured anyway


def test_every_measured_run_starts_settled(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(core, "settle", lambda: events.append("settle"))

    def variant(name: str) -> core.Variant:
        return core.Variant(run=lambda ctx: events.append(name),
                            teardown=lambda ctx: events.append("teardown"))

    variants = {name: variant(name) for name in ("a", "b")}
    core.measure(variants, core.Rounds(repeat=1, warmup=1))
    assert events == ["settle", "a", "teardown", "settle", "b", "teardown"] * 2


def test_busy_cores_reads_proc_stat() -> None:
    assert 0.0 <= core._busy_cores(0.01) <= 64
