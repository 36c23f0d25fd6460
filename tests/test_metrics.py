"""Prometheus metrics of the agent, scraped over loopback from the real exporter."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from overlayc.agent.metrics import Metrics, MetricsServer, serve
from overlayc.agent.report import RoundOutcome, RoundReport

TS = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def report(n: int, outcome: RoundOutcome, creates: int = 0, epoch: int | None = 7) -> RoundReport:
    return RoundReport(TS, "node1", n, outcome, {"create": creates, "update": 0, "replace": 0, "delete": 1},
                       0.5, epoch)


@pytest.fixture
def exporter() -> Iterator[tuple[Metrics, MetricsServer]]:
    metrics = Metrics()
    server = serve(metrics, 0)  # 127.0.0.1, a free port
    yield metrics, server
    server.close()


def scrape(server: MetricsServer) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(overlayc_\S+) (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def test_rounds_changes_failures_and_gauges_are_exported(exporter: tuple[Metrics, MetricsServer]) -> None:
    metrics, server = exporter
    metrics.record_round(report(1, RoundOutcome.CHANGED, creates=3))
    metrics.record_round(report(2, RoundOutcome.INVALID_CONFIG))
    metrics.record_round(report(3, RoundOutcome.UNCHANGED, epoch=8))
    metrics.record_xfrm_stat({"XfrmInNoStates": 4, "XfrmOutPolBlock": 0})
    got = scrape(server)
    assert got['overlayc_reconcile_rounds_total{outcome="changed"}'] == 1
    assert got['overlayc_reconcile_rounds_total{outcome="invalid_config"}'] == 1
    assert got['overlayc_reconcile_rounds_total{outcome="unchanged"}'] == 1
    assert got['overlayc_reconcile_rounds_total{outcome="rolled_back"}'] == 0
    assert got['overlayc_reconcile_changes_total{action="create"}'] == 3
    assert got['overlayc_reconcile_changes_total{action="delete"}'] == 3
    assert got["overlayc_reconcile_failures_total"] == 1
    assert got["overlayc_drift_objects"] == 1
    assert got["overlayc_key_epoch"] == 8
    assert got["overlayc_last_success_timestamp_seconds"] == TS.timestamp() + 0.5
    assert got['overlayc_xfrm_errors_total{counter="XfrmInNoStates"}'] == 4
    assert got['overlayc_xfrm_errors_total{counter="XfrmOutPolBlock"}'] == 0


def test_the_exporter_listens_on_loopback_by_default(exporter: tuple[Metrics, MetricsServer]) -> None:
    _, server = exporter
    assert server.server.server_address[0] == "127.0.0.1"
    assert "overlayc_reconcile_failures_total" in scrape(server)
