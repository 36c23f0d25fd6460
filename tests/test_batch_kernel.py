"""Entry batches sent with one ACK per chunk (overlayc.netlink.batch): the chunks, and against
real kernels in test namespaces that a failure is still attributed to its entry, stops the
batch after its chunk, and is rolled back exactly."""

from __future__ import annotations

import errno
import random
import struct
import threading
from ipaddress import IPv4Address
from types import SimpleNamespace

import pytest

from overlayc.apply import requests
from overlayc.apply.kernel import KernelHandle
from overlayc.apply.run import Outcome, apply_changes
from overlayc.diff import Change
from overlayc.errors import ExecutionError
from overlayc.kernel.objects import Fdb, KernelObject
from overlayc.kernel.state import KernelState
from overlayc.netlink import batch
from overlayc.netlink.core import (
    HDR,
    NLM_F_ACK,
    NLM_F_CAPPED,
    NLM_F_REQUEST,
    NLMSG_ERROR,
    pack_msg,
    split_msgs,
)
from overlayc.netlink.neigh import FDB_MSG
from overlayc.observe.kernel import observe
from tests.support.kernel import bridge, create, entries, iface, vxlan


def network() -> list[KernelObject]:
    return [bridge(address=iface("10.1.255.1/16")), vxlan()]


def apply_all(ns: str, objs: list[KernelObject]) -> None:
    with KernelHandle(ns) as h:
        h.execute([create(o) for o in objs])


def fdb_entries(n: int) -> list[KernelObject]:
    """The fdb entries of `entries(n)`: a batch of one stream (overlayc.apply.streams)."""
    return [o for o in entries(n) if o.kind == "fdb"]


MULTICAST = Fdb("ovx1", "01:00:5e:00:00:01", IPv4Address("10.0.9.9"))  # vxlan: EOPNOTSUPP on replace


def test_chunks_respect_count_and_bytes_and_cover_every_message() -> None:
    messages = [bytes(48)] * 25
    assert list(batch.chunks(messages, 10, 1 << 20)) == [(0, 10), (10, 20), (20, 25)]
    assert list(batch.chunks(messages, 100, 48 * 7)) == [(0, 7), (7, 14), (14, 21), (21, 25)]
    assert list(batch.chunks([bytes(100), bytes(10)], 5, 50)) == [(0, 1), (1, 2)]  # one too large: alone
    assert list(batch.chunks([], 5, 50)) == []


def _plain_chunks(messages: list[bytes], max_count: int, max_bytes: int) -> list[tuple[int, int]]:
    out, start = [], 0
    while start < len(messages):
        end, size = start, 0
        while end < len(messages) and end - start < max_count and (
                end == start or size + len(messages[end]) <= max_bytes):
            size += len(messages[end])
            end += 1
        out.append((start, end))
        start = end
    return out


def test_chunks_are_the_greedy_ones() -> None:
    rng = random.Random(7)
    for _ in range(200):
        messages = [bytes(rng.choice((48, 60, 200))) for _ in range(rng.randrange(0, 60))]
        count, size = rng.randrange(1, 20), rng.randrange(40, 1000)
        assert list(batch.chunks(messages, count, size)) == _plain_chunks(messages, count, size)


def test_with_ack_sets_only_the_ack_flag() -> None:
    message = pack_msg(28, NLM_F_REQUEST | 0x500, 77, b"body")
    acked = batch.with_ack(message)
    assert HDR.unpack_from(acked) == (len(message), 28, NLM_F_REQUEST | 0x500 | NLM_F_ACK, 77, 0)
    assert acked[HDR.size:] == b"body"


def test_entry_messages_ask_for_no_ack() -> None:
    [message] = requests.entry_messages([create(entries(1)[0])], {"ovx1": 7}, 5) or []
    flags = FDB_MSG.unpack(message)[2]
    assert flags & NLM_F_ACK == 0 and flags & NLM_F_REQUEST


class _Kernel:
    """A netlink socket's far end as netlink_rcv_skb answers: an NLMSG_ERROR for a request with
    NLM_F_ACK or one that fails (seq in `failing`), nothing for the others."""

    def __init__(self, failing: set[int]) -> None:
        self.failing = failing
        self.sends: list[list[tuple[int, int]]] = []  # per send: (seq, flags) of its messages
        self.queue: list[bytes] = []

    def getsockopt(self, _level: int, _opt: int) -> int:
        return 1 << 20

    def send(self, data: bytes) -> int:
        sent = [(m.seq, m.flags) for m in split_msgs(data)]
        self.sends.append(sent)
        for seq, flags in sent:
            err = -errno.ENOENT if seq in self.failing else 0
            if flags & NLM_F_ACK or err:
                self.queue.append(pack_msg(NLMSG_ERROR, NLM_F_CAPPED, seq,
                                           struct.pack("=i", err) + HDR.pack(16, 28, flags, seq, 0)))
        return len(data)

    def recv_into(self, buf: bytearray) -> int:
        data = self.queue.pop(0)
        buf[:len(data)] = data
        return len(data)


def _messages(base: int, count: int) -> list[bytes]:
    return [pack_msg(28, NLM_F_REQUEST, base + i, bytes(32)) for i in range(count)]


def test_one_ack_per_chunk_and_failures_by_seq(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "CHUNK_BYTES", 10 * 48)
    kernel = _Kernel(set())
    sent, results = batch.send_chunked(SimpleNamespace(sock=kernel), 100, _messages(100, 25))  # type: ignore[arg-type]
    assert sent == 25 and results == []
    assert [[seq for seq, _ in s] for s in kernel.sends] == [list(range(100, 110)), list(range(110, 120)),
                                                              list(range(120, 125))]
    assert [[bool(flags & NLM_F_ACK) for _, flags in s] for s in kernel.sends] == [
        [False] * 9 + [True], [False] * 9 + [True], [False] * 4 + [True]]
    assert kernel.queue == []  # one answer per chunk, all read


def test_a_failure_is_attributed_and_ends_the_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "CHUNK_BYTES", 10 * 48)
    kernel = _Kernel({13, 16, 20})  # 20: the acknowledged last request of its chunk fails too
    halt = threading.Event()
    sent, failures = batch.send_chunked(SimpleNamespace(sock=kernel), 1, _messages(1, 35), halt)  # type: ignore[arg-type]
    assert sent == 20 and len(kernel.sends) == 2 and kernel.queue == []
    assert failures == [(12, errno.ENOENT, ""), (15, errno.ENOENT, ""), (19, errno.ENOENT, "")]
    assert halt.is_set()  # a stream beside this one starts no further chunk


def test_a_halt_set_elsewhere_stops_before_the_next_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "CHUNK_BYTES", 10 * 48)
    kernel, halt = _Kernel(set()), threading.Event()
    real_send = kernel.send

    def send(data: bytes) -> int:  # the other stream sees a failure while this chunk is in the kernel
        halt.set()
        return real_send(data)

    kernel.send = send  # type: ignore[method-assign]
    sent, failures = batch.send_chunked(SimpleNamespace(sock=kernel), 1, _messages(1, 35), halt)  # type: ignore[arg-type]
    assert (sent, failures) == (10, []) and len(kernel.sends) == 1 and kernel.queue == []


@pytest.mark.kernel
def test_a_large_entry_batch_is_applied_whole(netns: str) -> None:
    apply_all(netns, network())
    objs = entries(3000)  # 6,000 messages: several chunks
    with KernelHandle(netns) as h:
        h.execute([create(o) for o in objs])
    assert observe(netns).owned == KernelState([*network(), *objs])


@pytest.mark.kernel
def test_a_failing_entry_stops_the_batch_after_its_chunk(netns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    apply_all(netns, network())
    monkeypatch.setattr(batch, "CHUNK_BYTES", 10 * FDB_MSG.size)  # chunks of 10 entries
    objs = fdb_entries(30)  # one stream
    objs.insert(25, MULTICAST)
    with KernelHandle(netns) as h, pytest.raises(ExecutionError) as caught:
        h.execute([create(o) for o in objs])
    err = caught.value
    assert [i for i, _ in err.failures] == [25] and err.errnos == {errno.EOPNOTSUPP}
    assert "fdb 01:00:5e:00:00:01" in err.failures[0][1]
    assert err.applied == tuple(i for i in range(30) if i != 25)  # chunk 20..29 was sent; 30.. not
    applied = [objs[i] for i in err.applied]
    assert observe(netns).owned == KernelState([*network(), *applied])


@pytest.mark.kernel
def test_a_failing_entry_is_rolled_back_exactly(netns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    apply_all(netns, network())
    prior = observe(netns).owned
    monkeypatch.setattr(batch, "CHUNK_BYTES", 16 * FDB_MSG.size)
    objs = fdb_entries(80)  # one stream
    objs.insert(41, MULTICAST)
    changes: list[Change] = [create(o) for o in objs]
    with KernelHandle(netns) as h:
        result = apply_changes(h, KernelState([*network(), *objs]), changes)
    assert result.outcome is Outcome.ROLLED_BACK and result.executed == 47  # 48 sent, 1 failed
    assert result.rollback_problems == [] and len(result.failures) == 1
    assert observe(netns).owned == prior


def test_entries_go_in_runs_by_the_namespace_of_their_device() -> None:
    where = {"a": "sb1", "b": "sb1", "c": ""}
    handle = SimpleNamespace(links=SimpleNamespace(places=SimpleNamespace(where=where)))
    devs = ["z", "a", "a", "b", "c", "c", "a", "x"]
    mac = "02:00:00:00:00:01"
    changes = [create(Fdb(dev, mac, IPv4Address(f"10.0.0.{i}"))) for i, dev in enumerate(devs)]
    runs = list(KernelHandle._by_place(handle, changes, list(range(1, 8))))  # type: ignore[arg-type]
    assert runs == [("sb1", [1, 2, 3]), ("", [4, 5]), ("sb1", [6]), ("", [7])]
