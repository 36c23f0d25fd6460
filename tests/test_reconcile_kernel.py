"""`overlayc reconcile` against the real kernel, in namespaces the tests create and remove."""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
import urllib.request
from typing import Any

import pytest

from tests.support.agent import BAD, GOOD, Agent
from tests.support.counters import netns_list
from tests.support.host import holding, run_in

pytestmark = pytest.mark.kernel

VOLATILE = {"stats", "stats64", "used", "updated", "confirmed", "operstate"}


def _scrub(value: Any) -> Any:
    """Drop the counters and timers the kernel changes on its own."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in sorted(value.items())
                if k not in VOLATILE and not k.endswith("timer")}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def dump(ns: str, cluster: str) -> str:
    """What `ip`/`bridge` show of the node namespace and of the cluster's endpoint namespaces."""
    parts: dict[str, Any] = {}
    commands = {"link": ["ip", "-d", "-j", "link", "show"], "addr": ["ip", "-4", "-j", "addr", "show"],
                "fdb": ["bridge", "-j", "fdb", "show"], "neigh": ["ip", "-j", "neigh", "show"]}
    for name, cmd in commands.items():
        parts[name] = _scrub(json.loads(run_in(ns, *cmd).stdout or "[]"))
    parts["xfrm"] = [run_in(ns, "ip", "xfrm", what, "show").stdout for what in ("policy", "state")]
    for ep in sorted(n for n in netns_list() if n.startswith(f"{cluster}-")):
        parts[ep] = _scrub(json.loads(run_in(ep, "ip", "-4", "-d", "-j", "addr", "show").stdout or "[]"))
    return json.dumps(parts, indent=1, sort_keys=True)


def test_once_applies_then_changes_nothing_and_a_bad_config_touches_nothing(agent: Agent) -> None:
    agent.write(GOOD)
    code, first = agent.once()
    assert code == 2, first
    assert (first["outcome"], first["node"], first["enforced"]) == ("changed", "a", "config")
    assert first["changes"]["create"] > 0 and "error" not in first
    box = holding(agent.ns, "ovx5101")  # the network's sandbox
    link = json.loads(run_in(box, "ip", "-d", "-j", "link", "show", "dev", "ovx5101").stdout)[0]
    assert link["linkinfo"]["info_data"]["id"] == 5101 and link["master"] == "ovb5101"
    code, second = agent.once()
    assert code == 0 and second["outcome"] == "unchanged" and sum(second["changes"].values()) == 0
    before = dump(agent.ns, agent.cluster)
    agent.write(BAD)
    code, bad = agent.once()
    assert code == 65 and bad["outcome"] == "invalid_config" and bad["enforced"] == "none"
    assert any("error[unknown-key]" in d and "'encrypt'" in d for d in bad["diagnostics"]), bad
    assert dump(agent.ns, agent.cluster) == before


def read_json_line(proc: subprocess.Popen[str], timeout: float = 60) -> dict[str, Any]:
    """The next JSON line the agent prints (fails the test when none comes within `timeout`)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the agent printed no round within the timeout"
    line = proc.stdout.readline()
    assert line, f"the agent exited: {proc.poll()}"
    data: dict[str, Any] = json.loads(line)
    return data


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return str(resp.read().decode())


def test_the_loop_survives_a_bad_config_and_ends_cleanly_on_sigterm(agent: Agent) -> None:
    agent.write(GOOD)
    with agent.loop("--interval", "1s", "--metrics-port", "0") as proc:
        assert proc.stderr is not None
        note = proc.stderr.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/metrics", note).group(1))  # type: ignore[union-attr]
        first = read_json_line(proc)
        assert first["outcome"] == "changed" and first["round"] == 1
        while (report := read_json_line(proc))["outcome"] != "unchanged":
            pass
        before = dump(agent.ns, agent.cluster)
        agent.write(BAD)
        while (report := read_json_line(proc))["outcome"] != "invalid_config":
            assert report["outcome"] == "unchanged", report
        assert report["enforced"] == "last-good" and report["node"] == "a"
        assert any("'encrypt'" in d for d in report["diagnostics"])
        assert dump(agent.ns, agent.cluster) == before  # nothing torn down, nothing changed
        metrics = scrape(port)
        assert re.search(r'overlayc_reconcile_rounds_total\{outcome="invalid_config"\} [1-9]', metrics)
        assert re.search(r'overlayc_reconcile_rounds_total\{outcome="changed"\} 1\.0', metrics)
    assert dump(agent.ns, agent.cluster) == before


def test_sighup_starts_a_round_at_once(agent: Agent) -> None:
    agent.write(GOOD)
    with agent.loop("--interval", "1h") as proc:
        assert read_json_line(proc)["round"] == 1
        box = holding(agent.ns, "ovx5101")  # the network's sandbox
        run_in(box, "ip", "link", "set", "ovx5101", "mtu", "1300")  # drift, repaired on SIGHUP
        proc.send_signal(signal.SIGHUP)
        second = read_json_line(proc)
        assert second["round"] == 2 and second["outcome"] == "changed" and second["changes"]["update"] == 1
    mtu = json.loads(run_in(box, "ip", "-j", "link", "show", "ovx5101").stdout)[0]["mtu"]
    assert mtu == 1450
