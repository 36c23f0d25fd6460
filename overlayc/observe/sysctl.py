"""Read sysctls and kernel facts of a network namespace (read-only side effects).

`/proc/sys/net` shows the network namespace of the task that opens it, and `setns(2)` with
CLONE_NEWNET changes only the calling thread, so a short-lived thread that enters the
namespace reads that namespace's values without touching the rest of the process.
"""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from overlayc.errors import EnvironmentProblem

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = Path("/run/netns")
T = TypeVar("T")


def in_netns(netns: str | None, fn: Callable[[], T]) -> T:
    """Run `fn` in a thread that has entered namespace `netns` (None: the current one)."""
    if netns is None:
        return fn()
    path = NETNS_RUN_DIR / netns
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as err:
            error.append(EnvironmentProblem(f"network namespace {netns!r}: {err.strerror}"))
            return
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(fd, CLONE_NEWNET) != 0:
                errno = ctypes.get_errno()
                reason = os.strerror(errno)
                error.append(EnvironmentProblem(f"cannot enter network namespace {netns!r}: {reason}"))
                return
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)
        finally:
            os.close(fd)

    thread = threading.Thread(target=target, name=f"overlayc-netns-{netns}")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def fail_closed_sysctls(underlay: str | None) -> list[str]:
    """The sysctls that must read 0 for the XFRM policies to fail closed
    (shared/reference/xfrm-enforcement.md, "Caveats"); the device ones only when it is known."""
    names = ["net.ipv4.conf.all.disable_policy"]
    if underlay is not None:
        names += [f"net.ipv4.conf.{underlay}.disable_policy", f"net.ipv4.conf.{underlay}.disable_xfrm"]
    return names


def read_sysctls(netns: str | None, names: Sequence[str]) -> dict[str, str | None]:
    """`{"net.ipv4.conf.all.disable_policy": "0", ...}`; None for a sysctl that does not exist."""

    def read() -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for name in names:
            try:
                out[name] = Path("/proc/sys", *name.split(".")).read_text().strip()
            except OSError:
                out[name] = None
        return out

    return in_netns(netns, read)


def kernel_config() -> str | None:
    """The running kernel's build configuration, when it exposes one."""
    for path in (Path("/proc/config.gz"), Path(f"/boot/config-{os.uname().release}")):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        return gzip.decompress(data).decode() if path.suffix == ".gz" else data.decode()
    return None


def loadable_modules() -> set[str] | None:
    """Names of the modules the running kernel could load, or None when it has no module tree."""
    tree = Path("/lib/modules") / os.uname().release
    if not tree.is_dir():
        return None
    # modules.dep (written by depmod) lists every module in one file; walking the tree instead
    # costs seconds on a slow filesystem (30 s per apply on 9p in the ESP lab, measured)
    try:
        paths = [line.split(":", 1)[0] for line in (tree / "modules.dep").read_text().splitlines()]
    except OSError:
        paths = [str(p) for p in tree.rglob("*.ko*")]
    names = {Path(p).name.split(".ko")[0].replace("-", "_") for p in paths if ".ko" in p}
    with contextlib.suppress(OSError):
        builtin = (tree / "modules.builtin").read_text().split()
        names |= {Path(line).name.split(".ko")[0].replace("-", "_") for line in builtin}
    return names
