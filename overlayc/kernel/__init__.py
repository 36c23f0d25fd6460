"""Kernel objects and KernelState (pure data; no I/O)."""

from overlayc.kernel.objects import (
    KINDS,
    Bridge,
    Endpoint,
    Fdb,
    KernelObject,
    Neigh,
    Netns,
    Vxlan,
    XfrmPolicy,
    XfrmState,
    XfrmTemplate,
)
from overlayc.kernel.ownership import Key
from overlayc.kernel.state import KernelState

__all__ = [
    "KINDS",
    "Bridge",
    "Endpoint",
    "Fdb",
    "KernelObject",
    "KernelState",
    "Key",
    "Neigh",
    "Netns",
    "Vxlan",
    "XfrmPolicy",
    "XfrmState",
    "XfrmTemplate",
]
