"""A raw netlink socket (AF_NETLINK, SOCK_RAW), with batched requests
and byte-level dumps. This is transport, not policy: `observe/` and `apply/` decide what to send.

Batching: many requests go out in one send(), each with NLM_F_ACK and its own sequence number,
so the kernel's NLMSG_ERROR for request i carries seq base+i and errors are attributed exactly.
At most `window` requests are unacknowledged at a time: every ACK is a separate skb charged
against the receive buffer, and with the default rmem (212992 B) the kernel drops ACKs (ENOBUFS)
beyond roughly 256 outstanding ones. We also raise SO_RCVBUF(FORCE) and ask for capped ACKs
(NETLINK_CAP_ACK: the request is not echoed back) with extended ACK messages (NETLINK_EXT_ACK).
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import os
import socket
import struct
from collections.abc import Callable, Generator, Iterator, Sequence

from overlayc.errors import DumpInterrupted, EnvironmentProblem, NeedsPrivileges
from overlayc.netlink.core import (
    HDR,
    NETLINK_CAP_ACK,
    NETLINK_EXT_ACK,
    NLM_F_ACK,
    NLM_F_DUMP,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    SOL_NETLINK,
    Message,
    pack_msg,
    parse_error,
    split_msgs,
)

NETLINK_ROUTE = 0
SO_RCVBUFFORCE = 33
RCVBUF = 8 << 20
WINDOW = 200
RECV_SIZE = 1 << 20
ACK_ERR = struct.Struct("=i")

NLM_F_DUMP_INTR = 0x10

Request = tuple[int, int, bytes]  # message type, flags (NLM_F_REQUEST|NLM_F_ACK added), body
# a dump's buffer parser: (buf, offset) -> (offset of its NLMSG_DONE/ERROR or -1, NLM_F_DUMP_INTR seen)
Parse = Callable[[bytes, int], tuple[int, bool]]


class NetlinkSocket:
    """One raw netlink socket of protocol `proto` (NETLINK_ROUTE, NETLINK_XFRM), in the namespace of
    the calling thread (`overlayc.netlink.netns.Namespace` makes them inside a named namespace)."""

    def __init__(self, proto: int, window: int = WINDOW) -> None:
        try:
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, proto)
        except PermissionError:
            raise NeedsPrivileges("opening a netlink socket needs CAP_NET_ADMIN") from None
        self.sock.bind((0, 0))
        with contextlib.suppress(OSError):  # SO_RCVBUFFORCE needs CAP_NET_ADMIN; fall back to rmem_max
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        for opt in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
            with contextlib.suppress(OSError):
                self.sock.setsockopt(SOL_NETLINK, opt, 1)
        self.window = window
        self.seq = 1
        self._buf = bytearray(RECV_SIZE)
        self._view = memoryview(self._buf)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> NetlinkSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recv(self) -> bytes:
        """One datagram (a copy of the bytes, out of a reused buffer: no 1 MiB allocation per call)."""
        return bytes(self._view[:self._recv_into()])

    def _recv_into(self) -> int:
        """One datagram into `self._buf`; its length."""
        try:
            return self.sock.recv_into(self._buf)
        except OSError as exc:
            if exc.errno == errno_mod.ENOBUFS:
                raise EnvironmentProblem("netlink receive buffer overflowed: ACKs were lost") from None
            raise

    def reserve(self, count: int) -> int:
        """The first of `count` consecutive sequence numbers, taken for the caller's messages."""
        base = self.seq
        self.seq += count
        return base

    def transact(self, requests: Sequence[Request]) -> list[tuple[int, str]]:
        """Send every request with its own seq and NLM_F_ACK, ≤ window unacknowledged; returns
        (errno, extack) per request in order (errno 0 = done). A failing request does not stop
        the others. The kernel handles the requests of one send() in order, synchronously."""
        base = self.reserve(len(requests))
        return self.send_acked(base, [pack_msg(t, f | NLM_F_REQUEST | NLM_F_ACK, base + i, body)
                                      for i, (t, f, body) in enumerate(requests)])

    def send_acked(self, base: int, messages: Sequence[bytes]) -> list[tuple[int, str]]:
        """`transact` for complete messages already packed with NLM_F_ACK and seq base, base+1, …
        (numbers from `reserve`): (errno, extack) per message, in order."""
        total = len(messages)
        results: list[tuple[int, str]] = [(0, "")] * total
        sent = acked = 0
        refill = max(1, self.window // 2)
        while acked < total:
            if sent < total and sent - acked < refill:  # top up to `window` in one send()
                upto = min(total, acked + self.window)
                self.sock.send(b"".join(messages[sent:upto]))
                sent = upto
            acked += self._collect_acks(base, total, results)
        return results

    def _collect_acks(self, base: int, total: int, results: list[tuple[int, str]]) -> int:
        """Read one datagram of ACKs into `results`; the number of requests it acknowledged."""
        end = self._recv_into()
        buf = self._buf
        done = off = 0
        while off + 20 <= end:
            n, t, _f, seq, _pid = HDR.unpack_from(buf, off)
            i = seq - base
            if t == NLMSG_ERROR and 0 <= i < total:
                if ACK_ERR.unpack_from(buf, off + 16)[0]:
                    results[i] = parse_error(next(split_msgs(bytes(buf[off : off + n]))))
                done += 1
            off += (n + 3) & ~3
        return done

    def dump_raw(self, msg_type: int, body: bytes) -> Generator[bytes, None, None]:
        """recv() buffers of a dump, as the kernel sent them (NLMSG_DONE/ERROR handled here)."""
        seq = self._send_dump(msg_type, body)
        interrupted = False
        while True:
            buf = self._recv()
            last = None
            off = 0
            while off + 16 <= len(buf):  # only headers are read here; payloads stay in `buf`
                n, t, f, mseq = HDR.unpack_from(buf, off)[:4]
                if f & NLM_F_DUMP_INTR:
                    interrupted = True
                if t in (NLMSG_DONE, NLMSG_ERROR) and mseq == seq:
                    last = t, buf[off:off + n]
                    break
                off += (n + 3) & ~3
            if last is None:
                try:
                    yield buf
                except GeneratorExit:  # left mid-dump: read the rest, the socket is reused
                    self._drain(seq)
                    raise
                continue
            yield buf[:off]
            self._end_of_dump(last[0], last[1], interrupted)
            return

    def dump_parsed(self, msg_type: int, body: bytes, parse: Parse) -> None:
        """A dump whose recv() buffers are handed to `parse(buf, off)` as they arrive, which reads
        the messages of `buf` from `off` up to its end or its first NLMSG_DONE or NLMSG_ERROR
        message and returns (that message's offset, -1 when there is none; whether a message it
        read carried NLM_F_DUMP_INTR), as the decoders of overlayc.netlink.entrydump do. One walk
        over the bytes where dump_raw + a parser make two. Errors as dump_raw's; what `parse`
        raises is raised after the rest of the dump is read (the socket is reused)."""
        seq = self._send_dump(msg_type, body)
        parse_dump(seq, self._recv, parse, lambda buf: self._drain(seq, buf))

    def capture_dump(self, msg_type: int, body: bytes) -> tuple[int, list[bytes]]:
        """(sequence number, recv() buffers) of a dump, as the kernel sent them, up to the one
        holding its NLMSG_DONE or NLMSG_ERROR: read now, decoded later by `parse_dump` (with the
        same errors as `dump_parsed`; overlayc.observe.prefetch)."""
        seq = self._send_dump(msg_type, body)
        out = []
        while True:
            out.append(buf := self._recv())
            if _end_of(buf, seq) >= 0:
                return seq, out

    def _send_dump(self, msg_type: int, body: bytes) -> int:
        """Send a dump request; its sequence number."""
        seq = self.seq
        self.seq += 1
        self.sock.send(pack_msg(msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, body))
        return seq

    @staticmethod
    def _end_of_dump(kind: int, msg: bytes, interrupted: bool) -> None:
        """Raise what the dump's last message (NLMSG_DONE or NLMSG_ERROR `msg`) and its
        NLM_F_DUMP_INTR flags call for: NeedsPrivileges, OSError, DumpInterrupted."""
        if kind == NLMSG_ERROR:
            err, text = parse_error(next(split_msgs(msg)))
            if err in (errno_mod.EPERM, errno_mod.EACCES):
                raise NeedsPrivileges("reading kernel state needs CAP_NET_ADMIN")
            if err:
                raise OSError(err, text or os.strerror(err))
        if interrupted:
            raise DumpInterrupted(errno_mod.EAGAIN, "dump interrupted by a concurrent change")

    def _drain(self, seq: int, pending: bytes = b"") -> None:
        """Read and drop the rest of dump `seq`, up to its NLMSG_DONE or NLMSG_ERROR (first
        looked for in `pending`, a buffer already read)."""
        buf = pending
        while True:
            off = 0
            while off + 16 <= len(buf):
                n, t, _f, mseq = HDR.unpack_from(buf, off)[:4]
                if t in (NLMSG_DONE, NLMSG_ERROR) and mseq == seq:
                    return
                if n < 16:
                    break
                off += (n + 3) & ~3
            buf = self._recv()

    def dump(self, msg_type: int, body: bytes) -> Iterator[Message]:
        """Messages of a dump (convenient for the few-entry dumps: links, policies)."""
        for buf in self.dump_raw(msg_type, body):
            yield from split_msgs(buf)


def parse_dump(seq: int, recv: Callable[[], bytes], parse: Parse, drain: Callable[[bytes], None]) -> None:
    """The buffers of dump `seq`, from `recv()`, through `parse` (see `NetlinkSocket.dump_parsed`)
    up to the dump's NLMSG_DONE or NLMSG_ERROR; then what that message and the NLM_F_DUMP_INTR
    flags call for is raised (`NetlinkSocket._end_of_dump`). When `parse` raises, `drain(buf)`
    is given the buffer it failed on first."""
    interrupted = False
    while True:
        buf = recv()
        off = 0
        while True:
            try:
                stop, intr = parse(buf, off)
            except BaseException:
                drain(buf)
                raise
            interrupted = interrupted or intr
            if stop < 0:
                break
            n, t, _f, mseq = HDR.unpack_from(buf, stop)[:4]
            if n < 16:  # no length to step over: the rest of the dump cannot be read either
                raise EnvironmentProblem(f"malformed netlink message in a dump (length {n})")
            if mseq == seq:
                NetlinkSocket._end_of_dump(t, buf[stop:stop + n], interrupted)
                return
            off = stop + ((n + 3) & ~3)  # the end of another request: not this dump's


def _end_of(buf: bytes, seq: int) -> int:
    """The offset of dump `seq`'s NLMSG_DONE or NLMSG_ERROR message in `buf`, or -1."""
    off = 0
    while off + 16 <= len(buf):
        n, t, _f, mseq = HDR.unpack_from(buf, off)[:4]
        if t in (NLMSG_DONE, NLMSG_ERROR) and mseq == seq:
            return off
        if n < 16:
            raise EnvironmentProblem(f"malformed netlink message in a dump (length {n})")
        off += (n + 3) & ~3
    return -1
