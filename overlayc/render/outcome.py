"""What an apply or a destroy did, in the words the CLI prints (pure).

`render_apply_outcome(applied)` returns the lines for stdout and for stderr; the exit code is the
outcome's (`Outcome.exit_code`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from overlayc.apply.run import Outcome

if TYPE_CHECKING:  # not imported at run time: `plan` never loads the executor
    from overlayc.apply.session import Applied


@dataclass(frozen=True)
class Lines:
    """Text for standard output and for standard error (each may be empty)."""

    out: tuple[str, ...] = ()
    err: tuple[str, ...] = ()


def render_apply_outcome(applied: Applied, again: str = "overlayc plan") -> Lines:
    """`No changes…`, `Apply complete…`, or the failures and what the rollback achieved (`again`:
    the plan command that shows what differs after an incomplete rollback); the apply's notes
    (about the saved SA counters) first on stderr, as `overlayc: note: …`."""
    result, plan = applied.result, applied.plan
    notes = tuple(f"overlayc: note: {line}" for line in applied.notes)
    if result.outcome is Outcome.NOTHING:
        return Lines(out=(f"No changes. Node {plan.node} matches the configuration.",) if plan.empty else (),
                     err=notes)
    if result.outcome is Outcome.CHANGED:
        s = plan.summary()
        done = (f"Apply complete for {plan.node}: {s['add']} added, {s['change']} changed, "
                f"{s['replace']} replaced, {s['destroy']} destroyed; verified against the kernel.")
        return Lines(out=(done,), err=notes)
    err = [*notes, *(f"overlayc: error: {line}" for line in result.failures)]
    if result.outcome is Outcome.ROLLED_BACK:
        err.append(f"overlayc: apply failed; rolled back {result.executed} change(s): "
                   "the kernel is as it was before.")
    else:
        err += [f"overlayc: error: {line}" for line in result.rollback_problems]
        err.append(f"overlayc: apply failed and the rollback is INCOMPLETE: run `{again}` "
                   "to see what differs.")
    return Lines(err=tuple(err))


def render_destroy_outcome(applied: Applied) -> Lines:
    """`Nothing to destroy…` or `Destroy complete: N object(s) removed.` (nothing when declined)."""
    if applied.plan.empty:
        return Lines(out=("Nothing to destroy: overlayc owns nothing here.",))
    if applied.result.executed:
        return Lines(out=(f"Destroy complete: {len(applied.plan.changes)} object(s) removed.",))
    return Lines()
