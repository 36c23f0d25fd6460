"""Observe XFRM SAs and policies: owned ones (reqid REQID / priority in PRIO_BAND) in full,
foreign ones only as keys that would collide with a desired object."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from overlayc.kernel.objects import XfrmPolicy, XfrmState
from overlayc.kernel.ownership import PRIO_BAND, REQID, Key
from overlayc.netlink import xfrm as nx
from overlayc.netlink.core import Message


class Dumper(Protocol):
    """What observe_xfrm needs of a socket (NetlinkSocket; a replay of messages in tests)."""

    def dump(self, msg_type: int, body: bytes) -> Iterator[Message]: ...


def sa_key(dst: object, spi: int) -> Key:
    """Same scheme as XfrmState.key (the kernel looks SAs up by (dst, proto, spi))."""
    return ("xfrm-state", str(dst), "esp", f"{spi:#010x}")


def observe_xfrm(xs: Dumper) -> tuple[list[XfrmState | XfrmPolicy], dict[Key, str]]:
    """(owned SAs and policies, foreign collision keys → description) of the socket's namespace."""
    owned: list[XfrmState | XfrmPolicy] = []
    foreign: dict[Key, str] = {}
    for msg in xs.dump(nx.XFRM_MSG_GETSA, b""):
        if msg.type != nx.XFRM_MSG_NEWSA:
            continue
        head = nx.decode_sa_header(msg.body)
        if head.proto != nx.IPPROTO_ESP or head.family not in nx.FAMILIES:
            continue  # cannot collide with an IPv4 or IPv6 ESP SA
        if head.reqid == REQID:
            try:
                owned.append(nx.decode_sa(msg.body))
                continue
            except ValueError as exc:  # our reqid but not our shape: treat as foreign, say why
                foreign[sa_key(head.dst, head.spi)] = f"ESP SA with overlayc's reqid but {exc}"
                continue
        foreign[sa_key(head.dst, head.spi)] = (
            f"ESP SA {head.src}→{head.dst} reqid {head.reqid}, not overlayc's")
    for msg in xs.dump(nx.XFRM_MSG_GETPOLICY, b""):
        if msg.type != nx.XFRM_MSG_NEWPOLICY:
            continue
        direction, src, dst, proto, dport, prio = nx.decode_policy_key(msg.body)
        key: Key = ("xfrm-policy", direction, str(src), str(dst), str(proto), str(dport))
        if prio in PRIO_BAND and direction in ("in", "out"):
            try:
                owned.append(nx.decode_policy(msg.body))
                continue
            except ValueError as exc:
                foreign[key] = f"policy in overlayc's priority band but {exc}"
                continue
        foreign[key] = f"XFRM policy dir {direction} priority {prio}, not overlayc's"
    return owned, foreign
