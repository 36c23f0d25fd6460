"""XFRM marks per cluster, and the one decision of which SA or policy a cluster owns.

Links carry their cluster in IFLA_IFALIAS; XFRM objects have no free-text field, so the cluster
is carried by what overlayc writes into them (DESIGN.md §1):

    reqid(c)       = first 4 bytes, big-endian, of SHA-256(b"overlayc/xfrm-reqid" ‖ c ‖ 0 ‖ n),
                     n = 0, 1, … (one byte) until the value is ≥ REQID_MIN and not LEGACY_REQID
    base(c, port)  = 0x40000000 | (first 4 bytes of SHA-256(b"overlayc/xfrm-priority" ‖ c ‖ 0 ‖
                     port as 2 bytes big-endian) & 0x0FFFFFF0)
    peer priority  = base(c, port)          (per-peer ESP policies)
    block priority = base(c, port) + 8     (numerically larger: evaluated after the per-peer ones)

`c` is the cluster name (UTF-8): the scope of everything overlayc owns (link aliases,
`destroy --cluster NAME`, which has no configuration and so no cluster id). REQID_MIN keeps the
small reqids other IPsec daemons allocate (strongSwan and libreswan count up from 1 or 16384)
out of reach; the priorities lie above 0x40000000, far from the small priorities other tools use
and from this release's predecessor (0x6F00/0x6F10).

Ownership is exact, never a range (`owns_policy`, `owns_sa`): a policy is a cluster's only when
it has exactly the shape overlayc writes for it: `proto udp`, one destination port, and either
a fail-closed block (`0/0 → 0/0`, no template, the block priority of *that* port) or a per-peer
allow (`host → host`, one ESP transport template with the cluster's reqid between the same
hosts, the peer priority of that port). Extras overlayc never writes (a mark, an interface, a
source port, a second template) are refused earlier, by the codec. A policy next to, between or
at the same priority as overlayc's, on another port or with another selector, is foreign.

Collisions. Priorities derive from (cluster, port), so a foreign policy at an overlayc
priority on another port is not overlayc's. Two clusters could still derive the same reqid
(2⁻³² per pair) or the same priorities for one port (2⁻²⁴): an object that the marks of two
clusters seen on the node both claim is owned by neither (overlayc.observe.xfrm), so it is never
deleted, and a desired object that meets it is a plan error that names both clusters.
Two clusters on one node and one encrypted data port are refused anyway: their block policies
would have the same selector, which the kernel keeps only once whatever the priority
(`xfrm_policy_insert` matches on direction, selector, mark and if_id since Linux 5.8).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from overlayc.kernel.objects import XfrmPolicy, XfrmState
from overlayc.kernel.ownership import PRIO_BLOCK, PRIO_PEER, REQID

LEGACY_REQID, LEGACY_PRIO_PEER, LEGACY_PRIO_BLOCK = REQID, PRIO_PEER, PRIO_BLOCK  # one set for all clusters
REQID_MIN = 0x01000000
PRIORITY_FLOOR = 0x40000000
BLOCK_OFFSET = 8
UDP = 17


@dataclass(frozen=True, slots=True)
class XfrmMarks:
    """What marks one cluster's XFRM objects: its reqid and its priorities per data port.
    `cluster` is None for the legacy marks (one reqid and two priorities for all clusters)."""

    cluster: str | None
    reqid: int

    def peer_priority(self, port: int) -> int:
        if self.cluster is None:
            return LEGACY_PRIO_PEER
        return _base(self.cluster, port)

    def block_priority(self, port: int) -> int:
        if self.cluster is None:
            return LEGACY_PRIO_BLOCK
        return _base(self.cluster, port) + BLOCK_OFFSET

    @property
    def label(self) -> str:
        if self.cluster is None:
            return "an overlayc release before per-cluster XFRM marks"
        return f"overlayc cluster {self.cluster!r}"


LEGACY = XfrmMarks(None, LEGACY_REQID)


def _digest(info: bytes, cluster: str, tail: bytes) -> int:
    h = hashlib.sha256(info + cluster.encode("utf-8") + b"\0" + tail).digest()
    return int.from_bytes(h[:4], "big")


@lru_cache(maxsize=64)
def _base(cluster: str, port: int) -> int:
    digest = _digest(b"overlayc/xfrm-priority", cluster, port.to_bytes(2, "big"))
    return PRIORITY_FLOOR | (digest & 0x0FFFFFF0)


@lru_cache(maxsize=64)
def marks_of(cluster: str) -> XfrmMarks:
    """The marks of `cluster` (its name), deterministic (see the module docstring)."""
    n = 0
    while True:
        reqid = _digest(b"overlayc/xfrm-reqid", cluster, bytes([n]))
        if reqid >= REQID_MIN and reqid != LEGACY_REQID:
            return XfrmMarks(cluster, reqid)
        n += 1


def _is_any(net: object) -> bool:
    return getattr(net, "prefixlen", None) == 0


def _is_host(net: object) -> bool:
    return getattr(net, "prefixlen", -1) == getattr(net, "max_prefixlen", -2)


def owns_policy(marks: XfrmMarks, pol: XfrmPolicy) -> bool:
    """True when `pol` is exactly what overlayc writes for `marks` (see the module docstring);
    the single ownership decision for policies, whatever the address family."""
    if pol.proto != UDP or not pol.dport or pol.dir not in ("in", "out"):
        return False
    if pol.action == "block":
        return (pol.tmpl is None and _is_any(pol.src) and _is_any(pol.dst)
                and pol.priority == marks.block_priority(pol.dport))
    t = pol.tmpl
    return (t is not None and t.reqid == marks.reqid and _is_host(pol.src) and _is_host(pol.dst)
            and t.src == pol.src.network_address and t.dst == pol.dst.network_address
            and pol.priority == marks.peer_priority(pol.dport))


def owns_sa(marks: XfrmMarks, sa: XfrmState) -> bool:
    """True when the ESP SA `sa` carries the reqid of `marks`."""
    return sa.reqid == marks.reqid



def owned_reqids(cluster: str) -> frozenset[int]:
    """The reqids whose SAs may be `cluster`'s: its own, and the legacy one (an upgrade adopts it)."""
    return frozenset({marks_of(cluster).reqid, LEGACY_REQID})
