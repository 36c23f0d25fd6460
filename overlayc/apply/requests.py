"""Changes of the batched kinds (fdb, neigh, xfrm-state, xfrm-policy) → netlink requests. Pure.

FDB and neighbour entries are written with replace semantics (NLM_F_CREATE|NLM_F_REPLACE, as
`bridge fdb replace` / `ip neigh replace` do), so an update is one request. SAs are added like
`ip xfrm state add` (XFRM_MSG_NEWSA, no flags: it fails with EEXIST on a duplicate (dst, spi)).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence

from overlayc.diff import Action, Change
from overlayc.errors import MissingDevice
from overlayc.kernel.entries import mac_bytes
from overlayc.kernel.objects import Fdb, KernelObject, Neigh, XfrmPolicy, XfrmState
from overlayc.netlink import neigh as nn
from overlayc.netlink import xfrm as nx
from overlayc.netlink.core import NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST
from overlayc.netlink.sock import Request

StartOf = Callable[[XfrmState], nx.ReplayStart | None]
"""Where a created SA's counters start (overlayc.apply.continuity); None: at 0."""

ROUTE_KINDS = frozenset({"fdb", "neigh"})
XFRM_KINDS = frozenset({"xfrm-state", "xfrm-policy"})
CREATE_REPLACE = NLM_F_CREATE | NLM_F_REPLACE


def _index(ifindex: Mapping[str, int], dev: str) -> int:
    try:
        return ifindex[dev]
    except KeyError:
        raise MissingDevice(dev) from None


def _put(obj: KernelObject, ifindex: Mapping[str, int], update: bool, starts: StartOf | None) -> Request:
    match obj:
        case Fdb():
            body = nn.encode_fdb(_index(ifindex, obj.dev), obj.lladdr, obj.dst)
            return nn.RTM_NEWNEIGH, CREATE_REPLACE, body
        case Neigh():
            body = nn.encode_neigh(_index(ifindex, obj.dev), obj.dst, obj.lladdr)
            return nn.RTM_NEWNEIGH, CREATE_REPLACE, body
        case XfrmState():
            if update:  # the kernel keeps an updated SA's counters
                return nx.XFRM_MSG_UPDSA, 0, nx.encode_sa(obj)
            return nx.XFRM_MSG_NEWSA, 0, nx.encode_sa(obj, start=starts(obj) if starts else None)
        case XfrmPolicy():
            return (nx.XFRM_MSG_UPDPOLICY if update else nx.XFRM_MSG_NEWPOLICY), 0, nx.encode_policy(obj)
    raise TypeError(f"{obj.kind} is not a batched kind")


def _remove(obj: KernelObject, ifindex: Mapping[str, int]) -> Request:
    match obj:
        case Fdb():
            return nn.RTM_DELNEIGH, 0, nn.encode_fdb(_index(ifindex, obj.dev), obj.lladdr, obj.dst)
        case Neigh():
            return nn.RTM_DELNEIGH, 0, nn.encode_neigh(_index(ifindex, obj.dev), obj.dst)
        case XfrmState():
            return nx.XFRM_MSG_DELSA, 0, nx.encode_sa_id(obj.dst, obj.spi, obj.src)
        case XfrmPolicy():
            return nx.XFRM_MSG_DELPOLICY, 0, nx.encode_policy_id(obj)
    raise TypeError(f"{obj.kind} is not a batched kind")


def requests_for(change: Change, ifindex: Mapping[str, int], starts: StartOf | None = None) -> list[Request]:
    """The requests that perform `change`, in order; an SA it creates starts its counters at
    `starts(sa)`. Raises MissingDevice, ValueError (SA without key material)."""
    before, after = change.before, change.after
    match change.action:
        case Action.CREATE if after is not None:
            return [_put(after, ifindex, False, starts)]
        case Action.UPDATE if after is not None:
            return [_put(after, ifindex, True, starts)]
        case Action.DELETE if before is not None:
            return [_remove(before, ifindex)]
        case Action.REPLACE if before is not None and after is not None:
            return [_remove(before, ifindex), _put(after, ifindex, False, starts)]
    raise ValueError(f"malformed change {change.action} for {change.key}")


_PUT_FLAGS = CREATE_REPLACE | NLM_F_REQUEST  # no NLM_F_ACK: overlayc.netlink.batch asks for one per chunk


class _MacBytes(dict[str, bytes]):
    """MAC text → its 6 bytes, computed once per MAC (an endpoint's is in its fdb and neigh entry)."""

    def __missing__(self, text: str) -> bytes:
        raw = self[text] = mac_bytes(text)
        return raw


def entry_messages(changes: Sequence[Change], ifindex: Mapping[str, int], seq: int) -> list[bytes] | None:
    """The fast path of `requests_for` for the bulk case: complete RTM_NEWNEIGH messages (header
    without NLM_F_ACK, see overlayc.netlink.batch; seq, seq+1, …) for fdb/neigh creates and
    updates, one struct pack each.

    The bytes equal `pack_msg` of `requests_for` (tests/test_apply_requests.py). None when a
    change is of another kind or action, its address is not IPv4, or its device is missing: the
    general path then builds (or refuses) the requests one by one."""
    fdb, neigh, pton, inet = nn.FDB_MSG.pack, nn.NEIGH_MSG.pack, socket.inet_pton, socket.AF_INET
    fdb_len, neigh_len = nn.FDB_MSG.size, nn.NEIGH_MSG.size
    create, update, macs = Action.CREATE, Action.UPDATE, _MacBytes()
    out: list[bytes] = []
    try:
        for change in changes:
            action, key = change.action, change.key
            if action is not create and action is not update:
                return None
            # Read from the key (fdb: dev, lladdr, dst; neigh: dev, dst), whose texts are the
            # canonical ones; inet_pton is C, `.packed` is not. FDB_MSG/NEIGH_MSG hold a 4-byte
            # dst: IPv6 (OSError here) goes the general path
            if key[0] == "fdb" and type(change.after) is Fdb:
                out.append(fdb(fdb_len, nn.RTM_NEWNEIGH, _PUT_FLAGS, seq, 0,
                               nn.AF_BRIDGE, ifindex[key[1]], nn.FDB_STATE, nn.NTF_SELF, 0,
                               10, nn.NDA_LLADDR, macs[key[2]], 8, nn.NDA_DST, pton(inet, key[3])))
            elif key[0] == "neigh" and type(obj := change.after) is Neigh:  # the MAC: of the new entry
                out.append(neigh(neigh_len, nn.RTM_NEWNEIGH, _PUT_FLAGS, seq, 0,
                                 nn.AF_INET, ifindex[key[1]], nn.NUD_PERMANENT, 0, 0,
                                 8, nn.NDA_DST, pton(inet, key[2]), 10, nn.NDA_LLADDR, macs[obj.lladdr]))
            else:
                return None
            seq += 1
    except (KeyError, OSError):  # a missing device, an IPv6 address
        return None
    return out
