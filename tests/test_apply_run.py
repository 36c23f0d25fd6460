"""apply_changes on the simulated kernel: execute → verify → roll back on any failure."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlayc.apply.run import Outcome, Progress, apply_changes
from overlayc.diff import Change
from overlayc.errors import ExecutionError
from overlayc.kernel.state import KernelState, Observed
from tests.support.builders import compile_for
from tests.support.gen import generate_config
from tests.support.simkernel import SimError, SimKernel
from tests.support.strategies import plan, states


def compiled(seed: int, node_index: int = 0) -> KernelState:
    """A realistic node state: a generated cluster compiled for one of its nodes (no keys)."""
    config = generate_config(4, 3, seed)
    return compile_for(config, sorted(config.nodes)[node_index])


class SimAdapter:
    """The `Kernel` protocol over SimKernel, failing like KernelHandle does (ExecutionError)."""

    def __init__(self, state: KernelState, fail_at: set[int] | None = None,
                 drop: set[int] | None = None, fail_inverses: bool = False) -> None:
        self.sim = SimKernel.of(state)
        self.fail_at = fail_at or set()  # absolute change numbers that the kernel refuses
        self.drop = drop or set()  # absolute change numbers acknowledged but not performed
        self.fail_inverses = fail_inverses
        self.count = 0
        self.calls = 0

    def observe(self) -> Observed:
        return Observed(self.sim.snapshot())

    def execute(self, changes: Sequence[Change], progress: Progress | None = None) -> None:
        self.calls += 1
        applied: list[int] = []
        for i, change in enumerate(changes):
            n, self.count = self.count, self.count + 1
            rolling_back = self.calls > 1
            if n in self.fail_at or (rolling_back and self.fail_inverses):
                raise ExecutionError(tuple(applied), ((i, "the kernel refused: injected"),))
            if n not in self.drop:
                try:
                    self.sim.execute_one(change)
                except SimError as err:
                    raise ExecutionError(tuple(applied), ((i, str(err)),)) from None
            applied.append(i)
            if progress is not None:
                progress(len(applied))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(desired=states(False), live=states(False))
def test_apply_yields_desired_and_the_next_plan_is_empty(desired: KernelState, live: KernelState) -> None:
    kernel = SimAdapter(live)
    changes = plan(desired, live)
    result = apply_changes(kernel, desired, changes)
    assert result.outcome is (Outcome.CHANGED if changes else Outcome.NOTHING)
    assert kernel.sim.snapshot() == desired
    assert plan(desired, kernel.sim.snapshot()) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(desired=states(False), live=states(False), data=st.data())
def test_a_failure_at_any_position_rolls_back_to_the_prior_state(
    desired: KernelState, live: KernelState, data: st.DataObject
) -> None:
    changes = plan(desired, live)
    if not changes:
        return
    k = data.draw(st.integers(0, len(changes) - 1))
    kernel = SimAdapter(live, fail_at={k})
    result = apply_changes(kernel, desired, changes)
    assert result.outcome is Outcome.ROLLED_BACK
    assert result.executed == k
    assert result.failures and "injected" in result.failures[0]
    assert kernel.sim.snapshot() == live


def test_every_position_of_one_plan_rolls_back() -> None:
    live, desired = compiled(1), compiled(2)
    changes = plan(desired, live)
    assert len(changes) > 10
    for k in range(len(changes)):
        kernel = SimAdapter(live, fail_at={k})
        assert apply_changes(kernel, desired, changes).outcome is Outcome.ROLLED_BACK
        assert kernel.sim.snapshot() == live


def test_a_verification_difference_is_rolled_back() -> None:
    live = KernelState()
    desired = compiled(3)
    changes = plan(desired, live)
    kernel = SimAdapter(live, drop={len(changes) - 1})  # the kernel "acks" but loses the last one
    result = apply_changes(kernel, desired, changes)
    assert result.outcome is Outcome.ROLLED_BACK
    assert any(f.startswith("verification:") for f in result.failures)
    assert kernel.sim.snapshot() == live


def test_a_failing_rollback_is_reported_incomplete() -> None:
    live = KernelState()
    desired = compiled(4)
    changes = plan(desired, live)
    kernel = SimAdapter(live, fail_at={1}, fail_inverses=True)
    result = apply_changes(kernel, desired, changes)
    assert result.outcome is Outcome.ROLLBACK_INCOMPLETE
    assert any(p.startswith("not restored:") for p in result.rollback_problems)


def test_a_failed_post_check_rolls_back() -> None:
    from overlayc.errors import EnvironmentProblem

    live = KernelState()
    desired = compiled(5)
    kernel = SimAdapter(live)

    def sysctl_flipped() -> None:
        raise EnvironmentProblem("encryption would fail open: net.ipv4.conf.all.disable_policy = 1")

    result = apply_changes(kernel, desired, plan(desired, live), after_execute=sysctl_flipped)
    assert result.outcome is Outcome.ROLLED_BACK
    assert result.failures == ["encryption would fail open: net.ipv4.conf.all.disable_policy = 1"]
    assert kernel.sim.snapshot() == live


def test_nothing_to_do_touches_nothing() -> None:
    state = compiled(6)
    kernel = SimAdapter(state)
    assert apply_changes(kernel, state, []).outcome is Outcome.NOTHING
    assert kernel.calls == 0
