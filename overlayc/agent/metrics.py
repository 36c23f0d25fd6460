"""Prometheus metrics of the reconcile agent (`overlayc reconcile --metrics-port`).

Exposed (own registry, nothing process-global):

    overlayc_reconcile_rounds_total{outcome}        rounds by outcome (unchanged, changed, ...)
    overlayc_reconcile_changes_total{action}        planned changes by action (create/update/...)
    overlayc_reconcile_failures_total               rounds that failed (any outcome but
                                                    unchanged/changed)
    overlayc_drift_objects                          objects that differed from the configuration
                                                    at the start of the last round
    overlayc_key_epoch                              key epoch of the last round (⌊t / rotation⌋)
    overlayc_last_success_timestamp_seconds         end of the last successful round (Unix time)
    overlayc_last_round_duration_seconds            duration of the last round
    overlayc_xfrm_errors_total{counter}             /proc/net/xfrm_stat of the node's namespace
                                                    (XfrmInNoStates, XfrmOutPolBlock, ...)

The HTTP server listens on 127.0.0.1 unless another address is given: metrics name peers and
show the health of the encryption, so exposing them is the operator's explicit choice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from overlayc.agent.report import RoundOutcome, RoundReport
from overlayc.diff import Action
from overlayc.errors import OverlaycError

DEFAULT_ADDRESS = "127.0.0.1"


class XfrmStatCollector(Collector):
    """Exposes the last reading of /proc/net/xfrm_stat as counters (the kernel's own counters)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, int] = {}

    def update(self, values: Mapping[str, int]) -> None:
        with self._lock:
            self._values = dict(values)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("overlayc_xfrm_errors", "XFRM error counters of the node's "
                                     "namespace (/proc/net/xfrm_stat)", labels=["counter"])
        with self._lock:
            for name, value in sorted(self._values.items()):
                family.add_metric([name], value)
        yield family


class Metrics:
    """The agent's metrics; `record_round` after every round, `record_xfrm_stat` per reading."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.rounds = Counter("overlayc_reconcile_rounds", "Reconcile rounds by outcome", ["outcome"],
                              registry=r)
        self.changes = Counter("overlayc_reconcile_changes", "Planned changes by action", ["action"],
                               registry=r)
        self.failures = Counter("overlayc_reconcile_failures", "Reconcile rounds that failed", registry=r)
        self.drift = Gauge("overlayc_drift_objects", "Objects that differed from the configuration at "
                           "the start of the last round", registry=r)
        self.epoch = Gauge("overlayc_key_epoch", "Key epoch of the last round", registry=r)
        self.last_success = Gauge("overlayc_last_success_timestamp_seconds",
                                  "End of the last successful round (Unix time)", registry=r)
        self.duration = Gauge("overlayc_last_round_duration_seconds", "Duration of the last round",
                              registry=r)
        self.xfrm = XfrmStatCollector()
        r.register(self.xfrm)
        for outcome in RoundOutcome:  # every series exists from the start (rate() needs a zero)
            self.rounds.labels(outcome.value)
        for action in Action:
            self.changes.labels(action.value)

    def record_round(self, report: RoundReport) -> None:
        """Count one round (outcome, changes, failure) and set the gauges it determines."""
        self.rounds.labels(report.outcome.value).inc()
        for action, count in report.changes.items():
            self.changes.labels(action).inc(count)
        self.drift.set(report.drift)
        self.duration.set(report.duration_s)
        if report.epoch is not None:
            self.epoch.set(report.epoch)
        if report.failed:
            self.failures.inc()
        else:
            self.last_success.set(report.ts.timestamp() + report.duration_s)

    def record_xfrm_stat(self, values: Mapping[str, int]) -> None:
        self.xfrm.update(values)


@dataclass
class MetricsServer:
    """A running HTTP exporter; `port` is the bound port (useful with port 0)."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(metrics: Metrics, port: int, address: str = DEFAULT_ADDRESS) -> MetricsServer:
    """Serve `metrics` at http://address:port/metrics in a daemon thread."""
    server, thread = start_http_server(port, addr=address, registry=metrics.registry)
    return MetricsServer(server, thread)


def round_metrics(netns: str | None, port: int, address: str,
                  note: Callable[[str], None]) -> tuple[Callable[[RoundReport], None], Callable[[], None]]:
    """Start an exporter; return (a sink recording each round and the namespace's xfrm_stat,
    a function stopping the exporter). `note` receives the URL and reading problems."""
    from overlayc.observe.counters import read_xfrm_stat

    metrics = Metrics()
    server = serve(metrics, port, address)
    note(f"overlayc: metrics on http://{address}:{server.port}/metrics")

    def record(report: RoundReport) -> None:
        metrics.record_round(report)
        try:
            metrics.record_xfrm_stat(read_xfrm_stat(netns))
        except OverlaycError as err:  # the namespace vanished: keep the last reading
            note(f"overlayc: cannot read xfrm_stat: {err}")

    return record, server.close
