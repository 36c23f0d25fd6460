"""Observe on a worker thread while the calling thread does other work (`in_background`).

Most of a big observe is the kernel making the dump: in a no-op plan of 50k FDB + 50k neighbour
entries ~0.5 s of 1.1 s is spent inside recv_into (cProfile, kernel 6.1), where the GIL is
released. Run on a worker thread, that time hides behind what the calling thread does meanwhile
(reading the lock or its cache, compiling), and only Python work is left serial.

GIL hand-off: a thread that returns from a system call waits for the GIL until the holder drops
it, which a busy holder does only when asked, after `sys.getswitchinterval()` (5 ms by default).
A dump of 50k entries is ~260 recv() calls of ≤ 32 KiB (the kernel's netlink dump skb size), so
with the default the worker would wait up to 1.3 s in all for a GIL it needs for microseconds.
The interval is lowered to SWITCH_INTERVAL while a worker runs, and restored afterwards.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

SWITCH_INTERVAL = 0.0005  # seconds; 10× below the default, ~0.13 s at most for a 50k dump's recvs


class Background(Generic[T]):
    """`fn()` running on its own thread; `result()` waits for it and returns what it returned or
    raises what it raised (the same exception object, so its message and exit code are kept)."""

    def __init__(self, fn: Callable[[], T], name: str) -> None:
        self._fn = fn
        self._value: list[T] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            self._value.append(self._fn())
        except BaseException as err:  # handed to the caller's thread by result()
            self._error = err

    def start(self) -> None:
        self._thread.start()

    def wait(self) -> None:
        """Until `fn()` has returned or raised."""
        self._thread.join()

    def error(self) -> BaseException | None:
        """What `fn()` raised (None: it returned, or it still runs)."""
        return self._error

    def check(self) -> None:
        """Wait for `fn()`; raise what it raised (a gate before a side effect it must precede)."""
        self.result()

    def result(self) -> T:
        """What `fn()` returned, once it has; raises what it raised."""
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value[0]


@contextlib.contextmanager
def in_background(fn: Callable[[], T], name: str = "overlayc-observe", *,
                  worker_first: bool = True) -> Iterator[Background[T]]:
    """`fn()` runs on a worker thread while the body runs; the body takes its result with
    `result()`. The worker has always ended when the block is left, however it is left.

    When both raise, the exception of what ran first before the two were overlapped propagates,
    so a command reports the error it reported then, with the same message and exit code: the
    worker's with `worker_first` (plan observed the kernel before it read the lock), else the
    body's (apply compiled before it observed)."""
    job = Background(fn, name)
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, SWITCH_INTERVAL))
    try:
        job.start()
        try:
            yield job
        except BaseException:
            job.wait()
            if worker_first and (err := job.error()) is not None:
                raise err from None
            raise
        finally:
            job.wait()
    finally:
        sys.setswitchinterval(before)
