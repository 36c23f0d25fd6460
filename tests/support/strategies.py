"""Hypothesis strategies of kernel states (links, endpoints, SAs and policies, kept only where
their dependencies are present) and the plan between two states, for the property tests."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from overlayc.diff import Change, diff
from overlayc.kernel.objects import KernelObject
from overlayc.kernel.state import KernelState, Observed
from overlayc.plan import order
from tests.support.planobjects import (
    LOCAL,
    PEERS,
    block_policy,
    bridge,
    endpoint,
    fdb,
    neigh,
    netns,
    peer_policy,
    sa,
    vxlan,
)
from tests.support.simkernel import _missing_dependency

NETS = ("a", "b", "c")
MACS = ("02:42:0a:01:00:02", "02:42:0a:01:00:03")


@st.composite
def links(draw: st.DrawFn) -> list[KernelObject]:
    objs: list[KernelObject] = []
    for i, net in enumerate(NETS):
        if draw(st.booleans()):
            objs.append(bridge(net, mtu=draw(st.sampled_from((1450, 1400)))))
        if draw(st.booleans()):
            master = f"ov-{draw(st.sampled_from((net, NETS[(i + 1) % 3])))}"
            objs.append(vxlan(net, vni=draw(st.sampled_from((100 + i, 200 + i))),
                              port=draw(st.sampled_from((4789, 4800))),
                              mtu=draw(st.sampled_from((1450, 1400))), master=master))
        for mac in MACS:
            if draw(st.booleans()):
                objs.append(fdb(net, mac, draw(st.sampled_from(PEERS))))
            if draw(st.booleans()):
                objs.append(neigh(net, f"10.1.{i}.{MACS.index(mac) + 2}", draw(st.sampled_from(MACS))))
    for ns in ("t0", "t1"):
        if draw(st.booleans()):
            objs.append(netns(ns))
        if draw(st.booleans()):
            objs.append(endpoint(ns, draw(st.sampled_from(NETS)), "10.1.0.9/24", MACS[0],
                                 host=draw(st.sampled_from((f"ve-{ns}", f"vh-{ns}"))),
                                 mtu=draw(st.sampled_from((1450, 1400)))))
    return objs


@st.composite
def ipsec(draw: st.DrawFn, unknown_keys: bool) -> list[KernelObject]:
    fps = ("sha256:aaaaaaaaaaaa", "sha256:bbbbbbbbbbbb", *((None,) if unknown_keys else ()))
    objs: list[KernelObject] = []
    for p, peer in enumerate(PEERS):
        for epoch in range(3):
            if draw(st.booleans()):
                objs.append(sa(peer, LOCAL, 0x1000 + 16 * p + epoch, draw(st.sampled_from(fps))))
            if draw(st.booleans()):
                objs.append(sa(LOCAL, peer, 0x2000 + 16 * p + epoch, draw(st.sampled_from(fps))))
        for direction in ("in", "out"):
            if draw(st.booleans()):
                objs.append(peer_policy(direction, peer, priority=draw(st.sampled_from((0x6F00, 0x6F01)))))
    objs.extend(block_policy(d) for d in ("in", "out") if draw(st.booleans()))
    return objs


def consistent(objs: list[KernelObject]) -> KernelState:
    """Keep only objects whose dependencies are present (a state a kernel can hold)."""
    kept: dict[tuple[str, ...], KernelObject] = {}
    for obj in KernelState(objs):  # dependency order
        if _missing_dependency(kept, obj) is None:
            kept[obj.key] = obj
    return KernelState(kept.values())


def states(unknown_keys: bool) -> st.SearchStrategy[KernelState]:
    """Consistent kernel states; `unknown_keys` lets SAs carry no key fingerprint."""
    return st.builds(lambda a, b: consistent(a + b), links(), ipsec(unknown_keys))


def plan(desired: KernelState, live: KernelState) -> Sequence[Change]:
    """The ordered changes that take `live` to `desired` (as the local node)."""
    return order(diff(desired, Observed(live)), LOCAL)
