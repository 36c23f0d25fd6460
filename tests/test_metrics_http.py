"""The metrics server bounds its connections: idle ones are closed after a timeout, and beyond
the maximum a connection is closed at once instead of holding a thread (issue 16)."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Gauge

from overlayc.agent import metrics_http
from overlayc.agent.metrics_http import BoundedMetricsServer


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[BoundedMetricsServer]:
    monkeypatch.setattr(metrics_http._Handler, "timeout", 0.5)
    registry = CollectorRegistry()
    Gauge("oc16_probe", "a probe", registry=registry).set(7)
    srv = BoundedMetricsServer("127.0.0.1", 0, registry, max_connections=2)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _connect(srv: BoundedMetricsServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", srv.server_port), timeout=3)
    sock.sendall(b"GET /met")  # an unfinished request: the connection stays open and idle
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def _scrape(srv: BoundedMetricsServer) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.server_port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def test_connections_beyond_the_maximum_are_closed_at_once(server: BoundedMetricsServer) -> None:
    idle = [_connect(server), _connect(server)]
    time.sleep(0.1)  # both are being served (idle) by now
    extra = _connect(server)
    assert _closed_within(extra, 0.3), "a third connection was kept although two are served"
    for sock in [*idle, extra]:
        sock.close()


def test_idle_connections_are_closed_after_the_timeout(server: BoundedMetricsServer) -> None:
    idle = [_connect(server), _connect(server)]
    assert all(_closed_within(sock, 3) for sock in idle), "an idle connection was never closed"
    assert "oc16_probe 7.0" in _scrape(server)  # the slots are free again
    for sock in idle:
        sock.close()


def test_only_metrics_is_served(server: BoundedMetricsServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/etc/passwd", timeout=5)
    assert info.value.code == 404
