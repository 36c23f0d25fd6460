"""The apply lock: exclusive per namespace, names its holder when a waiter gives up."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import time
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest

from overlayc.apply import lock as lockmod
from overlayc.errors import LockBusy


@pytest.fixture(autouse=True)
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(lockmod, "LOCK_DIR", tmp_path)
    return tmp_path


Event = multiprocessing.synchronize.Event


def _hold(lock_dir: str, ready: Event, release: Event) -> None:
    lockmod.LOCK_DIR = Path(lock_dir)
    with lockmod.apply_lock("oct-a", timeout=1, operation="apply"):
        ready.set()
        release.wait(10)


def _holder(lock_dir: Path) -> tuple[BaseProcess, Event]:
    """A forked process holding the apply lock of `oct-a` (asserted) until the event is set."""
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(lock_dir), ready, release))
    proc.start()
    assert ready.wait(10)
    return proc, release


def test_second_holder_times_out_naming_the_first(lock_dir: Path) -> None:
    proc, release = _holder(lock_dir)
    try:
        with pytest.raises(LockBusy) as info, lockmod.apply_lock("oct-a", timeout=0.2, operation="apply"):
            pass
        assert f"pid {proc.pid}" in str(info.value)
        assert "--lock-timeout" in str(info.value)
        assert info.value.exit_code == 75
    finally:
        release.set()
        proc.join(10)


def test_waiter_gets_the_lock_when_the_holder_finishes(lock_dir: Path) -> None:
    proc, release = _holder(lock_dir)
    release.set()
    with lockmod.apply_lock("oct-a", timeout=10, operation="apply") as path:
        assert path == lock_dir / "netns-oct-a.lock"
        assert '"pid"' in path.read_text()
    proc.join(10)


def test_locks_of_different_namespaces_are_independent(lock_dir: Path) -> None:
    with lockmod.apply_lock("oct-a", timeout=0, operation="apply"), \
            lockmod.apply_lock("oct-b", timeout=0, operation="apply"), \
            lockmod.apply_lock(None, timeout=0, operation="apply") as host:
        assert host.name == "host.lock"


def test_lock_is_released_when_the_holder_dies(lock_dir: Path) -> None:
    proc, _ = _holder(lock_dir)
    proc.kill()
    proc.join(10)
    start = time.monotonic()
    with lockmod.apply_lock("oct-a", timeout=5, operation="apply"):
        assert time.monotonic() - start < 5
