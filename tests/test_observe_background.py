"""Observe on a worker thread (overlayc.observe.background) and the thread-safe gc pause it needs:
results and errors cross threads unchanged, the worker always ends, errors keep the order they had
before the overlap, and `plan` writes no lock when its observe fails."""

from __future__ import annotations

import gc
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from overlayc import planlive
from overlayc.errors import EnvironmentProblem, InputError, NeedsPrivileges
from overlayc.exitcodes import Exit
from overlayc.gcpause import paused_gc
from overlayc.observe import background
from overlayc.observe.background import in_background
from tests.support.cli import run
from tests.support.host import ROOT


def test_the_body_gets_the_workers_result_and_the_worker_has_ended() -> None:
    seen: list[threading.Thread] = []

    def work() -> int:
        seen.append(threading.current_thread())
        return 42

    with in_background(work) as job:
        assert job.result() == 42
    assert seen[0] is not threading.main_thread()
    assert not seen[0].is_alive()


def test_the_workers_error_is_raised_in_the_body_as_the_same_object() -> None:
    err = NeedsPrivileges("reading kernel state needs CAP_NET_ADMIN")

    def work() -> None:
        raise err

    with pytest.raises(NeedsPrivileges) as got, in_background(work) as job:
        job.result()
    assert got.value is err and got.value.exit_code == err.exit_code


def test_check_raises_the_workers_error_and_passes_when_it_returned() -> None:
    with in_background(lambda: 1) as job:
        job.check()
    with pytest.raises(EnvironmentProblem, match="gone"), \
            in_background(_raise(EnvironmentProblem("gone"))) as failing:
        failing.check()


def _raise(err: BaseException) -> Callable[[], None]:
    def fn() -> None:
        raise err
    return fn


def test_when_both_fail_the_worker_first_by_default_else_the_body() -> None:
    with pytest.raises(EnvironmentProblem, match="namespace gone"), \
            in_background(_raise(EnvironmentProblem("namespace gone"))):
        raise InputError("unknown node 'x'")
    with pytest.raises(InputError, match="unknown node"), \
            in_background(_raise(EnvironmentProblem("namespace gone")), worker_first=False):
        raise InputError("unknown node 'x'")


def test_a_failing_body_waits_for_the_worker_and_leaves_no_thread() -> None:
    release = threading.Event()
    done: list[bool] = []

    def work() -> None:
        release.wait(5)
        done.append(True)

    before = threading.active_count()
    with pytest.raises(InputError), in_background(work):
        threading.Timer(0.05, release.set).start()
        raise InputError("the lock cannot be read")
    assert done == [True]
    release.set()
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.join()
    assert threading.active_count() == before


def test_the_switch_interval_is_lowered_while_the_worker_runs_and_restored() -> None:
    before = sys.getswitchinterval()
    with in_background(lambda: sys.getswitchinterval()) as job:
        during = job.result()
    assert during <= background.SWITCH_INTERVAL < before
    assert sys.getswitchinterval() == before
    with pytest.raises(InputError), in_background(lambda: None):
        raise InputError("x")
    assert sys.getswitchinterval() == before


# --- paused_gc across threads --------------------------------------------------------------------
@pytest.fixture
def gc_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def _step_pause(entered: threading.Event, leave: threading.Event) -> None:
    with paused_gc():
        entered.set()
        leave.wait(5)


def test_pauses_of_two_threads_keep_gc_off_until_the_last_one_ends(gc_enabled: None) -> None:
    # thread A pauses, then B; A ends first: B still runs, so the collector must stay off
    a_in, a_out, b_in, b_out = (threading.Event() for _ in range(4))
    a = threading.Thread(target=_step_pause, args=(a_in, a_out))
    b = threading.Thread(target=_step_pause, args=(b_in, b_out))
    a.start()
    a_in.wait(5)
    b.start()
    b_in.wait(5)
    a_out.set()
    a.join()
    assert not gc.isenabled()
    b_out.set()
    b.join()
    assert gc.isenabled()


def test_pauses_nest_and_keep_a_disabled_collector_disabled(gc_enabled: None) -> None:
    with paused_gc():
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    with paused_gc():
        pass
    assert not gc.isenabled()
    gc.enable()


# --- plan: observe overlapped with reading the lock ---------------------------------------------
@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The seed config without a lock next to it: a plan writes one."""
    path = tmp_path / "overlay.yaml"
    shutil.copy(ROOT / "examples/seed/overlay.yaml", path)
    return path


@pytest.fixture
def failing_observe(monkeypatch: pytest.MonkeyPatch) -> NeedsPrivileges:
    """observe raises, late (the lock is resolved by then), as it does without CAP_NET_ADMIN."""
    err = NeedsPrivileges("reading kernel state needs CAP_NET_ADMIN")

    def observe(netns: str | None, cluster: str | None = None) -> None:
        time.sleep(0.3)
        raise err

    monkeypatch.setattr(planlive, "observe", observe)
    return err


def test_plan_whose_observe_fails_reports_it_and_writes_no_lock(config: Path, failing_observe: NeedsPrivileges
                                                               ) -> None:
    code, _, err = run("plan", "-f", str(config), "--node", "node1")
    assert (code, err) == (failing_observe.exit_code, f"overlayc: error: {failing_observe}\n")
    assert not (config.parent / "overlayc.lock").exists()


def test_plan_reports_the_observe_error_before_an_unknown_node(config: Path, failing_observe: NeedsPrivileges
                                                              ) -> None:
    code, _, err = run("plan", "-f", str(config), "--node", "node9")
    assert (code, err) == (failing_observe.exit_code, f"overlayc: error: {failing_observe}\n")


def test_plan_reports_a_lock_error_when_observe_succeeds(config: Path, netns: str) -> None:
    (config.parent / "overlayc.lock").write_text("version: [not a lock\n")
    code, _, err = run("plan", "-f", str(config), "--node", "node1", "--netns", netns)
    assert code == Exit.INVALID_CONFIG and "overlayc.lock" in err and "Traceback" not in err
    assert [t for t in threading.enumerate() if t.name.startswith("overlayc-observe")] == []
