"""Reachability probe, run inside an endpoint namespace: ICMP echo + one HTTP GET, JSON result.

    ip netns exec <cluster>-probe python -m lab.probe 198.51.100.1 8080 /insecure.txt MARKER

prints {"ping": {"sent": 3, "received": 3, "rtt_ms": [...]}, "http": {"status": 200, "bytes": 37,
"marker": true, "ms": 12.3, "attempts": 1, "error": ""}} and exits 0 when every echo was answered
and the body holds the marker. One process for both (ESP lab user space is 10-30x slower). The GET
retries refused connections for a while: the server may still be starting.
"""

from __future__ import annotations

import json
import secrets
import socket
import struct
import sys
import time
import urllib.error
import urllib.request
from typing import Any


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data` (ICMP, IPv4 headers)."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def ping(dst: str, count: int = 3, wait: float = 2.0) -> dict[str, Any]:
    """ICMP echo from the calling thread's namespace over a raw socket (needs root; the host may
    have no ping binary): `wait` s for each answer. The identifier is random, not the PID, so
    threads of one process can ping at once."""
    rtts: list[float] = []
    ident = secrets.randbits(16)
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        for seq in range(count):
            body = struct.pack("!HH", ident, seq) + b"overlayc-lab-ping"
            start = time.monotonic()
            s.sendto(struct.pack("!BBH", 8, 0, checksum(b"\x08\x00\x00\x00" + body)) + body, (dst, 0))
            if _await_reply(s, dst, ident, seq, start + wait):
                rtts.append(round((time.monotonic() - start) * 1000, 2))
    return {"sent": count, "received": len(rtts), "rtt_ms": rtts}


def _await_reply(s: socket.socket, dst: str, ident: int, seq: int, deadline: float) -> bool:
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            pkt, (src, _) = s.recvfrom(2048)
        except TimeoutError:
            return False
        icmp = pkt[(pkt[0] & 0x0F) * 4 :]
        if src == dst and icmp[0] == 0 and icmp[4:8] == struct.pack("!HH", ident, seq):
            return True
    return False


def get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """GET `url` from the calling thread's namespace, never through an environment proxy: the
    status and the body; urllib's errors propagate."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as resp:
        status: int = resp.status
        body: bytes = resp.read()
    return status, body


def http_get(url: str, marker: str, patience: float = 30.0) -> dict[str, Any]:
    """GET url; retry refused connections until `patience` runs out."""
    deadline, attempts = time.monotonic() + patience, 0
    while True:
        attempts += 1
        start = time.monotonic()
        try:
            status, body = get(url)
            ms = round((time.monotonic() - start) * 1000, 1)
            return {"status": status, "bytes": len(body), "marker": marker.encode() in body,
                    "ms": ms, "attempts": attempts, "error": ""}  # fmt: skip
        except (urllib.error.URLError, OSError) as exc:
            refused = isinstance(getattr(exc, "reason", exc), ConnectionRefusedError)
            if not refused or time.monotonic() > deadline:
                return {"status": 0, "bytes": 0, "marker": False, "ms": 0.0, "attempts": attempts,
                        "error": str(exc)}  # fmt: skip
            time.sleep(0.2)


def main(argv: list[str]) -> int:
    """probe DST PORT PATH MARKER [COUNT]: print the JSON result, exit 0 when everything worked."""
    dst, port, path, marker = argv[:4]
    count = int(argv[4]) if len(argv) > 4 else 3
    result = {"ping": ping(dst, count), "http": http_get(f"http://{dst}:{port}{path}", marker)}
    print(json.dumps(result))
    ok = result["ping"]["received"] == count and result["http"]["marker"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
