"""Network namespaces: the one place overlayc enters them, runs in them, creates and removes them.

`Namespace(name)` is a handle on `/run/netns/<name>` (None: the namespace of the process). It opens
the namespace once and gives every reader and writer the same sockets: `route` (NETLINK_ROUTE)
and `xfrm` (NETLINK_XFRM), each made on first use inside the namespace, and `second_route`, a
second NETLINK_ROUTE socket for a stream that runs beside the first (overlayc.apply.streams).
`run(fn)` calls `fn` in a worker thread that has entered the namespace, for what the kernel
resolves by the *calling task's* namespace (`/proc/sys/net`, `/proc/net/*`); the worker is started
once and reused.

Quirks: setns(2) and unshare(2) with CLONE_NEWNET act on the calling thread only, and a socket stays
in the namespace it was created in after its thread leaves it. So a socket is made by entering the
namespace on the calling thread for the socket() call alone, then coming back; a /proc read needs a
thread that stays inside while it reads. Named namespaces are made as `ip netns add` makes them
(iproute2 ip/ipnetns.c): /run/netns is a shared bind mount, and /run/netns/<name> is a bind mount of
a fresh net namespace, unshared by a short-lived thread so the caller never leaves its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as errno_mod
import os
import stat
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from overlayc.errors import EnvironmentProblem, NeedsPrivileges
from overlayc.netlink.sock import NETLINK_ROUTE, NetlinkSocket
from overlayc.netlink.xfrm import NETLINK_XFRM

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MS_BIND, MS_REC, MS_SHARED = 0x1000, 0x4000, 1 << 20
MNT_DETACH = 2
T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int, what: str) -> None:
    """Move the calling thread into the network namespace open at `fd`."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        if err == errno_mod.EPERM:
            raise NeedsPrivileges(f"entering network namespace {what} needs CAP_SYS_ADMIN")
        if err == errno_mod.EINVAL:  # an empty file left where no namespace is bind-mounted
            raise EnvironmentProblem(f"/run/netns/{what} is not a network namespace (a stale file?)")
        raise EnvironmentProblem(f"cannot enter network namespace {what}: {os.strerror(err)}")


class Namespace:
    """A handle on one network namespace (None: the current one). A context manager; `close()`
    closes its sockets, its worker thread and the namespace file. Raises EnvironmentProblem when
    the namespace does not exist."""

    def __init__(self, name: str | None) -> None:
        self.name = name
        self._fd: int | None = None
        if name is not None:
            if not name or "/" in name or name in (".", ".."):  # never a path to another namespace
                raise EnvironmentProblem(f"{name[:60]!r} is not a network namespace name")
            try:
                self._fd = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise EnvironmentProblem(f"network namespace {name!r} does not exist") from None
            except OSError as err:
                raise EnvironmentProblem(f"network namespace {name!r}: {err.strerror}") from None
        self._sockets: dict[tuple[int, int], NetlinkSocket] = {}  # by (protocol, slot)
        self._worker: ThreadPoolExecutor | None = None
        self._worker_error: BaseException | None = None
        self._closed = False

    @property
    def route(self) -> NetlinkSocket:
        """The namespace's NETLINK_ROUTE socket (made on first use, then shared)."""
        return self._socket(NETLINK_ROUTE)

    @property
    def second_route(self) -> NetlinkSocket:
        """A second NETLINK_ROUTE socket of the namespace (made on first use, then shared), for
        requests or a dump on another thread while `route` is in use: a netlink socket's answers
        are read by whoever reads it, so two concurrent conversations need two sockets."""
        return self._socket(NETLINK_ROUTE, 1)

    @property
    def xfrm(self) -> NetlinkSocket:
        """The namespace's NETLINK_XFRM socket (made on first use, then shared)."""
        return self._socket(NETLINK_XFRM)

    def _socket(self, proto: int, slot: int = 0) -> NetlinkSocket:
        self._check_open()
        sock = self._sockets.get((proto, slot))
        if sock is None:
            with self.entered():
                sock = self._sockets[proto, slot] = NetlinkSocket(proto)
        return sock

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """The body runs with the calling thread inside the namespace, which then comes back."""
        if self._fd is None:
            yield
            return
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(self._fd, str(self.name))
            try:
                yield
            finally:
                _setns(home, "of this thread")
        finally:
            os.close(home)

    def run(self, fn: Callable[[], T]) -> T:
        """`fn()` called in the namespace's worker thread (directly for the current namespace);
        what it raises is raised here."""
        self._check_open()
        if self._fd is None:
            return fn()
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, f"overlayc-netns-{self.name}", self._enter_worker)

        def call() -> T:
            if self._worker_error is not None:
                raise self._worker_error
            return fn()

        return self._worker.submit(call).result()

    def _enter_worker(self) -> None:
        try:
            _setns(self._fd if self._fd is not None else -1, str(self.name))
        except EnvironmentProblem as err:  # re-raised by every call (an initializer may not raise)
            self._worker_error = err

    def fd(self) -> int:
        """The open namespace file, for IFLA_NET_NS_FD; ValueError for the current namespace's
        handle (which has none) or a closed one."""
        self._check_open()
        if self._fd is None:
            raise ValueError("the handle on the current network namespace has no file")
        return self._fd

    def _check_open(self) -> None:
        if self._closed:  # else a closed handle would quietly work in the current namespace
            raise ValueError(f"the handle on network namespace {self.name} is closed")

    def close(self) -> None:
        self._closed = True
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()
        if self._worker is not None:
            self._worker.shutdown()
            self._worker = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Namespace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


NamespaceRef = Namespace | str | None


@contextlib.contextmanager
def opened(ref: NamespaceRef) -> Iterator[Namespace]:
    """`ref` itself when it is a handle (left open), else a handle opened on the name for the body."""
    if isinstance(ref, Namespace):
        yield ref
        return
    with Namespace(ref) as ns:
        yield ns


def _fail(what: str, path: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}", path)


def _share_rundir() -> None:
    os.makedirs(NETNS_DIR, mode=0o755, exist_ok=True)
    d = NETNS_DIR.encode()
    if _libc.mount(b"", d, b"none", MS_SHARED | MS_REC, None) == 0:
        return
    # not a mount point yet: bind it onto itself, then make it shared (as iproute2 does)
    if _libc.mount(d, d, b"none", MS_BIND | MS_REC, None) != 0:
        raise _fail("cannot bind-mount the netns directory", NETNS_DIR)
    if _libc.mount(b"", d, b"none", MS_SHARED | MS_REC, None) != 0:
        raise _fail("cannot make the netns directory shared", NETNS_DIR)


def _tag_loopback(tag: str) -> None:
    """Set the alias of `lo` (ifindex 1 in every new namespace) of this thread's namespace."""
    from overlayc.netlink import link as nl
    from overlayc.netlink.core import attr_str

    with NetlinkSocket(NETLINK_ROUTE) as rt:
        body = nl.ifinfo(1) + attr_str(nl.IFLA_IFALIAS, tag)
        for err, text in rt.transact([(nl.RTM_SETLINK, 0, body)]):
            if err:
                raise OSError(err, f"cannot tag the new namespace's lo: {text or os.strerror(err)}")


def _bind_new_netns(path: str, tag: str, errors: list[OSError]) -> None:
    if _libc.unshare(CLONE_NEWNET) != 0:
        errors.append(_fail("unshare(CLONE_NEWNET) failed", path))
        return
    try:
        # The ownership tag is in the namespace before it has a name: whatever instant the
        # process is killed at, a namespace under /run/netns is provably overlayc's or not.
        _tag_loopback(tag)
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0))
    except OSError as err:
        errors.append(err)
        return
    if _libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None) != 0:
        errors.append(_fail("cannot bind the new namespace", path))
        os.unlink(path)


def create_netns(name: str, tag: str) -> None:
    """Create /run/netns/<name>, its `lo` carrying the alias `tag` (overlayc's ownership tag,
    `netns_tag`) from before the name exists. Raises OSError: EEXIST when it exists, EPERM
    without privileges. A kill between the file's creation and the mount leaves an empty file:
    the intent journal names it, and the next run removes it."""
    _share_rundir()
    path = os.path.join(NETNS_DIR, name)
    errors: list[OSError] = []
    worker = threading.Thread(target=_bind_new_netns, args=(path, tag, errors), name=f"netns-{name}")
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


def is_placeholder(name: str) -> bool:
    """True when /run/netns/<name> is a plain file with no namespace mounted on it (what a kill
    between creating the file and mounting, or between unmounting and unlinking, leaves)."""
    path = os.path.join(NETNS_DIR, name)
    try:
        info, parent = os.lstat(path), os.stat(NETNS_DIR)
    except OSError:
        return False
    # a bind-mounted namespace shows the nsfs device; the bare file shows the directory's
    return stat.S_ISREG(info.st_mode) and info.st_dev == parent.st_dev and info.st_size == 0


def namespace_id(netns: str | None) -> str:
    """The identity of a node's network namespace (None: this process's): `ns<inode>` of its
    nsfs file, fixed for the namespace's lifetime. Raises EnvironmentProblem when it is gone."""
    path = os.path.join(NETNS_DIR, netns) if netns is not None else "/proc/thread-self/ns/net"
    try:
        return f"ns{os.stat(path).st_ino}"
    except OSError as err:
        raise EnvironmentProblem(f"network namespace {netns}: {err.strerror}") from None


def remove_netns(name: str) -> None:
    """Remove /run/netns/<name> (the namespace dies with its last user). OSError ENOENT if absent."""
    path = os.path.join(NETNS_DIR, name)
    if not os.path.exists(path):
        raise FileNotFoundError(2, "no such network namespace", path)
    if _libc.umount2(path.encode(), MNT_DETACH) != 0:
        raise _fail("cannot unmount the namespace", path)
    os.unlink(path)
