"""overlayc.netlink.parallel.both: two calls at once, what they raise, and the halt it sets."""

from __future__ import annotations

import threading

import pytest

from overlayc.netlink.parallel import both

WAIT = 10.0


def test_both_run_at_once_and_both_results_come_back() -> None:
    barrier = threading.Barrier(2, timeout=WAIT)  # broken unless the two calls overlap

    def first() -> int:
        barrier.wait()
        return threading.get_ident()

    def second() -> str:
        barrier.wait()
        return "mine"

    ident, mine = both(first, second)
    assert mine == "mine" and ident != threading.get_ident()


@pytest.mark.parametrize("failing", ["first", "second"])
def test_a_raise_on_either_side_sets_halt_and_is_raised_after_both_ended(failing: str) -> None:
    halt, ended = threading.Event(), threading.Event()

    def first() -> None:
        if failing == "first":
            raise OSError(5, "first failed")
        assert halt.wait(WAIT)  # the other side's failure is seen here
        ended.set()

    def second() -> None:
        if failing == "second":
            raise OSError(5, "second failed")
        assert halt.wait(WAIT)

    with pytest.raises(OSError, match=f"{failing} failed"):
        both(first, second, halt)
    assert halt.is_set()
    assert ended.is_set() or failing == "first"  # the worker was waited for, never left running
