"""The reconcile loop: plan + apply + verify in rounds, forever (`overlayc reconcile`).

Each round re-reads the configuration (files, lock, key file, which node this is) and applies it
without a prompt through `apply_target` (lock, preflight, execute, verify, roll back). The loop
survives what a GitOps node meets in practice:

- an invalid configuration pushed to git: the round is `invalid_config` (failed), its diagnostics
  are in the round's log line, and the agent keeps enforcing the LAST GOOD input (so drift is
  still repaired and keys keep rotating); nothing is torn down. The same holds for any other
  input that cannot be used (an outdated lock under `--locked`, an unreadable key file);
- transient kernel trouble (the apply lock held by someone else, a refused netlink request that
  was rolled back, ENOBUFS/EBUSY...): retried within the round with exponential backoff,
  at most `RetryPolicy.attempts` times;
- SIGTERM: the current round finishes, then the loop returns (exit 0); during a sleep it
  returns at once. Either way the SA counters are read from the kernel and saved once more
  (`on_stop`), so that a reboot that follows loses none of them (DESIGN.md §4). SIGHUP: the
  current round finishes, then a new round starts immediately
  (re-reading everything a round reads) instead of sleeping.

Scheduling: the next round starts at min(now + interval (± 10 % with jitter), the next epoch
boundary + EPOCH_DELAY) — the second term only when the configuration has an encrypted network,
so keys rotate on time without anyone running anything (DESIGN.md §4).

Everything with a side effect is injected (`prepare`, `apply`, `clock`, `sleep`, `sinks`), so
the loop is tested with a fake clock and a fake apply; `agent.run.kernel_reconciler` wires the
real ones.
"""

from __future__ import annotations

import dataclasses
import errno as E
import math
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from overlayc.agent.report import FROM_APPLY, RoundOutcome, RoundReport
from overlayc.apply.run import Outcome
from overlayc.apply.session import Applied
from overlayc.changeset import counts_of
from overlayc.compile.epoch import epoch_of
from overlayc.config.model import Config
from overlayc.diff import Action
from overlayc.errors import ConfigError, Diagnostic, ExecutionError, LockBusy, OverlaycError
from overlayc.inputs import Target

JITTER_FRACTION = 0.1  # ± 10 % of the interval, as strongSwan's rand_time
EPOCH_DELAY = 2.0  # seconds after an epoch boundary: the round that rotates the keys
TRANSIENT_ERRNOS = frozenset({E.EAGAIN, E.EBUSY, E.ENOBUFS, E.EINTR, E.ETIMEDOUT, E.ENOMEM})


@dataclass(frozen=True)
class RetryPolicy:
    """Within one round: up to `attempts` applies, sleeping base·2^k seconds (≤ cap) in between."""

    attempts: int = 4
    base: float = 1.0
    cap: float = 30.0

    def delays(self) -> Iterator[float]:
        for k in range(self.attempts - 1):
            yield min(self.cap, self.base * 2**k)


def is_transient(err: BaseException) -> bool:
    """Whether retrying the same apply may succeed: a busy lock, a kernel refusal, or a socket
    error with a transient errno. Invalid input, missing privileges or kernel features are not."""
    if isinstance(err, LockBusy | ExecutionError):
        return True
    return isinstance(err, OSError) and err.errno in TRANSIENT_ERRNOS


def next_epoch_wake(now: float, rotation: int, delay: float = EPOCH_DELAY) -> float:
    """The next `epoch boundary + delay` strictly after `now` (Unix seconds)."""
    return (math.floor((now - delay) / rotation) + 1) * rotation + delay


def next_wake(now: float, interval: float, *, rotation: int | None, jitter: bool = False,
              rand: Callable[[], float] = random.random) -> float:
    """When the next round starts (Unix seconds): now + interval (± JITTER_FRACTION·interval,
    uniform, with `jitter`), or earlier: right after the next epoch boundary (`rotation` set)."""
    spread = (2 * rand() - 1) * JITTER_FRACTION * interval if jitter else 0.0
    wake = now + interval + spread
    if rotation is not None:
        wake = min(wake, next_epoch_wake(now, rotation))
    return wake


def rotation_of(config: Config) -> int | None:
    """The epoch length when keys rotate at all (some network is encrypted), else None."""
    return config.cluster.encryption.rotation if any(n.is_encrypted for n in config.networks.values()) \
        else None


class Control:
    """Stop/reload requests (set from signal handlers) and an interruptible sleep."""

    def __init__(self) -> None:
        self.stop = False
        self.reload = False
        self._wake = threading.Event()

    def request_stop(self) -> None:
        self.stop = True
        self._wake.set()

    def request_reload(self) -> None:
        self.reload = True
        self._wake.set()

    def sleep(self, seconds: float) -> None:
        """Sleep up to `seconds`; returns early on a stop or reload request."""
        if not (self.stop or self.reload):
            self._wake.wait(max(0.0, seconds))
        self._wake.clear()


Prepare = Callable[[datetime], Target]
ApplyFn = Callable[[Target], Applied]
Sink = Callable[[RoundReport], None]
OnStop = Callable[[Target], None]


@dataclass
class Reconciler:
    """The loop. `prepare(at)` reads the input into a Target (raises ConfigError when invalid);
    `apply(target)` applies it; `clock()` is Unix time; `sleep(s)` waits (interruptibly);
    `on_stop(target)` runs once after a stop request, with the last good target at that time."""

    prepare: Prepare
    apply: ApplyFn
    interval: float
    control: Control = field(default_factory=Control)
    clock: Callable[[], float] = field(default=lambda: datetime.now(UTC).timestamp())
    sleep: Callable[[float], None] | None = None
    sinks: Sequence[Sink] = ()
    jitter: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rand: Callable[[], float] = random.random
    node_hint: str | None = None
    last_good: Target | None = None
    rounds: int = 0
    on_stop: OnStop | None = None

    def _sleep(self, seconds: float) -> None:
        (self.sleep or self.control.sleep)(seconds)

    def run(self, *, once: bool = False) -> RoundReport | None:
        """Run rounds until a stop request (or one round with `once`); returns the last report."""
        last: RoundReport | None = None
        while not self.control.stop:
            self.control.reload = False
            last = self.run_round()
            if once or self.control.stop:
                break
            if self.control.reload:
                continue
            rotation = rotation_of(self.last_good.config) if self.last_good is not None else None
            now = self.clock()
            wake = next_wake(now, self.interval, rotation=rotation, jitter=self.jitter, rand=self.rand)
            self._sleep(wake - now)
        if self.control.stop and self.on_stop is not None:
            target = self._last_good_at(datetime.fromtimestamp(self.clock(), UTC))
            if target is not None:
                self.on_stop(target)
        return last

    def run_round(self) -> RoundReport:
        """One round: read the input, apply it (or the last good one), report to every sink."""
        self.rounds += 1
        start = self.clock()
        at = datetime.fromtimestamp(start, UTC)
        outcome: RoundOutcome | None = None
        error: str | None = None
        diags: tuple[Diagnostic, ...] = ()
        target: Target | None
        try:
            target = self.prepare(at)
        except ConfigError as err:
            outcome, error = RoundOutcome.INVALID_CONFIG, f"invalid configuration: {err}"
            diags = tuple(err.diagnostics)
            target = self._last_good_at(at)
        except (OverlaycError, OSError) as err:
            outcome, error = RoundOutcome.ERROR, f"cannot use the configuration: {err}"
            target = self._last_good_at(at)
        enforced = "none" if target is None else "last-good" if outcome else "config"
        applied, attempts, apply_error = self._apply_with_retries(target)
        report = self._report(at, start, target, applied, attempts, enforced,
                              outcome, _join(error, apply_error), diags)
        if target is not None and outcome is None and not report.failed:
            self.last_good = target
        for sink in self.sinks:
            sink(report)
        return report

    def _last_good_at(self, at: datetime) -> Target | None:
        return None if self.last_good is None else dataclasses.replace(self.last_good, at=at)

    def _apply_with_retries(self, target: Target | None) -> tuple[Applied | None, int, str | None]:
        """(last Applied or None, attempts made, error text of a raised failure or None)."""
        if target is None:
            return None, 0, None
        delays = self.retry.delays()
        attempts = 0
        while True:
            attempts += 1
            try:
                applied, error = self.apply(target), None
            except (OverlaycError, OSError) as err:
                applied, error = None, str(err)
                if not is_transient(err):
                    return None, attempts, error
            if applied is not None and applied.result.outcome in (Outcome.NOTHING, Outcome.CHANGED):
                return applied, attempts, None
            delay = next(delays, None)
            if delay is None or self.control.stop:
                return applied, attempts, error
            self._sleep(delay)

    def _report(self, at: datetime, start: float, target: Target | None, applied: Applied | None,
                attempts: int, enforced: str, outcome: RoundOutcome | None, error: str | None,
                diags: tuple[Diagnostic, ...]) -> RoundReport:
        changes = {a.value: 0 for a in Action}
        if applied is not None:
            for action, count in counts_of(applied.plan.changes).items():  # entry runs: not built
                changes[action.value] += count
            if applied.result.failures:
                error = _join(error, "; ".join(applied.result.failures[:3]))
        if outcome is None:
            outcome = FROM_APPLY[applied.result.outcome] if applied is not None else RoundOutcome.ERROR
        notes = applied.notes if applied is not None else ()
        node = target.node if target is not None else self.node_hint
        rotation = rotation_of(target.config) if target is not None else None
        epoch = epoch_of(at, rotation) if rotation is not None else None
        return RoundReport(at, node, self.rounds, outcome, changes, max(0.0, self.clock() - start), epoch,
                           error, diags, attempts, enforced, notes)


def _join(a: str | None, b: str | None) -> str | None:
    return "; ".join(x for x in (a, b) if x) or None


