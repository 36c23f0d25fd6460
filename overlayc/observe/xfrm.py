"""Observe XFRM SAs and policies: owned ones in full, foreign ones only as keys that would
collide with a desired object, described (naming the overlayc cluster they belong to, if any).

Whose an object is decides `XfrmScope.owner` with the exact marks of overlayc.kernel.xfrm_marks:
an object is owned when exactly one of the marks in play claims it and that one is in `ours`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from overlayc.kernel.objects import XfrmPolicy, XfrmState
from overlayc.kernel.ownership import Key
from overlayc.kernel.xfrm_marks import LEGACY, XfrmMarks, marks_of, owns_policy, owns_sa
from overlayc.netlink import xfrm as nx
from overlayc.netlink.core import Message


class Dumper(Protocol):
    """What observe_xfrm needs of a socket (NetlinkSocket; a replay of messages in tests)."""

    def dump(self, msg_type: int, body: bytes) -> Iterator[Message]: ...


def sa_key(dst: object, spi: int) -> Key:
    """Same scheme as XfrmState.key (the kernel looks SAs up by (dst, proto, spi))."""
    return ("xfrm-state", str(dst), "esp", f"{spi:#010x}")


@dataclass(frozen=True)
class XfrmScope:
    """Whose XFRM objects an observation owns. `cluster`: the cluster observed (None: every
    cluster seen on the node); `ours`: the marks it owns; `others`: marks of the other clusters
    seen on the node, so their objects are named in a plan error, never touched."""

    cluster: str | None
    ours: tuple[XfrmMarks, ...]
    others: tuple[XfrmMarks, ...] = ()

    @property
    def reqids(self) -> frozenset[int]:
        return frozenset(m.reqid for m in self.ours)

    def _claims(self, obj: XfrmState | XfrmPolicy) -> list[XfrmMarks]:
        candidates = dict.fromkeys((*self.ours, *self.others, LEGACY))
        if isinstance(obj, XfrmPolicy):
            return [m for m in candidates if owns_policy(m, obj)]
        return [m for m in candidates if owns_sa(m, obj)]

    def owner(self, obj: XfrmState | XfrmPolicy) -> str | None:
        """None when `obj` is this observation's own; else why not, in words."""
        claims = self._claims(obj)
        if len(claims) == 1 and claims[0] in self.ours:
            return None
        what = _describe(obj)
        if not claims:
            return f"{what}, not overlayc's"
        if len(claims) > 1:
            names = " and ".join(m.label for m in claims)
            return f"{what}: the XFRM marks of {names} coincide, so it cannot be told whose it is"
        if claims[0] is LEGACY:
            return (f"{what}, made by {LEGACY.label}; with other clusters on this node it cannot be "
                    "told whose it is (destroy that cluster and apply it again)")
        return f"{what}, of {claims[0].label}{self._shared_port(obj, claims[0])}"

    def _shared_port(self, obj: XfrmState | XfrmPolicy, other: XfrmMarks) -> str:
        if not isinstance(obj, XfrmPolicy) or self.cluster is None:
            return ""
        return (f": clusters {self.cluster!r} and {other.cluster!r} would both carry encrypted "
                f"networks on this node on data port {obj.dport} (give one of them another "
                "cluster.encrypted_data_port)")


def scope_for(cluster: str | None, seen: Iterable[str]) -> XfrmScope:
    """The scope of observing `cluster` (None: all) on a node where the clusters `seen` have
    objects. Objects with the legacy marks are adopted unless another cluster is seen: the
    release before per-cluster marks wrote the same marks for every cluster (an upgrade moves
    them to the cluster's own marks in one apply)."""
    seen_set = set(seen)
    if cluster is None:
        return XfrmScope(None, (*(marks_of(c) for c in sorted(seen_set)), LEGACY))
    others = tuple(marks_of(c) for c in sorted(seen_set - {cluster}))
    ours = (marks_of(cluster),) if others else (marks_of(cluster), LEGACY)
    return XfrmScope(cluster, ours, others)


def _describe(obj: XfrmState | XfrmPolicy) -> str:
    if isinstance(obj, XfrmState):
        return f"ESP SA {obj.src}→{obj.dst} reqid {obj.reqid:#x}"
    return f"XFRM policy dir {obj.dir} priority {obj.priority}"


def observe_xfrm(xs: Dumper, scope: XfrmScope) -> tuple[list[XfrmState | XfrmPolicy], dict[Key, str]]:
    """(owned SAs and policies, foreign collision keys → description) of the socket's namespace."""
    owned: list[XfrmState | XfrmPolicy] = []
    foreign: dict[Key, str] = {}
    for msg in xs.dump(nx.XFRM_MSG_GETSA, b""):
        if msg.type != nx.XFRM_MSG_NEWSA:
            continue
        head = nx.decode_sa_header(msg.body)
        if head.proto != nx.IPPROTO_ESP or head.family not in nx.FAMILIES:
            continue  # cannot collide with an IPv4 or IPv6 ESP SA
        try:
            sa = nx.decode_sa(msg.body)
        except ValueError as exc:  # not of a shape overlayc writes: foreign, say why
            foreign[sa_key(head.dst, head.spi)] = f"ESP SA {head.src}→{head.dst} reqid {head.reqid:#x}: {exc}"
            continue
        why = scope.owner(sa)
        if why is None:
            owned.append(sa)
        else:
            foreign[sa.key] = why
    for msg in xs.dump(nx.XFRM_MSG_GETPOLICY, b""):
        if msg.type != nx.XFRM_MSG_NEWPOLICY:
            continue
        direction, src, dst, proto, dport, prio = nx.decode_policy_key(msg.body)
        key: Key = ("xfrm-policy", direction, str(src), str(dst), str(proto), str(dport))
        try:
            pol = nx.decode_policy(msg.body)
        except ValueError as exc:
            foreign[key] = f"XFRM policy dir {direction} priority {prio}: {exc}"
            continue
        why = scope.owner(pol)
        if why is None:
            owned.append(pol)
        else:
            foreign[key] = why
    return owned, foreign
