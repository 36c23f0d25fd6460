"""Entry changes on two streams (overlayc.apply.streams) and verify's two dumps at once
(overlayc.observe.kernel.read_fdb_neigh), against real kernels in test namespaces: the streams
really run at the same time on two sockets, a failure in either stops both, what was done is
known exactly and rolled back exactly, a slice that cannot be packed goes request by request, a
SIGTERM during the streams still rolls the apply back, and a verify that finds an entry missing
still fails.

The interleavings are forced, not timed: a barrier that both streams must reach (it breaks after
10 s when only one runs), or a stream that waits until the other's failing chunk is answered."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address
from typing import Any

import pytest

from overlayc.apply import interrupt, streams
from overlayc.apply.kernel import KernelHandle
from overlayc.apply.run import Outcome, apply_changes, change_label
from overlayc.errors import ExecutionError
from overlayc.kernel.objects import Fdb, KernelObject, Neigh
from overlayc.kernel.state import KernelState
from overlayc.netlink import batch
from overlayc.netlink.neigh import FDB_MSG
from overlayc.netlink.sock import NetlinkSocket
from overlayc.observe.kernel import observe
from tests.support.host import ip_json, run_in
from tests.support.kernel import bridge, create, delete, entries, iface, vxlan

pytestmark = pytest.mark.kernel

MULTICAST = Fdb("ovx1", "01:00:5e:00:00:01", IPv4Address("10.0.9.9"))  # vxlan: EOPNOTSUPP on replace
WAIT = 10.0  # s a forced interleaving waits for the other stream before it fails the test


def network() -> list[KernelObject]:
    return [bridge(address=iface("10.1.255.1/16")), vxlan()]


def links() -> list[KernelObject]:
    """What the `node` fixture makes."""
    return [*network(), vxlan("ovx2", vni=4097, master="ovb1")]


@pytest.fixture
def node(netns: str) -> Iterator[str]:
    """A namespace holding the network's bridge and vxlan, and a second vxlan `ovx2`."""
    with KernelHandle(netns) as h:
        h.execute([create(o) for o in links()])
    yield netns


def stale(ns: str, handle: KernelHandle) -> None:
    """Delete ovx2 behind `handle`'s back: an entry on it is refused by the kernel (ENODEV, its
    ifindex is gone) after being packed like any other."""
    assert "ovx2" in handle.links.links
    run_in(ns, "ip", "link", "del", "ovx2")


def in_kernel(ns: str) -> tuple[int, int]:
    """(permanent fdb entries with a dst, permanent neighbours) on ovx1, as iproute2 shows them."""
    fdb = [e for e in ip_json(ns, "bridge", "fdb", "show", "dev", "ovx1") if "dst" in e]
    neigh = ip_json(ns, "neigh", "show", "dev", "ovx1")
    return len(fdb), len(neigh)


def _label(obj: KernelObject) -> str:
    if isinstance(obj, Fdb):
        return f"{obj.lladdr} dst {obj.dst} on {obj.dev}"
    assert isinstance(obj, Neigh)
    return f"{obj.dst} lladdr {obj.lladdr} on {obj.dev}"


def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks and slices of 10 entries: many per stream."""
    monkeypatch.setattr(batch, "CHUNK_BYTES", 10 * FDB_MSG.size)
    monkeypatch.setattr(streams, "SLICE", 10)


def lockstep(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Force this interleaving of the two streams (with `small_chunks`: a call of send_chunked
    per chunk): each stream's first chunk waits, just before it is sent (after its halt check),
    until the other's first chunk is about to be sent too; a stream's later chunks wait until
    both first chunks are answered. Returns the (thread, socket) of every chunk sent, in order."""
    barrier, lock = threading.Barrier(2, timeout=WAIT), threading.Lock()
    seen: list[tuple[int, int]] = []
    sock_of: dict[int, int] = {}
    answered = [threading.Event(), threading.Event()]
    real_send, real_ack = batch.send_chunked, batch.with_ack

    def send_chunked(sock: NetlinkSocket, *args: Any, **kw: Any) -> tuple[int, list[batch.Failure]]:
        me = threading.get_ident()
        with lock:
            first = me not in sock_of
            sock_of[me] = id(sock)
            mine = answered[len(sock_of) - 1] if first else None
        if mine is None:
            assert all(e.wait(WAIT) for e in answered)
            return real_send(sock, *args, **kw)
        try:
            return real_send(sock, *args, **kw)
        finally:
            mine.set()

    def with_ack(message: bytes) -> bytes:
        me = threading.get_ident()
        with lock:
            first = all(t != me for t, _ in seen)
            seen.append((me, sock_of[me]))
        if first:
            barrier.wait()
        return real_ack(message)

    monkeypatch.setattr(batch, "send_chunked", send_chunked)
    monkeypatch.setattr(batch, "with_ack", with_ack)
    return seen


def test_fdb_and_neighbour_entries_go_at_once_on_two_sockets(
    node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_chunks(monkeypatch)
    seen = lockstep(monkeypatch)
    objs = entries(300)  # 30 chunks per stream
    with KernelHandle(node) as h:
        h.execute([create(o) for o in objs])
    assert len({t for t, _ in seen}) == 2 and len({s for _, s in seen}) == 2  # two threads, two sockets
    assert len(seen) == 60
    first_of = {t: seen.index(next(x for x in seen if x[0] == t)) for t, _ in seen}
    last_of = {t: max(i for i, x in enumerate(seen) if x[0] == t) for t, _ in seen}
    assert all(first_of[a] < last_of[b] for a in first_of for b in first_of)  # interleaved
    assert in_kernel(node) == (300, 300)
    assert observe(node).owned.entries == KernelState([*network(), *objs]).entries


def test_a_failure_in_one_stream_stops_the_other(node: str, monkeypatch: pytest.MonkeyPatch) -> None:
    small_chunks(monkeypatch)
    seen = lockstep(monkeypatch)
    objs = entries(100)
    objs.insert(6, MULTICAST)  # the fdb stream's 4th request: its first chunk fails
    changes = [create(o) for o in objs]
    with KernelHandle(node) as h, pytest.raises(ExecutionError) as caught:
        h.execute(changes)
    err = caught.value
    assert [i for i, _ in err.failures] == [6] and err.errnos == {errno.EOPNOTSUPP}
    fdb_sent = [i for i, o in enumerate(objs) if o.kind == "fdb"][:10]
    neigh_sent = [i for i, o in enumerate(objs) if o.kind == "neigh"][:10]
    assert err.applied == tuple(sorted(i for i in fdb_sent + neigh_sent if i != 6))
    assert len(seen) == 2  # one chunk each: the first answered failure stopped both streams
    assert in_kernel(node) == (9, 10)
    assert observe(node).owned.entries == KernelState([*network(), *(objs[i] for i in err.applied)]).entries


@pytest.mark.parametrize("bad", ["fdb", "neigh", "both"])
def test_a_refusal_in_either_stream_or_both_is_rolled_back_exactly(
    node: str, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    small_chunks(monkeypatch)
    lockstep(monkeypatch)  # both first chunks are sent, whichever fails
    objs = entries(100)
    refused: list[KernelObject] = []
    if bad in ("fdb", "both"):
        refused.append(MULTICAST)
    if bad in ("neigh", "both"):
        refused.append(Neigh("ovx2", IPv4Address("10.7.0.1"), "02:00:00:00:07:01"))
    for n, obj in enumerate(refused):
        objs.insert(3 + n, obj)  # in the first chunk of its stream
    with KernelHandle(node) as h:
        stale(node, h)
        prior = h.observe().owned
        result = apply_changes(h, KernelState([*network(), *objs]), [create(o) for o in objs])
    assert result.outcome is Outcome.ROLLED_BACK and result.rollback_problems == []
    assert len(result.failures) == len(refused)
    assert [f.split(": the kernel refused")[0] for f in result.failures] == [
        f"{change_label(create(o))}: {o.kind} {_label(o)}: create" for o in refused]
    assert result.executed == 20 - len(refused)  # the first chunk of each stream, less its refusal
    assert observe(node).owned == prior
    assert in_kernel(node) == (0, 0)


def test_a_verify_that_finds_an_entry_missing_fails_and_rolls_back(node: str) -> None:
    objs = entries(500)
    lost = objs[2 * 263]
    assert lost == Fdb("ovx1", "02:42:0a:01:01:07", IPv4Address("10.0.2.7"))

    def lose_one() -> None:  # between execute and verify, an entry goes behind overlayc's back
        run_in(node, "bridge", "fdb", "del", "02:42:0a:01:01:07", "dev", "ovx1", "dst", "10.0.2.7")

    with KernelHandle(node) as h:
        prior = h.observe().owned
        result = apply_changes(h, KernelState([*links(), *objs]), [create(o) for o in objs],
                               after_execute=lose_one)
    assert result.outcome is Outcome.ROLLED_BACK
    needs = change_label(create(lost))
    assert result.failures == [f"verification: after apply the kernel still needs {needs}"]
    assert observe(node).owned == prior and in_kernel(node) == (0, 0)


def test_verify_reads_the_fdb_and_neighbour_dumps_at_once(node: str, monkeypatch: pytest.MonkeyPatch) -> None:
    objs = entries(2000)
    with KernelHandle(node) as h:
        h.execute([create(o) for o in objs])
    barrier, socks = threading.Barrier(2, timeout=WAIT), set[int]()
    real: Callable[..., None] = NetlinkSocket.dump_parsed

    def dump_parsed(self: NetlinkSocket, msg_type: int, body: bytes, parse: Any) -> None:
        socks.add(id(self))
        barrier.wait()  # both dumps are under way before either is read
        real(self, msg_type, body, parse)

    monkeypatch.setattr(NetlinkSocket, "dump_parsed", dump_parsed)
    got = observe(node).owned
    assert len(socks) == 2
    assert got.entries == KernelState([*network(), *objs]).entries
    out = subprocess.run(["ip", "-n", node, "neigh", "show", "dev", "ovx1"], capture_output=True, text=True,
                         check=True).stdout
    assert len(out.splitlines()) == 2000


def test_a_slice_that_cannot_be_packed_sends_the_rest_of_its_stream_request_by_request(
    node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_chunks(monkeypatch)
    general: list[list[int]] = []
    real = KernelHandle._send_batch

    def send_batch(self: KernelHandle, changes: Any, idx: list[int], *args: Any) -> Any:
        general.append(idx)
        return real(self, changes, idx, *args)

    monkeypatch.setattr(KernelHandle, "_send_batch", send_batch)
    objs = entries(40)
    gone = Neigh("ovx1", IPv4Address("10.3.3.3"), "02:00:00:00:00:33")
    with KernelHandle(node) as h:
        h.execute([create(gone)])
        changes = [create(o) for o in objs]
        changes.insert(55, delete(gone))
        h.execute(changes)
    neigh = [i for i, c in enumerate(changes) if c.key[0] == "neigh"]
    assert general == [neigh[20:]]  # its third slice holds the delete: it and the rest, one by one
    assert in_kernel(node) == (40, 40)
    assert observe(node).owned.entries == KernelState([*links(), *objs]).entries


def test_a_sigterm_while_the_streams_run_rolls_the_apply_back(
    node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_chunks(monkeypatch)
    real_ack, signalled = batch.with_ack, threading.Event()

    def with_ack(message: bytes) -> bytes:  # the first chunk of either stream: SIGTERM to the process
        if not signalled.is_set():
            signalled.set()
            os.kill(os.getpid(), signal.SIGTERM)
        return real_ack(message)

    monkeypatch.setattr(batch, "with_ack", with_ack)
    objs = entries(300)
    with interrupt.handled(), KernelHandle(node) as h:
        prior = h.observe().owned
        with interrupt.armed():
            result = apply_changes(h, KernelState([*links(), *objs]), [create(o) for o in objs])
    assert signalled.is_set()
    assert result.outcome is Outcome.ROLLED_BACK and result.rollback_problems == []
    assert result.failures == ["interrupted by SIGTERM: undoing every change"]
    assert observe(node).owned == prior and in_kernel(node) == (0, 0)
