"""Kernel errors in words: which object, what the kernel said, what it means.

Pure: (object, action, errno, extack) → message. The executor attaches these to ExecutionError.
"""

from __future__ import annotations

import errno as E
import os

from overlayc.kernel.objects import (
    Bridge,
    Endpoint,
    Fdb,
    Gateway,
    KernelObject,
    Neigh,
    Netns,
    Sandbox,
    Vxlan,
    XfrmPolicy,
    XfrmState,
)


def object_label(obj: KernelObject) -> str:
    """A short name for `obj` as a network engineer would say it."""
    match obj:
        case Bridge() | Vxlan():
            return f"{obj.kind} {obj.name}"
        case Fdb():
            return f"fdb {obj.lladdr} dst {obj.dst} on {obj.dev}"
        case Neigh():
            return f"neigh {obj.dst} lladdr {obj.lladdr} on {obj.dev}"
        case Netns():
            return f"netns {obj.name}"
        case Sandbox():
            return f"sandbox {obj.name}"
        case Gateway():
            return f"gateway {obj.name} (into {obj.sandbox})"
        case Endpoint():
            return f"endpoint {obj.netns}/{obj.ifname} (host side {obj.host})"
        case XfrmState():
            return f"xfrm SA {obj.src}→{obj.dst} spi {obj.spi:#010x}"
        case XfrmPolicy():
            return f"xfrm policy dir {obj.dir} {obj.src}→{obj.dst} proto {obj.proto} dport {obj.dport}"
    raise TypeError(f"not a kernel object: {obj!r}")


def _what(obj: KernelObject, code: int, extack: str) -> str:
    is_link = isinstance(obj, Bridge | Vxlan | Endpoint | Gateway)
    # vxlan.c answers a duplicate (VNI, port, local) with EEXIST and extack
    # "A VXLAN device with the specified VNI already exists" (seen on 6.18)
    if isinstance(obj, Vxlan) and (code == E.EADDRINUSE or (code == E.EEXIST and "VNI" in extack)):
        return f"VNI {obj.vni} on UDP port {obj.port} is already bound by another vxlan device"
    if code == E.EEXIST:
        return "device exists and is not overlayc's" if is_link else "an entry with that key already exists"
    if code in (E.ENOENT, E.ESRCH):
        return "it does not exist (removed behind overlayc's back?)"
    if code == E.ENODEV:
        return "a device it refers to does not exist"
    if code == E.EADDRINUSE:
        return "the address is already in use"
    if code in (E.EPERM, E.EACCES):
        return "needs CAP_NET_ADMIN"
    if code == E.EINVAL:
        return "the kernel rejected the request as invalid"
    if code in (E.ENOSYS, E.EOPNOTSUPP, E.EPROTONOSUPPORT, E.EAFNOSUPPORT):
        return "this kernel does not support it (missing module or feature)"
    if code == E.EBUSY:
        return "the device is busy"
    return os.strerror(code)


def explain(obj: KernelObject, action: str, code: int, extack: str = "") -> str:
    """`vxlan ovx4096: create: the kernel refused: device exists and is not overlayc's (extack)`."""
    text = f"{object_label(obj)}: {action}: the kernel refused: {_what(obj, code, extack)}"
    if extack:
        text += f" (kernel says: {extack})"
    return text
