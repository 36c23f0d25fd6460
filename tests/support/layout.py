"""The layout before sandboxes (overlayc 88381f1): every link of a network in the node's namespace.

The executor and the observer still handle it (a link whose `sandbox` is "" takes the same
node-namespace requests as then), so a node in that layout is made by applying `flat(desired)`:
the upgrade tests start from it, and the in-process benchmarks, which measure the FDB/neighbour
paths that are the same in both layouts, run on it.
"""

from __future__ import annotations

import dataclasses

from overlayc.kernel.objects import Bridge, Endpoint, Gateway, KernelObject, Sandbox, Vxlan
from overlayc.kernel.state import KernelState


def flat(state: KernelState) -> KernelState:
    """`state` as the code before sandboxes built it: no sandbox, bridge/vxlan/endpoint host
    sides in the node's namespace, the gateway address on the bridge, IPv6 left on endpoints."""
    gateways = {g.bridge: g.address for g in state.of_kind("gateway") if isinstance(g, Gateway)}
    out: list[KernelObject] = []
    for obj in state:
        if isinstance(obj, Sandbox | Gateway):
            continue
        if isinstance(obj, Bridge):
            obj = dataclasses.replace(obj, sandbox="", address=gateways.get(obj.name))
        elif isinstance(obj, Vxlan):
            obj = dataclasses.replace(obj, sandbox="")
        elif isinstance(obj, Endpoint):
            obj = dataclasses.replace(obj, sandbox="", ipv6=True)
        out.append(obj)
    return KernelState(out)
