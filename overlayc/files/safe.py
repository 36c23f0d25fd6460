"""Safe file primitives: directories and files created with fixed modes whatever the umask,
never through a symbolic link, replaced atomically, read with a size cap.

    ensure_dir(path, mode=0o700)                  create (parents 0755) or check, chmod to `mode`
    write_atomic(path, data, mode=0o644)          temp file O_EXCL|O_NOFOLLOW, fsync, rename, fsync dir
    read_capped(path, limit)                      bytes of a regular file, at most `limit`
    read_input(path, limit, what)                 the same for a file the user named (links followed)
    open_nofollow(path, flags, mode)              a descriptor, never through a symlink

Errors are `InputError` naming the path and the reason in words.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from overlayc.errors import InputError

MiB = 1024 * 1024


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    """Make `path` a directory with exactly `mode` (missing parents get 0755), or check that it is
    one: a symbolic link, a non-directory, or a directory of another user (not root) in its
    place is refused. Returns `path`."""
    try:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, mode)
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode):
            raise InputError(f"{path}: exists and is not a directory (a symbolic link is refused too)")
        if info.st_uid not in (os.geteuid(), 0):  # another user could plant links in it
            raise InputError(f"{path}: owned by uid {info.st_uid}, not by this user or root; refusing it")
        if stat.S_IMODE(info.st_mode) != mode and info.st_uid == os.geteuid():
            os.chmod(path, mode)
    except OSError as err:
        raise InputError(f"{path}: cannot create the directory: {err.strerror}") from None
    return path


def open_nofollow(path: Path, flags: int, mode: int = 0o600, *, follow: bool = False) -> int:
    """`os.open` that never follows a symbolic link at `path` (unless `follow`: a file the user
    named) and never opens a FIFO or device (O_NONBLOCK, so a FIFO without a writer does not
    block the open, then checked to be a regular file)."""
    nofollow = 0 if follow else os.O_NOFOLLOW
    try:
        fd = os.open(path, flags | nofollow | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as err:
        if err.errno == errno.ELOOP and not follow:
            raise InputError(f"{path}: is a symbolic link; refusing to follow it") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(
            info.st_mode) else "a device or socket"
        raise InputError(f"{path}: not a regular file ({kind})")
    os.set_blocking(fd, True)
    return fd


def read_input(path: Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a file the user named (`-f`, `--state`, a saved plan, `--key-file`): symbolic
    links are followed, but it must be a regular file (never a FIFO that would block forever, a
    device such as /dev/zero, or a directory) of at most `limit` bytes. InputError otherwise,
    naming `what` it was meant to be."""
    try:
        fd = open_nofollow(path, os.O_RDONLY, follow=True)
    except InputError as err:
        raise InputError(f"cannot read the {what} {err}") from None
    except OSError as err:
        raise InputError(f"cannot read the {what} {path}: {err.strerror}") from None
    return _read_fd(fd, limit, f"{path}: the {what} is larger than {limit // MiB} MiB, the limit for it")


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` atomically: a fresh temporary file next to it (O_EXCL, never a
    link, exactly `mode`), written and fsynced, renamed over `path`, then the directory fsynced.
    The temporary name is per process, so two concurrent writers never rename each other's file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
        try:
            os.fchmod(fd, mode)  # the umask only removes bits; the mode is exact whatever it is
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write: {err.strerror}") from None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_capped(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at `path`; InputError when it is missing, not a regular file
    (a FIFO, a device, a directory), a symbolic link, or larger than `limit` bytes."""
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from None
    return _read_fd(fd, limit, f"{path}: larger than {limit // MiB} MiB, the limit for this file")


def _read_fd(fd: int, limit: int, too_big: str) -> bytes:
    """At most `limit` bytes from `fd` (closed afterwards); InputError(`too_big`) past that.

    Read with a buffer of the file's size (and one byte more, to see it end): a read of
    `limit + 1` bytes allocates that much and then shrinks it to what the file held, a copy
    of the whole file (~1.5 ms per 3 MB, the assignment cache and the lock of every apply).
    A file that grew meanwhile is read on, up to the cap."""
    with os.fdopen(fd, "rb") as fh:
        expected = min(os.fstat(fd).st_size, limit)
        data = fh.read(expected + 1)
        if len(data) > expected:
            data += fh.read(limit + 1 - len(data))
    if len(data) > limit:
        raise InputError(too_big)
    return data
