"""Changes of the batched kinds (fdb, neigh, xfrm-state, xfrm-policy) → netlink requests. Pure.

FDB and neighbour entries are written with replace semantics (NLM_F_CREATE|NLM_F_REPLACE, as
`bridge fdb replace` / `ip neigh replace` do), so an update is one request. SAs are added like
`ip xfrm state add` (XFRM_MSG_NEWSA, no flags: it fails with EEXIST on a duplicate (dst, spi)).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Mapping, Sequence

from overlayc.changeset import EntryRun, parts_of
from overlayc.diff import Action, Change
from overlayc.errors import MissingDevice
from overlayc.kernel.entries import address_of, mac_bytes
from overlayc.kernel.objects import Fdb, KernelObject, Neigh, XfrmPolicy, XfrmState
from overlayc.netlink import neigh as nn
from overlayc.netlink import xfrm as nx
from overlayc.netlink.core import NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, pack_msg
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


def entry_messages(changes: Sequence[Change], ifindex: Mapping[str, int], seq: int) -> list[bytes] | None:
    """The fast path of `requests_for` for the bulk case: complete RTM_NEWNEIGH messages (header
    without NLM_F_ACK, see overlayc.netlink.batch; seq, seq+1, …) for fdb/neigh creates and
    updates, one struct pack each. A run of entry creates of a Changes (overlayc.changeset) is
    packed straight from its bytes: its device's ifindex, each packed MAC and address.

    The bytes equal `pack_msg` of `requests_for` (tests/test_apply_requests.py,
    tests/test_changeset.py); a run's IPv6 entries are packed as `requests_for` packs them. None
    when a change is of another kind or action, a single change's address is not IPv4, or a
    device is missing: the general path then builds (or refuses) the requests one by one."""
    out: list[bytes] = []
    try:
        for part in parts_of(changes):
            if isinstance(part, EntryRun):
                if part.action is not Action.CREATE:
                    return None
                out += _run_messages(part, ifindex[part.dev], seq + len(out))
            elif (message := _change_message(part, ifindex, seq + len(out))) is not None:
                out.append(message)
            else:
                return None
    except (KeyError, OSError):  # a missing device, an IPv6 address
        return None
    return out


def _change_message(change: Change, ifindex: Mapping[str, int], seq: int) -> bytes | None:
    """The message of one fdb/neigh create or update (None: not one; KeyError: no device,
    OSError: not IPv4). Read from the key (fdb: dev, lladdr, dst; neigh: dev, dst), whose texts
    are the canonical ones; inet_pton is C, `.packed` is not. FDB_MSG/NEIGH_MSG hold a 4-byte dst."""
    action, key = change.action, change.key
    if action is not Action.CREATE and action is not Action.UPDATE:
        return None
    if key[0] == "fdb" and type(change.after) is Fdb:
        return nn.FDB_MSG.pack(nn.FDB_MSG.size, nn.RTM_NEWNEIGH, _PUT_FLAGS, seq, 0,
                               nn.AF_BRIDGE, ifindex[key[1]], nn.FDB_STATE, nn.NTF_SELF, 0,
                               10, nn.NDA_LLADDR, mac_bytes(key[2]), 8, nn.NDA_DST,
                               socket.inet_pton(socket.AF_INET, key[3]))
    if key[0] == "neigh" and type(obj := change.after) is Neigh:  # the MAC: of the new entry
        return nn.NEIGH_MSG.pack(nn.NEIGH_MSG.size, nn.RTM_NEWNEIGH, _PUT_FLAGS, seq, 0,
                                 nn.AF_INET, ifindex[key[1]], nn.NUD_PERMANENT, 0, 0,
                                 8, nn.NDA_DST, socket.inet_pton(socket.AF_INET, key[2]),
                                 10, nn.NDA_LLADDR, mac_bytes(obj.lladdr))
    return None


# FDB_MSG and NEIGH_MSG cut where the messages of a run differ (the seq, the MAC, the address),
# the rest taken from one message packed whole: 6 values to pack per entry rather than 16.
# fdb: len…flags, seq, pid…NDA_LLADDR header, MAC, pad…NDA_DST header, dst;
# neigh: len…flags, seq, pid…NDA_DST header, dst, NDA_LLADDR header, MAC, pad
_FDB_RUN = struct.Struct("=8sI20s6s6s4s")
_NEIGH_RUN = struct.Struct("=8sI20s4s4s6s2x")


def _run_messages(run: EntryRun, index: int, seq: int) -> list[bytes]:
    """The RTM_NEWNEIGH messages of a run of entry creates on the device of `index`, seq on."""
    if run.macs is None:
        if set(map(len, run.keys)) == {10}:  # IPv4 VTEPs alone: the common case, in one go
            t = nn.FDB_MSG.pack(nn.FDB_MSG.size, nn.RTM_NEWNEIGH, _PUT_FLAGS, 0, 0, nn.AF_BRIDGE, index,
                                nn.FDB_STATE, nn.NTF_SELF, 0, 10, nn.NDA_LLADDR, bytes(6),
                                8, nn.NDA_DST, bytes(4))
            fdb, head, mid, tail = _FDB_RUN.pack, t[:8], t[12:32], t[38:44]
            return [fdb(head, n, mid, k[:6], tail, k[6:]) for n, k in enumerate(run.keys, seq)]
        return [pack_msg(nn.RTM_NEWNEIGH, _PUT_FLAGS, n,
                         nn.encode_fdb(index, k[:6].hex(":"), address_of(k[6:])))
                for n, k in enumerate(run.keys, seq)]
    if set(map(len, run.keys)) == {4}:
        t = nn.NEIGH_MSG.pack(nn.NEIGH_MSG.size, nn.RTM_NEWNEIGH, _PUT_FLAGS, 0, 0, nn.AF_INET, index,
                              nn.NUD_PERMANENT, 0, 0, 8, nn.NDA_DST, bytes(4), 10, nn.NDA_LLADDR, bytes(6))
        neigh, head, mid, tail = _NEIGH_RUN.pack, t[:8], t[12:32], t[36:40]
        return [neigh(head, n, mid, dst, tail, mac)
                for n, (dst, mac) in enumerate(zip(run.keys, run.macs, strict=True), seq)]
    return [pack_msg(nn.RTM_NEWNEIGH, _PUT_FLAGS, n, nn.encode_neigh(index, address_of(dst), mac.hex(":")))
            for n, (dst, mac) in enumerate(zip(run.keys, run.macs, strict=True), seq)]
