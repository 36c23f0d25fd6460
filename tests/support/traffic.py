"""Traffic between endpoint namespaces for the scenario tests (ICMP, HTTP, UDP), run in-process
by threads inside the namespaces (`lab.netns`) with `lab.probe`'s ping and GET, and a bounded wait."""

from __future__ import annotations

import http.server
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from lab import probe
from lab.netns import InNetns, in_netns

HTTP_PORT = 8080


def ping(ns: str, dst: IPv4Address | str, count: int = 1, wait: float = 3.0) -> int:
    """ICMP echo requests from namespace `ns` to `dst`: how many of `count` were answered."""
    answered: int = in_netns(ns, probe.ping, str(dst), count, wait)["received"]
    return answered


def unreachable(pairs: Iterable[tuple[str, IPv4Address]], count: int = 1, wait: float = 3.0) -> list[str]:
    """Ping every (source namespace, destination) pair, all sources in parallel; the pairs that
    did not answer every echo, as "src -> dst" (empty when all are reachable)."""
    by_src: dict[str, list[str]] = {}
    for src, dst in pairs:
        by_src.setdefault(src, []).append(str(dst))

    def all_from(dsts: list[str]) -> list[str]:
        return [d for d in dsts if probe.ping(d, count, wait)["received"] != count]

    runs = {src: InNetns(src, all_from, dsts) for src, dsts in by_src.items()}
    return [f"{src} -> {dst}" for src, run in runs.items() for dst in run.result()]


def http_get(ns: str, url: str, timeout: float = 10.0) -> str:
    """GET `url` with urllib from namespace `ns` (no proxy); the body."""
    _, body = in_netns(ns, probe.get, url, timeout)
    return body.decode()


def _wait_port_here(port: int, deadline: float, host: str = "127.0.0.1") -> None:
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class HttpServer:
    """`python -m http.server PORT` in namespace `ns` (all its IPv4 addresses; `bind="::"`: both
    families on one socket, http.server's DualStackServer clears IPV6_V6ONLY), serving
    `marker.txt` with `marker`; `stop()` kills it by its PID."""

    def __init__(self, ns: str, directory: Path, marker: str, port: int = HTTP_PORT,
                 bind: str = "0.0.0.0") -> None:  # fmt: skip
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "marker.txt").write_text(marker + "\n")
        self.ns, self.port, self.marker = ns, port, marker
        self.local = "::1" if ":" in bind else "127.0.0.1"
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "http.server", str(port), "--bind", bind,
             "--directory", str(directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 30) -> None:
        in_netns(self.ns, _wait_port_here, self.port, time.monotonic() + timeout, self.local)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


class _EchoHandler(http.server.BaseHTTPRequestHandler):

    def do_GET(self) -> None:
        body = f"{self.server.marker} path={self.path}\n".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class InprocHttpServer:
    """An HTTP server listening in namespace `ns` (all addresses), run by a thread of this
    process (no interpreter start: the ESP lab is slow); it answers `<marker> path=<path>`."""

    def __init__(self, ns: str, marker: str, port: int = HTTP_PORT) -> None:
        self.ns, self.port, self.marker = ns, port, marker
        self.server = in_netns(ns, http.server.ThreadingHTTPServer, ("0.0.0.0", port), _EchoHandler)
        self.server.marker = marker  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                       daemon=True)  # fmt: skip
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


# --- UDP counter stream -------------------------------------------------------------------------
class UdpStream:
    """Numbered UDP datagrams from namespace `src_ns` to `dst` (a receiver in `dst_ns`), one per
    `interval` s until `stop()`; `lost()` lists the sequence numbers that never arrived;
    `kept_pace()` says whether it sent what its running time called for."""

    def __init__(self, src_ns: str, dst_ns: str, dst: IPv4Address, port: int = 9099,
                 interval: float = 0.1) -> None:  # fmt: skip
        self.dst, self.port, self.interval = str(dst), port, interval
        self.sent = 0
        self.received: set[int] = set()
        self.started = self.stopped = 0.0
        self._stop = threading.Event()
        self._drained = False
        self.rx = in_netns(dst_ns, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
        self.rx.bind((self.dst, port))
        self.rx.settimeout(0.5)
        self.tx = in_netns(src_ns, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._recv, self._send)]

    def start(self) -> UdpStream:
        self.started = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def _send(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.tx.sendto(struct.pack("!Q", self.sent) + b"overlayc-stream", (self.dst, self.port))
            self.sent += 1
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def _recv(self) -> None:
        while True:
            try:
                data = self.rx.recv(2048)
            except TimeoutError:
                if self._stop.is_set() and self._drained:
                    return
                continue
            self.received.add(struct.unpack("!Q", data[:8])[0])

    def stop(self, drain: float = 5.0) -> None:
        """Stop sending; wait (bounded) until everything sent has arrived or `drain` passed."""
        self._drained = False
        self._stop.set()
        self.stopped = time.monotonic()
        self._threads[1].join(10)
        deadline = time.monotonic() + drain
        while len(self.received) < self.sent and time.monotonic() < deadline:
            time.sleep(0.1)
        self._drained = True
        self._threads[0].join(5)
        self.rx.close()
        self.tx.close()

    def lost(self) -> list[int]:
        return [i for i in range(self.sent) if i not in self.received]

    def kept_pace(self, share: float = 0.8) -> bool:
        """Whether it sent at least `share` of one datagram per interval over the time it ran
        (from start() to stop(): a test's loop runs as long as the clock makes it)."""
        return self.sent >= share * (self.stopped - self.started) / self.interval


# --- UDP bursts -------------------------------------------------------------------------------
def _send_here(dst: str, port: int, count: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(count):
            s.sendto(b"overlayc-burst %d" % i, (dst, port))
            time.sleep(0.002)


def udp_burst(ns: str, dst: IPv4Address, count: int, port: int = 9) -> None:
    """`count` UDP datagrams from namespace `ns` to `dst` (discard port)."""
    in_netns(ns, _send_here, str(dst), port, count)


def wait_until(check: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    """Poll `check` until it holds or `timeout` s passed (a bounded wait); its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
