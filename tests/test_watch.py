"""The FDB watch (overlayc.netlink.watch) on crafted notifications, sent through a packet socket
pair as the kernel queues them (one per datagram): what it holds after each kind of change, when
it says it cannot answer, and that reading a batch in columns gives what reading it message by
message gives."""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Iterator

import pytest

from overlayc.netlink import watch as W
from overlayc.netlink.core import HDR
from overlayc.netlink.mrecv import SLOT, SLOTS
from overlayc.netlink.neigh import (
    AF_BRIDGE,
    AF_INET,
    AF_INET6,
    NDA_DST,
    NDA_LINK_NETNSID,
    NDA_LLADDR,
    NTF_SELF,
    NUD_NOARP,
    NUD_PERMANENT,
    RTM_DELNEIGH,
    RTM_NEWNEIGH,
)

NDA_CACHEINFO = 3
PERM, STALE, MASTER = NUD_PERMANENT | NUD_NOARP, 0x04, 0x04


def nla(kind: int, payload: bytes) -> bytes:
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * (-n % 4)


def fdb_msg(mtype: int, index: int, mac: bytes, dst: bytes, state: int = PERM, flags: int = NTF_SELF,
            sandboxed: bool = True, extra: bytes = b"") -> bytes:
    """As vxlan_fdb_info fills it: [NDA_LINK_NETNSID], NDA_LLADDR, NDA_DST, NDA_CACHEINFO, and
    `extra` attributes."""
    attrs = (nla(NDA_LINK_NETNSID, struct.pack("=i", 0)) if sandboxed else b"") + nla(NDA_LLADDR, mac)
    attrs += nla(NDA_DST, dst) + nla(NDA_CACHEINFO, bytes(16)) + extra
    body = struct.pack("=B3xiHBB", AF_BRIDGE, index, state, flags, 0) + attrs
    return HDR.pack(16 + len(body), mtype, 0, 0, 0) + body


def neigh_msg(mtype: int, index: int, dst: bytes, mac: bytes | None, state: int = NUD_PERMANENT) -> bytes:
    """As neigh_fill_info fills it: NDA_DST, NDA_LLADDR, NDA_CACHEINFO."""
    family = AF_INET if len(dst) == 4 else AF_INET6
    attrs = nla(NDA_DST, dst) + (nla(NDA_LLADDR, mac) if mac is not None else b"")
    attrs += nla(NDA_CACHEINFO, bytes(16))
    body = struct.pack("=B3xiHBB", family, index, state, 0, 0) + attrs
    return HDR.pack(16 + len(body), mtype, 0, 0, 0) + body


def mac(i: int) -> bytes:
    return bytes([2, 0, 0, 0, i >> 8 & 255, i & 255])


def ip(i: int) -> bytes:
    return bytes([10, 1, i >> 8 & 255, i & 255])


class Pair:
    """A watch whose socket is the receiving end of a packet socket pair: `fdb(...)` queues
    notifications on it as the kernel would."""

    def __init__(self, existing: set[int] | None = None) -> None:
        self._tx, rx = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.watch = W.EntryWatch(rx, existing or set())

    def fdb(self, *msgs: bytes) -> None:
        """Sent in bursts, the watch drained after each: a packet socket's sender blocks once the
        queue holds ~200 packets (the default buffers, without root)."""
        for n, m in enumerate(msgs, 1):
            self._tx.send(m)
            if n % 100 == 0:
                self.watch.drain()

    def close(self) -> None:
        self._tx.close()
        self.watch.close()


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = Pair()
    yield p
    p.close()


def test_new_entries_of_a_device_born_after_the_watch_are_its_whole_table(pair: Pair) -> None:
    pair.fdb(*(fdb_msg(RTM_NEWNEIGH, 7, mac(i), ip(i)) for i in range(400)))
    assert pair.watch.answer([7]) == {7: {mac(i) + ip(i) for i in range(400)}}


def test_deletes_and_entries_no_longer_permanent_leave_the_table(pair: Pair) -> None:
    pair.fdb(*(fdb_msg(RTM_NEWNEIGH, 7, mac(i), ip(i)) for i in range(4)))
    pair.fdb(fdb_msg(RTM_DELNEIGH, 7, mac(0), ip(0)), fdb_msg(RTM_NEWNEIGH, 7, mac(1), ip(1), state=STALE),
             fdb_msg(RTM_DELNEIGH, 7, mac(9), ip(9)))  # one it never held: nothing to remove
    assert pair.watch.answer([7]) == {7: {mac(2) + ip(2), mac(3) + ip(3)}}


def test_a_new_dst_for_a_mac_it_holds_puts_the_device_in_doubt(pair: Pair) -> None:
    """`bridge fdb replace` notifies the new remote only; `append` the same: no answer."""
    pair.fdb(fdb_msg(RTM_NEWNEIGH, 7, mac(1), ip(1)), fdb_msg(RTM_NEWNEIGH, 8, mac(1), ip(1)))
    pair.fdb(fdb_msg(RTM_NEWNEIGH, 7, mac(1), ip(2)))
    assert pair.watch.answer([7]) is None
    assert pair.watch.answer([8]) == {8: {mac(1) + ip(1)}}
    pair.watch.seed(7, {mac(1) + ip(2)})  # read again: known again
    assert pair.watch.answer([7]) == {7: {mac(1) + ip(2)}}


def test_a_read_with_a_mac_behind_two_vteps_is_in_doubt(pair: Pair) -> None:
    pair.watch.seed(7, {mac(1) + ip(1), mac(1) + ip(2)})
    assert pair.watch.answer([7]) is None


def test_the_bridges_own_entries_and_neighbours_are_left_out(pair: Pair) -> None:
    pair.fdb(fdb_msg(RTM_NEWNEIGH, 7, mac(1), ip(1), flags=MASTER), neigh_msg(RTM_NEWNEIGH, 7, ip(2), mac(2)))
    assert pair.watch.answer([7]) == {7: set()}


def test_a_device_that_existed_is_answered_only_once_read() -> None:
    p = Pair(existing={7})
    try:
        p.fdb(fdb_msg(RTM_NEWNEIGH, 7, mac(1), ip(1)))  # before the read: the read holds it
        assert p.watch.answer([7]) is None
        p.watch.seed(7, {mac(1) + ip(1), mac(3) + ip(3)})
        p.fdb(fdb_msg(RTM_NEWNEIGH, 7, mac(2), ip(2)), fdb_msg(RTM_DELNEIGH, 7, mac(3), ip(3)))
        assert p.watch.answer([7]) == {7: {mac(1) + ip(1), mac(2) + ip(2)}}
    finally:
        p.close()


def test_a_watch_knows_nothing_until_the_links_listed_after_it_started() -> None:
    tx, rx = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    watch = W.EntryWatch(rx)
    try:
        tx.send(fdb_msg(RTM_NEWNEIGH, 7, mac(1), ip(1)))
        assert watch.answer([7]) is None  # device 7 may have existed: its entries need a read
        watch.note_links([1, 7])
        watch.note_links([1])  # the first listing counts
        assert watch.answer([7]) is None
        tx.send(fdb_msg(RTM_NEWNEIGH, 8, mac(2), ip(2)))
        assert watch.answer([8]) == {8: {mac(2) + ip(2)}}  # made after the listing
    finally:
        tx.close()
        watch.close()


def test_a_notification_older_than_the_read_does_not_undo_it() -> None:
    """Notifications queued before a read are applied after it: the last one of each entry is
    its state, so an entry made and deleted before the read stays absent."""
    p = Pair(existing={7})
    try:
        p.fdb(fdb_msg(RTM_NEWNEIGH, 7, mac(1), ip(1)), fdb_msg(RTM_DELNEIGH, 7, mac(1), ip(1)))
        p.watch.seed(7, set())
        assert p.watch.answer([7]) == {7: set()}
    finally:
        p.close()


def test_a_lost_or_cut_notification_means_no_answer(pair: Pair) -> None:
    pair.fdb(fdb_msg(RTM_NEWNEIGH, 7, mac(1), ip(1), extra=nla(99, bytes(SLOT))))  # longer than a slot
    assert pair.watch.answer([7]) is None
    assert pair.watch.lost


def test_enobufs_means_no_answer(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = iter([OSError(105, "No buffer space available")])

    def receive() -> int:
        got = next(calls, None)
        if got is not None:
            raise got
        return 0

    monkeypatch.setattr(pair.watch._rx, "receive", receive)
    assert pair.watch.answer([7]) is None


def _random_events(rng: random.Random, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        i = rng.randrange(40)
        if rng.random() < 0.75:
            out.append(fdb_msg(RTM_NEWNEIGH, rng.choice((7, 7, 7, 8, 9)), mac(i),
                               ip(rng.choice((i, i, i, i + 1))), state=rng.choice((PERM, PERM, STALE)),
                               flags=rng.choice((NTF_SELF, NTF_SELF, MASTER)), sandboxed=rng.random() < 0.8))
        else:
            out.append(fdb_msg(RTM_DELNEIGH, rng.choice((7, 7, 9)), mac(i), ip(rng.choice((i, i, i + 1)))))
    return out


def _uniform_batches(rng: random.Random) -> list[list[bytes]]:
    """Batches the column reader takes (new permanent entries of one device, one layout), on
    devices the random events leave alone; the second repeats MACs of the first with other dsts
    (taken by whichever comes first, the other one puts the device in doubt); the last is alike
    but of the bridge (not `self`): never held."""
    return [[fdb_msg(RTM_NEWNEIGH, 10, mac(i), ip(i)) for i in range(rng.randrange(1, 300))],
            [fdb_msg(RTM_NEWNEIGH, 10, mac(i), ip(i + 1)) for i in range(250, 250 + rng.randrange(1, 100))],
            [fdb_msg(RTM_NEWNEIGH, 11, mac(i), ip(i), sandboxed=False) for i in range(rng.randrange(1, 300))],
            [fdb_msg(RTM_NEWNEIGH, 12, mac(i), ip(i), flags=MASTER) for i in range(rng.randrange(1, 30))]]


def _slots(msgs: list[bytes]) -> memoryview:
    buf = bytearray(SLOTS * SLOT)
    for n, m in enumerate(msgs):
        buf[n * SLOT:n * SLOT + min(len(m), SLOT)] = m[:SLOT]
    return memoryview(buf)


@pytest.mark.parametrize("seed", range(40))
def test_reading_in_columns_gives_what_reading_one_by_one_gives(seed: int) -> None:
    rng = random.Random(seed)
    events = _random_events(rng, 800)
    cut = sorted(rng.sample(range(1, len(events)), 6))
    batches = _uniform_batches(rng)
    batches += [events[a:b] for a, b in zip([0, *cut], [*cut, len(events)], strict=True)]
    batches = [b[i:i + SLOTS] for b in batches for i in range(0, len(b), SLOTS)]
    rng.shuffle(batches)
    pairs = [socket.socketpair() for _ in range(2)]
    columns, single = (W.EntryWatch(rx, {9}) for _, rx in pairs)
    try:
        columns.seed(9, {mac(i) + ip(i) for i in range(0, 40, 3)})
        single.seed(9, {mac(i) + ip(i) for i in range(0, 40, 3)})
        taken = 0
        for msgs in batches:
            view = _slots(msgs)
            taken += columns.take(view, len(msgs))
            assert not single.take(view, len(msgs), columns=False)
        assert taken > 0  # some batches were read in columns
        assert (columns.fdb, columns.doubt, columns.lost) == (single.fdb, single.doubt, single.lost)
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_parse_event_reads_every_layout() -> None:
    v6 = bytes(range(16))
    assert W.parse_event(fdb_msg(RTM_NEWNEIGH, 3, mac(1), ip(1)), 0) == (
        RTM_NEWNEIGH, AF_BRIDGE, 3, PERM, NTF_SELF, ip(1), mac(1))
    assert W.parse_event(fdb_msg(RTM_DELNEIGH, 3, mac(1), ip(2), sandboxed=False), 0) == (
        RTM_DELNEIGH, AF_BRIDGE, 3, PERM, NTF_SELF, ip(2), mac(1))
    assert W.parse_event(fdb_msg(RTM_NEWNEIGH, 3, mac(1), v6), 0) == (
        RTM_NEWNEIGH, AF_BRIDGE, 3, PERM, NTF_SELF, v6, mac(1))
    assert W.parse_event(neigh_msg(RTM_DELNEIGH, 3, ip(4), None), 0) == (
        RTM_DELNEIGH, AF_INET, 3, NUD_PERMANENT, 0, ip(4), b"")
    assert W.parse_event(HDR.pack(32, 16, 0, 0, 0) + bytes(16), 0) is None  # RTM_NEWLINK
