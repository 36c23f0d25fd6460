"""Named network namespaces, made the way `ip netns add` makes them (iproute2 ip/ipnetns.c):
/run/netns is a shared bind mount, and /run/netns/<name> is a bind mount of a fresh net namespace.

The namespace is unshared by a short-lived thread (setns/unshare of CLONE_NEWNET act on the calling
thread only), so the calling thread never leaves its own namespace and nothing is forked.
"""

from __future__ import annotations

import ctypes
import os
import threading

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MS_BIND, MS_REC, MS_SHARED = 0x1000, 0x4000, 1 << 20
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


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


def _bind_new_netns(path: str, errors: list[OSError]) -> None:
    if _libc.unshare(CLONE_NEWNET) != 0:
        errors.append(_fail("unshare(CLONE_NEWNET) failed", path))
        return
    if _libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None) != 0:
        errors.append(_fail("cannot bind the new namespace", path))


def create_netns(name: str) -> None:
    """Create /run/netns/<name>. Raises OSError: EEXIST when it exists, EPERM without privileges."""
    _share_rundir()
    path = os.path.join(NETNS_DIR, name)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    errors: list[OSError] = []
    worker = threading.Thread(target=_bind_new_netns, args=(path, errors), name=f"netns-{name}")
    worker.start()
    worker.join()
    if errors:
        os.unlink(path)
        raise errors[0]


def remove_netns(name: str) -> None:
    """Remove /run/netns/<name> (the namespace dies with its last user). OSError ENOENT if absent."""
    path = os.path.join(NETNS_DIR, name)
    if not os.path.exists(path):
        raise FileNotFoundError(2, "no such network namespace", path)
    if _libc.umount2(path.encode(), MNT_DETACH) != 0:
        raise _fail("cannot unmount the namespace", path)
    os.unlink(path)
