"""Apply: execute an ordered plan, verify by re-observing, roll back on any failure.

The kernel is reached only through the `Kernel` protocol (observe + execute; execute raises
ExecutionError naming what it applied), so the same code runs against the real kernel
(`overlayc.apply.kernel.KernelHandle` + `overlayc.observe`) and against the simulated kernel of
the tests.

Outcomes map onto `apply --detailed-exitcode`: NOTHING 0, CHANGED 2, ROLLED_BACK 3,
ROLLBACK_INCOMPLETE 4.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from overlayc.diff import Change, diff
from overlayc.errors import ExecutionError, OverlaycError
from overlayc.kernel.ownership import key_text
from overlayc.kernel.state import KernelState, Observed

Progress = Callable[[int], None]


class Kernel(Protocol):
    def observe(self) -> Observed: ...

    def execute(self, changes: Sequence[Change], progress: Progress | None = None) -> None: ...


class Outcome(enum.IntEnum):
    """How an apply ended; the values are `apply --detailed-exitcode`'s exit codes."""

    NOTHING = 0
    CHANGED = 2
    ROLLED_BACK = 3
    ROLLBACK_INCOMPLETE = 4

    def exit_code(self, detailed: bool) -> int:
        """The command's exit code: a successful change is 0 unless `--detailed-exitcode`."""
        return 0 if self is Outcome.CHANGED and not detailed else int(self)


@dataclass
class ApplyResult:
    outcome: Outcome
    executed: int = 0
    failures: list[str] = field(default_factory=list)
    rollback_problems: list[str] = field(default_factory=list)


def change_label(change: Change) -> str:
    return f"{change.action} {key_text(change.key)}"


def apply_changes(
    kernel: Kernel,
    desired: KernelState,
    changes: Sequence[Change],
    *,
    progress: Progress | None = None,
    after_execute: Callable[[], None] | None = None,
    prior: KernelState | None = None,
) -> ApplyResult:
    """Execute `changes` (already ordered), then verify that the kernel holds `desired`.

    On an execution error, a failed `after_execute` check, or a non-empty verification diff,
    every applied change is undone in reverse and the kernel is checked to be back in its prior
    state. `prior` is that state when the caller has just observed it (the owned state it
    planned from, under the apply lock); None: observe it here. Never raises for kernel
    failures: the outcome says what happened.
    """
    if not changes:
        return ApplyResult(Outcome.NOTHING)
    if prior is None:
        prior = kernel.observe().owned
    applied: tuple[int, ...] = tuple(range(len(changes)))
    failures: list[str] = []
    try:
        kernel.execute(changes, progress)
    except ExecutionError as err:
        applied = err.applied
        failures = [f"{change_label(changes[i])}: {msg}" for i, msg in err.failures]
    except OverlaycError as err:
        applied, failures = (), [str(err)]  # nothing is known to be applied: check below
    if not failures:
        failures = _verify(kernel, desired, after_execute)
    if not failures:
        return ApplyResult(Outcome.CHANGED, executed=len(changes))
    problems = rollback(kernel, [changes[i] for i in applied], prior)
    outcome = Outcome.ROLLBACK_INCOMPLETE if problems else Outcome.ROLLED_BACK
    return ApplyResult(outcome, executed=len(applied), failures=failures, rollback_problems=problems)


def _verify(kernel: Kernel, desired: KernelState, after_execute: Callable[[], None] | None) -> list[str]:
    """Re-observe and re-diff: the list of what is still not as desired (empty when verified)."""
    if after_execute is not None:
        try:
            after_execute()
        except OverlaycError as err:
            return [str(err)]
    remaining = diff(desired, kernel.observe())
    return [f"verification: after apply the kernel still needs {change_label(c)}" for c in remaining]


def rollback(kernel: Kernel, applied: Sequence[Change], prior: KernelState) -> list[str]:
    """Undo `applied` (inverses in reverse order), then compare the kernel with `prior`.

    Returns what could not be restored (empty: the owned state equals the prior state again).
    Inverses that fail are reported and the rest still run, so as much as possible is restored.
    """
    inverses = [c.inverse() for c in reversed(applied)]
    problems: list[str] = []
    while inverses:
        try:
            kernel.execute(inverses)
            break
        except ExecutionError as err:
            failed = {i for i, _ in err.failures}
            problems += [f"rollback: {change_label(inverses[i])}: {msg}" for i, msg in err.failures]
            done = set(err.applied) | failed
            inverses = [c for i, c in enumerate(inverses) if i not in done]
            if not done:
                break
        except OverlaycError as err:
            problems.append(f"rollback: {err}")
            break
    still = diff(prior, kernel.observe())
    if still:
        problems += [f"not restored: {change_label(c)}" for c in still]
    elif problems:
        problems = []  # every failed inverse turned out not to matter: the prior state is back
    return problems

