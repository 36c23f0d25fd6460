"""Named network namespaces, made the way `ip netns add` makes them (iproute2 ip/ipnetns.c):
/run/netns is a shared bind mount, and /run/netns/<name> is a bind mount of a fresh net namespace.

The namespace is unshared by a short-lived thread (setns/unshare of CLONE_NEWNET act on the calling
thread only), so the calling thread never leaves its own namespace and nothing is forked.
"""

from __future__ import annotations

import ctypes
import os
import stat
import threading

from overlayc.netlink import link as nl
from overlayc.netlink.core import attr_str
from overlayc.netlink.sock import NetlinkSocket

NETNS_DIR = "/run/netns"
NETLINK_ROUTE = 0
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


def _tag_loopback(tag: str) -> None:
    """Set the alias of `lo` (ifindex 1 in every new namespace) of this thread's namespace."""
    with NetlinkSocket(NETLINK_ROUTE, None) as rt:
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
    """Create /run/netns/<name>, its `lo` carrying the alias `tag` (overlayc's ownership tag)
    from before the name exists. Raises OSError: EEXIST when it exists, EPERM without privileges.
    A kill between the file's creation and the mount leaves an empty file: the intent journal
    names it, and the next run removes it."""
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


def remove_netns(name: str) -> None:
    """Remove /run/netns/<name> (the namespace dies with its last user). OSError ENOENT if absent."""
    path = os.path.join(NETNS_DIR, name)
    if not os.path.exists(path):
        raise FileNotFoundError(2, "no such network namespace", path)
    if _libc.umount2(path.encode(), MNT_DETACH) != 0:
        raise _fail("cannot unmount the namespace", path)
    os.unlink(path)
