"""IPv6 traffic between endpoint namespaces (ICMPv6 echo, HTTP over a dual-stack server), the
twin of `tests.support.traffic` for overlays with IPv6 subnets."""

from __future__ import annotations

import secrets
import socket
import struct
import time
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from lab.netns import InNetns
from tests.support.traffic import HttpServer

ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY = 128, 129
HTTP6_PORT = 8086


def ping6(dst: str, count: int = 2, wait: float = 3.0) -> int:
    """ICMPv6 echo requests from the calling thread's namespace to `dst` over a raw socket (the
    kernel fills in the ICMPv6 checksum of a raw IPPROTO_ICMPV6 socket, RFC 3542 §3.1): how many
    of `count` were answered within `wait` s each."""
    ident, answered = secrets.randbits(16), 0
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as s:
        for seq in range(count):
            echo = struct.pack("!BBHHH", ICMPV6_ECHO_REQUEST, 0, 0, ident, seq) + b"overlayc-ping6"
            s.sendto(echo, (dst, 0))
            answered += _await_reply6(s, IPv6Address(dst), ident, seq, time.monotonic() + wait)
    return answered


def _await_reply6(s: socket.socket, dst: IPv6Address, ident: int, seq: int, deadline: float) -> bool:
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            msg, addr = s.recvfrom(2048)  # a raw ICMPv6 socket receives no IPv6 header
        except TimeoutError:
            return False
        if IPv6Address(addr[0].split("%")[0]) == dst and msg[0] == ICMPV6_ECHO_REPLY and (
                msg[4:8] == struct.pack("!HH", ident, seq)):
            return True
    return False


def unreachable6(pairs: Iterable[tuple[str, IPv6Address]], count: int = 2) -> list[str]:
    """Ping6 every (source namespace, destination) pair, all sources in parallel; the pairs that
    did not answer every echo, as "src -> dst" (empty when all are reachable)."""
    by_src: dict[str, list[str]] = {}
    for src, dst in pairs:
        by_src.setdefault(src, []).append(str(dst))

    def all_from(dsts: list[str]) -> list[str]:
        return [d for d in dsts if ping6(d, count) != count]

    runs = {src: InNetns(src, all_from, dsts) for src, dsts in by_src.items()}
    return [f"{src} -> {dst}" for src, run in runs.items() for dst in run.result()]


def url(address: IPv4Address | IPv6Address, port: int = HTTP6_PORT, path: str = "/marker.txt") -> str:
    """`http://ADDRESS:PORT/PATH`, an IPv6 address in brackets (RFC 3986)."""
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{host}:{port}{path}"


def dual_stack_server(ns: str, directory: Path, marker: str, port: int = HTTP6_PORT) -> HttpServer:
    """An HTTP server in `ns` answering on both families (tests.support.traffic.HttpServer)."""
    return HttpServer(ns, directory, marker, port, bind="::")
