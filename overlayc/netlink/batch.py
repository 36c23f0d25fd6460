"""Bulk requests with one acknowledgement per send instead of one per request.

`NetlinkSocket.send_acked` asks the kernel to ACK every request: for 100k fdb/neighbour entries
that is 100k NLMSG_ERROR skbs, each read by its own recv() (most of the send path's time).
The kernel does not need that to report errors. On a NETLINK_ROUTE socket the messages of one
sendmsg() are handled synchronously and in order (netlink_unicast_kernel → rtnetlink_rcv →
netlink_rcv_skb), and netlink_rcv_skb (net/netlink/af_netlink.c) answers a message

    if (nlh->nlmsg_flags & NLM_F_ACK || err)
            netlink_ack(skb, nlh, err, &extack);

so a request without NLM_F_ACK is answered only when it fails, with its own sequence number.
`send_chunked` sends the requests in chunks, only the last of each chunk with NLM_F_ACK: when
that ACK arrives, every failure of the chunk has arrived before it (same order, same socket), and
a request of the chunk without an answer was done. After a chunk with a failure no further chunk
is sent, so the caller knows exactly what was done: the chunks sent, less the failed requests.

A chunk is at most CHUNK_BYTES (netlink_sendmsg refuses a message larger than the socket's send
buffer, 212992 bytes by default) and at most as many requests as failures fit in the receive
buffer (each NLMSG_ERROR is its own skb, charged about ERROR_TRUESIZE bytes): a chunk that fails
whole still has every failure delivered. Not for XFRM: see overlayc.apply.xfrm_race.
"""

from __future__ import annotations

import errno as errno_mod
import socket
import struct
import threading
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from itertools import accumulate

from overlayc.errors import EnvironmentProblem
from overlayc.netlink.core import HDR, NLM_F_ACK, NLMSG_ERROR, parse_error, split_msgs
from overlayc.netlink.sock import NetlinkSocket

CHUNK_BYTES = 64 << 10
ERROR_TRUESIZE = 2048  # an NLMSG_ERROR skb's truesize (~1 KiB with an extack), with margin
RECV_SIZE = 64 << 10
_FLAGS = struct.Struct("=H")  # nlmsghdr.nlmsg_flags, at offset 6
_ERR = struct.Struct("=i")  # nlmsgerr.error, right after the header

Failure = tuple[int, int, str]  # (index of the message, errno, extack) of a refused message


def chunks(messages: Sequence[bytes], max_count: int, max_bytes: int) -> Iterator[tuple[int, int]]:
    """(start, end) of consecutive chunks of `messages`: each at most `max_count` messages and
    `max_bytes` bytes (a single larger message is a chunk of its own)."""
    ends = list(accumulate(map(len, messages)))  # ends[i]: the bytes of messages 0..i
    start = 0
    while start < len(messages):
        before = ends[start - 1] if start else 0
        end = min(start + max_count, bisect_right(ends, before + max_bytes, start))
        end = max(end, start + 1)
        yield start, end
        start = end


def with_ack(message: bytes) -> bytes:
    """`message` with NLM_F_ACK set in its header."""
    (flags,) = _FLAGS.unpack_from(message, 6)
    return message[:6] + _FLAGS.pack(flags | NLM_F_ACK) + message[8:]


def send_chunked(sock: NetlinkSocket, base: int, messages: Sequence[bytes],
                 halt: threading.Event | None = None) -> tuple[int, list[Failure]]:
    """Send complete NETLINK_ROUTE messages packed *without* NLM_F_ACK, with seq base, base+1, …
    (numbers from `sock.reserve`), in chunks closed by one acknowledged request (module docstring).

    Returns (sent, failures): the first `sent` messages were handed to the kernel; `failures`
    holds (i, errno, extack) of each of them the kernel refused, in order (every other one was
    done). Messages from `sent` on were not sent: a message of the last chunk sent failed, or
    `halt` was set before their chunk was started. A chunk with a failure sets `halt`, so streams
    sharing it (overlayc.apply.streams) start no further chunk once a failure is seen. Raises
    EnvironmentProblem when an answer was lost (ENOBUFS)."""
    failures: list[Failure] = []
    rcvbuf = sock.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    buf = bytearray(RECV_SIZE)
    for start, end in chunks(messages, max(1, rcvbuf // ERROR_TRUESIZE), CHUNK_BYTES):
        if halt is not None and halt.is_set():
            return start, failures
        sock.sock.send(b"".join([*messages[start:end - 1], with_ack(messages[end - 1])]))
        if _collect(sock.sock, buf, base, start, end, failures):
            if halt is not None:
                halt.set()
            return end, failures
    return len(messages), failures


def _collect(sock: socket.socket, buf: bytearray, base: int, start: int, end: int,
             failures: list[Failure]) -> bool:
    """Read the answers of messages start..end-1 up to the ACK of the last one, appending each
    failure to `failures`; True when one of them failed."""
    failed = False
    last = base + end - 1
    while True:
        try:
            size = sock.recv_into(buf)
        except OSError as exc:
            if exc.errno == errno_mod.ENOBUFS:
                raise EnvironmentProblem("netlink receive buffer overflowed: answers were lost") from None
            raise
        off = 0
        while off + HDR.size <= size:
            length, msg_type, _flags, seq, _pid = HDR.unpack_from(buf, off)
            if length < HDR.size:  # a malformed header: nothing more to read in this datagram
                break
            i = seq - base
            if msg_type == NLMSG_ERROR and start <= i < end and _ERR.unpack_from(buf, off + HDR.size)[0]:
                failures.append((i, *parse_error(next(split_msgs(bytes(buf[off:off + length]))))))
                failed = True
            if msg_type == NLMSG_ERROR and seq == last:
                return failed
            off += (length + 3) & ~3
