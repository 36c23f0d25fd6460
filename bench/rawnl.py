"""The netlink limit: a minimal batched sender of pre-packed requests, with nothing else in it.

Messages (each with NLM_F_ACK) are pre-joined into chunks of `per_send`; chunks go out while at
most `in_flight` requests are unacknowledged; every ACK is read and errors are counted. The
receive buffer is raised (SO_RCVBUFFORCE) and ACKs are capped (NETLINK_CAP_ACK), as a careful
C sender would do. This is the floor any Python implementation of the same writes can reach.
"""

from __future__ import annotations

import socket
import struct

from overlayc.netlink.netns import Namespace

SO_RCVBUFFORCE = 33
SOL_NETLINK, NETLINK_CAP_ACK = 270, 10
NLMSG_ERROR = 2
RCVBUF = 16 << 20
_HDR = struct.Struct("=IHHII")
_ERR = struct.Struct("=i")


def chunks(messages: list[bytes], per_send: int) -> list[tuple[int, bytes]]:
    """(number of requests, joined bytes) per send()."""
    return [(len(messages[i:i + per_send]), b"".join(messages[i:i + per_send]))
            for i in range(0, len(messages), per_send)]


def open_route_socket(netns: str) -> socket.socket:
    with Namespace(netns) as ns, ns.entered():
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
    sock.bind((0, 0))
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
    sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
    return sock


def send_all(sock: socket.socket, batches: list[tuple[int, bytes]], in_flight: int = 1024) -> int:
    """Send every batch and read every ACK; the number of requests the kernel refused."""
    total = sum(n for n, _ in batches)
    buf = bytearray(1 << 20)
    sent = acked = errors = nxt = 0
    while acked < total:
        while nxt < len(batches) and sent - acked + batches[nxt][0] <= in_flight:
            sock.send(batches[nxt][1])
            sent += batches[nxt][0]
            nxt += 1
        n = sock.recv_into(buf)
        off = 0
        while off + 20 <= n:
            length, mtype = _HDR.unpack_from(buf, off)[:2]
            if mtype == NLMSG_ERROR:
                acked += 1
                if _ERR.unpack_from(buf, off + 16)[0]:
                    errors += 1
            off += (length + 3) & ~3
    return errors
