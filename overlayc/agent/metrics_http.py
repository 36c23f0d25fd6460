"""The metrics endpoint's HTTP server, with every connection bounded: at most `MAX_CONNECTIONS`
served at once (more are closed at once, never queued in a thread), and each one closed when
it sends nothing for `IDLE_TIMEOUT` seconds. prometheus_client's own server keeps a thread per
connection with no timeout, so idle connections could pile up without limit.

    BoundedMetricsServer(address, port, registry)   bound and listening; `serve_forever()` runs it
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

MAX_CONNECTIONS = 16
IDLE_TIMEOUT = 5.0  # seconds a connection may stay silent (a scrape sends its request at once)


class _Handler(BaseHTTPRequestHandler):
    timeout = IDLE_TIMEOUT  # StreamRequestHandler.setup applies it to the socket
    server: BoundedMetricsServer

    def do_GET(self) -> None:
        if self.path.split("?")[0] not in ("/", "/metrics"):
            self.send_error(404, "only /metrics is served")
            return
        body = generate_latest(self.server.registry)
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: one line per scrape would drown the agent's round reports."""


class BoundedMetricsServer(ThreadingHTTPServer):
    """A threading HTTP server serving `registry` with bounded connections (module docstring)."""

    daemon_threads = True

    def __init__(self, address: str, port: int, registry: CollectorRegistry,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.registry = registry
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__((address, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):  # full: close now rather than queue a thread
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()
