"""Two calls at once: one on a worker thread, one on the calling thread.

For netlink conversations on two sockets (entry streams, overlayc.apply.streams; the FDB and the
neighbour dumps, overlayc.observe.kernel): `socket.send` and `recv_into` release the interpreter
lock, so one conversation's kernel work overlaps the other's Python, and both kernels' work runs
on two cores.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")


def both(first: Callable[[], T], second: Callable[[], U], halt: threading.Event | None = None) -> tuple[T, U]:
    """(first(), second()), `first` run on a worker thread while `second` runs on this one. What
    either raises sets `halt` (when given) and is raised (the first's first) once both have ended:
    the worker is always waited for, so its socket is never left mid-conversation."""
    got: list[T] = []
    raised: list[BaseException] = []

    def work() -> None:
        try:
            got.append(first())
        except BaseException as exc:
            if halt is not None:
                halt.set()
            raised.append(exc)

    worker = threading.Thread(target=work, name="overlayc-netlink", daemon=True)
    worker.start()
    try:
        mine = second()
        worker.join()
    except BaseException:  # also a signal's exception (KeyboardInterrupt) while waiting
        if halt is not None:
            halt.set()
        worker.join()
        raise
    if raised:
        raise raised[0]
    return got[0], mine
