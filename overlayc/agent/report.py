"""One reconcile round as the agent reports it: how it ended (`RoundOutcome`), what it did
(`RoundReport`, one JSON line per round and the metrics' input), and `reconcile --once`'s exit
codes (apply's detailed codes, 65 for an invalid configuration, 1 for any other error)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from overlayc.apply.run import Outcome
from overlayc.errors import Diagnostic


class RoundOutcome(enum.StrEnum):
    """How a round ended; `EXIT_CODES` maps it onto `reconcile --once` (apply's detailed codes)."""

    UNCHANGED = "unchanged"
    CHANGED = "changed"
    ROLLED_BACK = "rolled_back"
    INCOMPLETE = "incomplete"
    INVALID_CONFIG = "invalid_config"
    ERROR = "error"


EXIT_CODES: dict[RoundOutcome, int] = {
    RoundOutcome.UNCHANGED: 0, RoundOutcome.CHANGED: 2, RoundOutcome.ROLLED_BACK: 3,
    RoundOutcome.INCOMPLETE: 4, RoundOutcome.INVALID_CONFIG: 65, RoundOutcome.ERROR: 1,
}
FROM_APPLY = {Outcome.NOTHING: RoundOutcome.UNCHANGED, Outcome.CHANGED: RoundOutcome.CHANGED,
               Outcome.ROLLED_BACK: RoundOutcome.ROLLED_BACK,
               Outcome.ROLLBACK_INCOMPLETE: RoundOutcome.INCOMPLETE}


@dataclass(frozen=True)
class RoundReport:
    """One round, as logged (one JSON line) and counted in the metrics.

    `changes`: the round's plan by action (create/update/replace/delete), also when it was rolled
    back; `enforced`: "config" (the configuration as read), "last-good" (it could not be used, the
    last good one was applied instead) or "none"; `attempts`: applies tried in this round."""

    ts: datetime
    node: str | None
    round: int
    outcome: RoundOutcome
    changes: Mapping[str, int]
    duration_s: float
    epoch: int | None
    error: str | None = None
    diagnostics: tuple[Diagnostic, ...] = ()
    attempts: int = 0
    enforced: str = "none"
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.outcome not in (RoundOutcome.UNCHANGED, RoundOutcome.CHANGED)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    @property
    def drift(self) -> int:
        """Objects that differed from the enforced configuration when the round started."""
        return sum(self.changes.values())
