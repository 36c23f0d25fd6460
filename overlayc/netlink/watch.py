"""What the kernel says changed in one namespace's vxlan FDB since a moment: the RTNLGRP_NEIGH
notifications of family AF_BRIDGE, kept as the entries observe would dump (`EntryWatch`).

Why: apply's verify re-reads the tables it wrote. The neighbour dump is linear and cheap (50k
entries: 0.07 s with decoding), but the vxlan driver's FDB dump walks its table again for every
32 KiB skb (the resume index is a count, `vxlan_fdb_dump`; netlink caps a dump skb at 32 KiB),
and right after 50k creates it took 0.25–0.6 s on 6.18 (0.14 s once the kernel settled, seconds
later). The kernel reports every change of the FDB to the RTNLGRP_NEIGH group, filled by the
function that fills the dump (`vxlan_fdb_info`), so a socket subscribed before a device's FDB was
last read holds, with that read, its whole FDB after any later change: per entry, its last
notification (the full new state) if it has one, else what was read. Receiving and decoding the
50k notifications of an apply costs ~0.1 s, spread over the FDB stream (overlayc.apply.streams
drains the watch after every slice, so the kernel's queue stays a few slices long: each queued
notification is charged ~830 bytes of skb truesize, from /proc/net/netlink).

The neighbour table is left to its dump: its notifications cost as much to receive as the dump
(measured: watching both tables made execute 0.25–0.4 s slower, more than the dumps it saved).

Where the notifications do not say what a dump would, the watch says so and observe dumps again:
- ENOBUFS (a notification was dropped: the socket's queue was full) or a datagram cut short;
- a notification for a MAC the watch holds with another dst: the kernel's `fdb replace` changes
  the first remote in place and notifies only the new one, `append` adds one, and the two cannot
  be told apart (measured on 6.18: replace sends one RTM_NEWNEIGH, no RTM_DELNEIGH); and a read
  showing a MAC behind several VTEPs → that device is in doubt;
- a device that existed when the watch started and was never read.
Measured on 6.18: deletes by MAC, `bridge fdb flush`, nomaster and link deletion each notify every
FDB entry they remove; link down removes none. Not seen: a device moved into the namespace with
FDB entries already on it (a move notifies none of them). overlayc moves each vxlan into its
sandbox right after making it, before any entry; another tool moving an overlayc-tagged vxlan
with entries into a sandbox in the middle of an apply would not be caught by its verify.
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import os
import socket
import struct
import threading
from collections.abc import Iterable
from typing import NamedTuple

from overlayc.errors import OverlaycError
from overlayc.netlink import link as nl_link
from overlayc.netlink.core import HDR
from overlayc.netlink.entrydump import DST_4, LLADDR_6, NETNSID_4
from overlayc.netlink.mrecv import SLOT, Receiver, keep_family
from overlayc.netlink.neigh import (
    AF_BRIDGE,
    NDMSG,
    NTF_SELF,
    NUD_PERMANENT,
    RTM_DELNEIGH,
    RTM_NEWNEIGH,
    _dst_lladdr,
)
from overlayc.netlink.netns import Namespace
from overlayc.netlink.sock import NETLINK_ROUTE, SO_RCVBUFFORCE, NetlinkSocket

RTMGRP_NEIGH = 0x4
WATCH_RCVBUF = 32 << 20  # the kernel doubles it; the streams drain every slice (~3.4 MB queued)

# Whole notifications of the kernel's layouts in one unpack (the attribute headers as one u32
# each, as overlayc.netlink.entrydump reads the dump): nlmsghdr (len, type), ndmsg (family,
# ifindex, state, flags), then the attributes: vxlan_fdb_info puts NDA_LINK_NETNSID (a vxlan in
# a sandbox), NDA_LLADDR, NDA_DST.
_FDB_SANDBOXED = struct.Struct("=IH10xB3xiHBxI4xI6s2xI4s")
_FDB_PLAIN = struct.Struct("=IH10xB3xiHBxI6s2xI4s")

_TYPES = (RTM_NEWNEIGH, RTM_DELNEIGH)


class Layout(NamedTuple):
    """A notification layout the column reader takes: the whole slot in a few fields (`whole`),
    the fields that are the same in every message of a batch of one device and one action (the
    headers, the ndmsg, the attribute headers: `same`), those of the dst and the MAC; the message
    field by field (`detail`) with the attribute headers it has ((field after the ndmsg's, value))."""

    whole: struct.Struct
    same: tuple[int, ...]
    dst: int
    mac: int
    detail: struct.Struct
    heads: tuple[tuple[int, int], ...]


def _layout(whole: str, same: tuple[int, ...], dst: int, mac: int, detail: struct.Struct,
            heads: tuple[tuple[int, int], ...]) -> Layout:
    size = struct.calcsize(whole)
    assert size == detail.size, (whole, detail.format)
    return Layout(struct.Struct(whole + f"{SLOT - size}x"), same, dst, mac, detail, heads)


# (head up to the MAC, MAC, padding + NDA_DST header, dst)
_FDB_LAYOUTS = (_layout("=40s6s6s4s", (0, 2), 3, 1, _FDB_SANDBOXED,
                        ((0, NETNSID_4), (1, LLADDR_6), (3, DST_4))),
                _layout("=32s6s6s4s", (0, 2), 3, 1, _FDB_PLAIN, ((0, LLADDR_6), (2, DST_4))))


class Columns(NamedTuple):
    """A batch of notifications of one layout, one action (RTM_NEWNEIGH), one family and one
    device, all permanent: its device, its ndmsg flags, its dsts and MACs, in order."""

    device: int
    flags: int
    dsts: tuple[bytes, ...]
    macs: tuple[bytes, ...]


def _columns(view: memoryview, got: int, layouts: tuple[Layout, ...], family: int) -> Columns | None:
    """The `got` slots of `view` read in columns when they are all new permanent entries of
    `family` on one device in one of `layouts`, alike but for their dst and MAC (so the first
    message is checked for all); None otherwise."""
    for layout in layouts:
        fields = tuple(zip(*layout.whole.iter_unpack(view[:got * SLOT]), strict=True))
        if any(len(set(fields[at])) != 1 for at in layout.same):
            continue
        n, mtype, fam, index, state, flags, *attrs = layout.detail.unpack_from(view, 0)
        if (all(attrs[at] == head for at, head in layout.heads) and layout.detail.size <= n <= SLOT
                and mtype == RTM_NEWNEIGH and fam == family and state & NUD_PERMANENT):
            return Columns(index, flags, fields[layout.dst], fields[layout.mac])
    return None


Event = tuple[int, int, int, int, int, bytes, bytes]  # type, family, ifindex, state, flags, dst, mac


def parse_event(buf: bytes | memoryview, off: int) -> Event | None:
    """The neighbour-table notification at `off` (type, family, ifindex, state, flags, dst,
    lladdr; empty bytes for an absent attribute); None for any other message."""
    n = HDR.unpack_from(buf, off)[0]
    if n >= _FDB_SANDBOXED.size:
        got = _FDB_SANDBOXED.unpack_from(buf, off)
        if got[6] == NETNSID_4 and got[7] == LLADDR_6 and got[9] == DST_4 and got[1] in _TYPES:
            return got[1], got[2], got[3], got[4], got[5], got[10], got[8]
    if n >= _FDB_PLAIN.size:
        got = _FDB_PLAIN.unpack_from(buf, off)
        if got[6] == LLADDR_6 and got[8] == DST_4 and got[1] in _TYPES:
            return got[1], got[2], got[3], got[4], got[5], got[9], got[7]
    mtype = HDR.unpack_from(buf, off)[1]
    if n < 28 or mtype not in _TYPES:
        return None
    family, index, state, flags, _ = NDMSG.unpack_from(buf, off + 16)
    dst, mac = _dst_lladdr(bytes(buf[off:off + n]), 28, n)
    return mtype, family, index, state, flags, dst, mac


class EntryWatch:
    """The permanent `self` FDB entries with a dst of every device of one namespace, as observe
    keeps them (overlayc.netlink.entrydump), from a read (`seed`) or from the device's creation
    on, kept current by the notifications (module docstring).

    One socket, filtered by the kernel to AF_BRIDGE (overlayc.netlink.mrecv.keep_family): a batch
    read from it is nearly always of one layout, one device and one action, and is applied in
    columns (`_batch`); any other batch message by message (`_apply_at`). Thread-safe: the FDB
    stream drains it on its thread, observe on another."""

    def __init__(self, sock: socket.socket, existing: set[int] | None = None) -> None:
        self.sock = sock
        self._rx = Receiver(sock.fileno())
        # the ifindexes listed first after the watch started (`note_links`): their entries need a
        # read; None: not listed yet, nothing is known
        self.existing = existing
        self.fdb: dict[int, dict[bytes, bytes]] = {}  # ifindex → mac → dst
        self.seeded: set[int] = set()
        self.doubt: set[int] = set()
        self.lost = False
        self._lock = threading.Lock()

    @classmethod
    def start(cls, ns: Namespace) -> EntryWatch | None:
        """A watch on namespace `ns`; its caller lists the namespace's links next (`note_links`),
        so a device not listed was made after. None when the kernel refuses it: observe then
        dumps."""
        try:
            with ns.entered():
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        except (OSError, OverlaycError):
            return None
        try:
            keep_family(sock, AF_BRIDGE)
            sock.bind((0, RTMGRP_NEIGH))
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, WATCH_RCVBUF)
            return cls(sock)
        except OSError:
            sock.close()
            return None

    def close(self) -> None:
        self.sock.close()

    def note_links(self, indexes: Iterable[int]) -> None:
        """The ifindexes of a link listing made after the watch started; the first one counts."""
        if self.existing is None:
            self.existing = set(indexes)

    def drain(self, wait: bool = True) -> None:
        """Apply every queued notification. `wait` False: return at once when another thread is
        draining (it empties the same queue)."""
        if not self._lock.acquire(blocking=wait):
            return
        try:
            self._drain()
        finally:
            self._lock.release()

    def _drain(self) -> None:
        while True:
            try:
                got = self._rx.receive()
            except OSError as err:
                if err.errno != errno_mod.ENOBUFS:
                    raise
                self.lost = True  # the queue overflowed: no answer from this watch any more
                continue
            if not got:
                return
            self.take(self._rx.view, got)

    def take(self, view: memoryview, got: int, columns: bool = True) -> bool:
        """The `got` notifications in the slots of `view`: in columns when they allow it (and
        `columns`), else one by one (the same result: tests/test_watch.py). True: in columns."""
        if columns and self._batch(view, got):
            return True
        for at in range(0, got * SLOT, SLOT):
            self._apply_at(view, at)
        return False

    def _tracked(self, index: int) -> bool:
        return self.existing is not None and (index not in self.existing or index in self.seeded)

    def _batch(self, view: memoryview, got: int) -> bool:
        """A batch of new permanent `self` FDB entries of one device, of MACs it has not, in one
        of the kernel's layouts, added at once; False (nothing done) for any other batch."""
        cols = _columns(view, got, _FDB_LAYOUTS, AF_BRIDGE)
        if cols is None or not cols.flags & NTF_SELF:
            return False
        if not self._tracked(cols.device):
            return True
        table = self.fdb.setdefault(cols.device, {})
        macs, dsts = cols.macs, cols.dsts
        if cols.device in self.doubt or len(set(macs)) != got or not table.keys().isdisjoint(macs):
            return False
        table.update(zip(macs, dsts, strict=True))
        return True

    def _apply_at(self, view: memoryview, at: int) -> None:
        """The notification in the slot at `at`, alone (any layout, action or device)."""
        if HDR.unpack_from(view, at)[0] > SLOT:  # cut short: the watch cannot say what it held
            self.lost = True
            return
        event = parse_event(view, at)
        if event is None:
            return
        mtype, family, index, state, flags, dst, mac = event
        if family != AF_BRIDGE or not flags & NTF_SELF or not self._tracked(index):
            return  # the bridge's own entries (master): observe leaves them out too; a device
            # not read yet: its read (seed) will hold this change or a later one
        keep = bool(state & NUD_PERMANENT) and len(mac) == 6 and len(dst) in (4, 16) and mtype == RTM_NEWNEIGH
        table = self.fdb.setdefault(index, {})
        old = table.get(mac)
        if old is not None and old != dst:
            self.doubt.add(index)  # replace or append: which one, the notification does not say
        elif keep:
            table[mac] = dst
        elif old is not None:
            del table[mac]

    def seed(self, index: int, fdb: set[bytes]) -> None:
        """What a read of device `index`'s FDB found (`mac + dst` keys), taken right after the
        read and before the watch is drained again: later notifications apply on top."""
        with self._lock:
            table = {key[:6]: key[6:] for key in fdb}
            self.fdb[index] = table
            self.seeded.add(index)
            if len(table) == len(fdb):
                self.doubt.discard(index)
            else:
                self.doubt.add(index)  # a MAC behind several VTEPs (module docstring)

    def answer(self, indexes: Iterable[int]) -> dict[int, set[bytes]] | None:
        """The FDB entries (`mac + dst`) of every device in `indexes` after draining, or None when
        the watch cannot say them all (a lost notification, a device in doubt or never read)."""
        with self._lock:
            self._drain()
            wanted = list(indexes)
            if self.lost or any(i in self.doubt or not self._tracked(i) for i in wanted):
                return None
            return {i: set(map(bytes.__add__, table, table.values()))
                    for i in wanted for table in (self.fdb.get(i, {}),)}


def _link_indexes(rt: NetlinkSocket) -> list[int]:
    """The ifindex of every link of the socket's namespace (a link dump, headers only)."""
    return [struct.unpack_from("=i", msg.body, 4)[0] for msg in rt.dump(nl_link.RTM_GETLINK, nl_link.ifinfo())
            if msg.type == nl_link.RTM_NEWLINK]


class Watches:
    """The watches of one apply, one per place (the node's namespace, each sandbox), started on
    first asking: by the namespace's name and inode, so a sandbox made again under the same name
    is another place. `None` kept for a place whose watch could not start (it is not retried)."""

    def __init__(self) -> None:
        self._by: dict[tuple[str | None, int], EntryWatch | None] = {}

    @staticmethod
    def _key(ns: Namespace) -> tuple[str | None, int]:
        return (ns.name, 0) if ns.name is None else (ns.name, os.fstat(ns.fd()).st_ino)

    def of(self, ns: Namespace) -> EntryWatch | None:
        """The watch of `ns`'s namespace, started now when there is none (the caller then lists
        the namespace's links and tells it: `EntryWatch.note_links`)."""
        key = self._key(ns)
        if key not in self._by:
            self._by[key] = EntryWatch.start(ns)
        return self._by[key]

    def made(self, ns: Namespace) -> None:
        """Start the watch of a namespace just made (a sandbox, from its birth on): it lists
        the namespace's links itself, nobody else needs them."""
        watch = self.of(ns)
        if watch is not None:
            watch.note_links(_link_indexes(ns.route))

    def get(self, ns: Namespace) -> EntryWatch | None:
        """The watch of `ns`'s namespace if one was started."""
        return self._by.get(self._key(ns))

    def forget(self, name: str) -> None:
        """Close the watches of the namespace `name` (deleted: a socket would keep it alive)."""
        for key in [k for k in self._by if k[0] == name]:
            watch = self._by.pop(key)
            if watch is not None:
                watch.close()

    def close(self) -> None:
        for watch in self._by.values():
            if watch is not None:
                watch.close()
        self._by.clear()
