"""SIGTERM and SIGINT during an apply: roll back, never stop half-way.

`handled()` (the `apply`/`destroy` commands) installs handlers for the whole command. Outside an
`armed()` block they act at once, as the defaults would (SIGINT → KeyboardInterrupt, exit 130;
SIGTERM → exit 143): nothing has changed yet. Inside `armed()` — while changes are executed and
verified — a signal is only recorded; the executor asks `pending()` between changes and turns a
recorded signal into a failure, so the apply rolls back everything it did and the command exits
with the rollback code (3). Inside `quiet()` (a rollback, a destroy) signals are recorded and not
acted upon, so the rollback itself is never interrupted. SIGKILL cannot be caught: the intent
journal (overlayc.apply.journal) covers it.

Signal handlers are process state: this module is the one place that holds it. Without
`handled()` (the reconcile agent, tests) `pending()` is always None.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _State:
    installed = False
    recording = False  # inside armed()/quiet(): record instead of acting
    checking = False  # inside armed() but not quiet(): pending() reports
    received: int | None = None
    stopped: int | None = None  # a signal acted upon at once (outside armed()/quiet())


_state = _State()


def _handler(signum: int, frame: FrameType | None) -> None:
    if _state.recording:
        if _state.received is None:
            _state.received = signum
        return
    _state.stopped = signum
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


@contextmanager
def handled() -> Iterator[None]:
    """Install the handlers for the block (no-op outside the main thread), restore them after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in SIGNALS}
    _state.installed, _state.received, _state.stopped = True, None, None
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _state.installed = False


@contextmanager
def armed() -> Iterator[None]:
    """The block executes changes: signals are recorded and reported by `pending()`."""
    before = (_state.recording, _state.checking)
    _state.recording, _state.checking = True, True
    try:
        yield
    finally:
        _state.recording, _state.checking = before


@contextmanager
def quiet() -> Iterator[None]:
    """The block must run to its end (a rollback, a destroy): signals are recorded only."""
    before = (_state.recording, _state.checking)
    _state.recording, _state.checking = True, False
    try:
        yield
    finally:
        _state.recording, _state.checking = before


def pending() -> str | None:
    """The name of a signal received inside `armed()` (e.g. "SIGTERM"), or None."""
    if _state.installed and _state.checking and _state.received is not None:
        return signal.Signals(_state.received).name
    return None


def stopped_exit_code() -> int | None:
    """The exit code of a signal that stopped the command at once (143 SIGTERM, 130 SIGINT), or
    None. The handler raises SystemExit/KeyboardInterrupt wherever the main thread is, and code
    that wraps exceptions (a pydantic serializer callback, say) can hand it on as another
    exception: the CLI asks this before it calls anything a bug."""
    return None if _state.stopped is None else 128 + _state.stopped
