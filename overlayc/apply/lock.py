"""The apply lock: two applies (or an apply and a destroy) on one namespace never interleave.

One lock file per target namespace under `LOCK_DIR` (`/run/overlayc`, a tmpfs: `$OVERLAYC_LOCK_DIR`
moves it), held with `flock(2)` for the whole operation; the holder writes who it is into the file
so that a waiter that times out can name it, and removes the file when it is done, so nothing is
left behind. The kernel releases a flock when its holder dies, so a crashed apply never leaves a
stale lock (only its empty-of-meaning file, which the next holder takes over and removes).
The directory is made 0755 and the file 0644 whatever the umask; the file is never opened through
a symbolic link (a link planted there would make root truncate its target).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from overlayc.errors import EnvironmentProblem, InputError, LockBusy
from overlayc.files.safe import ensure_dir, open_nofollow
from overlayc.options import netns_problem

LOCK_DIR = Path(os.environ.get("OVERLAYC_LOCK_DIR", "/run/overlayc"))
_POLL_S = 0.05


def lock_path(netns: str | None) -> Path:
    """`/run/overlayc/netns-<name>.lock`, or `host.lock` for the current namespace. A name that
    `ip netns` would refuse (a path, `..`) is an InputError: it never becomes a path."""
    if netns is not None and (problem := netns_problem(netns)) is not None:
        raise InputError(problem)
    return LOCK_DIR / (f"netns-{netns}.lock" if netns else "host.lock")


def _describe_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return "another overlayc process"
    if not isinstance(info, dict) or not info:
        return "another overlayc process"
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(info.get("since", 0)))
    return f"pid {info.get('pid')} on {info.get('host')} ({info.get('command')}) since {since}"


def _open(path: Path) -> int:
    """The lock file's descriptor: created 0644, never through a link."""
    try:
        fd = open_nofollow(path, os.O_RDWR | os.O_CREAT, 0o644)
        if os.fstat(fd).st_uid == os.geteuid():
            os.fchmod(fd, 0o644)
    except OSError as err:
        raise EnvironmentProblem(f"cannot open the lock file {path}: {err.strerror}") from None
    return fd


def _open_locked(path: Path, timeout: float, operation: str) -> int:
    """A descriptor of `path` holding its flock, waiting up to `timeout` seconds.

    The holder unlinks the file when it is done (so that no file is left behind per namespace
    ever touched); a waiter that got the flock of a file unlinked meanwhile, or replaced by a new
    one, holds nothing that others see: it checks that the path still names its inode, else
    opens the new file and tries again."""
    ensure_dir(path.parent, 0o755)
    deadline = time.monotonic() + timeout
    while True:
        fd = _open(path)
        try:
            _flock(fd, path, deadline, timeout, operation)
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the file we waited on is gone: take the current one


def _flock(fd: int, path: Path, deadline: float, timeout: float, operation: str) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockBusy(
                    f"{operation}: the lock {path} is held by {_describe_holder(fd)}; "
                    f"gave up after {timeout:g}s (--lock-timeout)"
                ) from None
            time.sleep(_POLL_S)


@contextmanager
def apply_lock(netns: str | None, timeout: float, operation: str) -> Iterator[Path]:
    """Hold the lock of `netns` for the duration of the block.

    Waits up to `timeout` seconds for a holder to finish, then raises LockBusy naming it. The
    lock file exists only while someone holds or waits for it: the holder removes it on release.
    """
    path = lock_path(netns)
    fd = _open_locked(path, timeout, operation)
    try:
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200],
            "since": int(time.time()),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # while still holding the flock: waiters re-check the inode
        os.close(fd)  # closing the descriptor releases the flock
