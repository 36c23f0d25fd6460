"""`overlayc status` against a namespace in known states (healthy after apply, drifted by hand)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.support.agent import GOOD, Agent
from tests.support.host import holding, run_in

pytestmark = pytest.mark.kernel


def status(a: Agent, *extra: str) -> tuple[int, str]:
    res = subprocess.run([sys.executable, "-m", "overlayc", "status", "-f",
                          str(a.tmp / "overlay.yaml"), "--netns", a.ns, "--sample", "0", *extra],
                         capture_output=True, text=True, timeout=120, check=False, env=a.env(), cwd=a.tmp)
    assert res.returncode in (0, 1, 2, 3), res.stderr
    return res.returncode, res.stdout


def test_status_is_healthy_after_apply_and_degraded_with_the_drift_listed(agent: Agent) -> None:
    agent.write(GOOD)
    assert agent.once()[0] == 2
    code, text = status(agent, "--json")
    doc: dict[str, Any] = json.loads(text)
    assert code == 0 and doc["healthy"] is True and doc["problems"] == []
    front = doc["networks"][0]
    assert (front["name"], front["present"], front["vxlan"]) == ("front", True, "ovx5101")
    assert front["mtu"] == {"desired": 1450, "live": 1450}
    assert front["fdb"] == {"desired": 1, "live": 1} and front["neigh"] == {"desired": 1, "live": 1}
    assert doc["drift"] == {"count": 0, "changes": []}

    box = holding(agent.ns, "ovx5101")  # the network's sandbox
    run_in(box, "ip", "link", "set", "ovx5101", "mtu", "1300")
    entries = json.loads(run_in(box, "bridge", "-j", "fdb", "show", "dev", "ovx5101").stdout)
    fdb = next(e for e in entries if e.get("dst"))
    run_in(box, "bridge", "fdb", "del", fdb["mac"], "dev", "ovx5101", "dst", fdb["dst"], "self")
    code, text = status(agent, "--json")
    doc = json.loads(text)
    assert code == 1 and doc["healthy"] is False
    assert doc["problems"][0] == "drift: 2 change(s) needed to match the configuration"
    assert sorted(doc["drift"]["changes"]) == [f"+ fdb ovx5101 {fdb['mac']} {fdb['dst']}",
                                               "~ vxlan ovx5101 (mtu)"]
    front = doc["networks"][0]
    assert front["mtu"] == {"desired": 1450, "live": 1300} and front["fdb"] == {"desired": 1, "live": 0}
    code, text = status(agent)
    assert code == 1 and "DEGRADED" in text and "~ vxlan ovx5101 (mtu)" in text


# an encrypted network present on node a only: no peer, so no SA (this kernel has no ESP), but
# the fail-closed block policies are installed and the sysctls matter
LONELY = """\
networks:
  sec: {subnet: 10.33.0.0/24, vni: 5201, encrypted: true}
services:
  vault: {replicas: 1, networks: [sec], constraints: ["node.hostname == a"]}
"""
KEYS = "  a: {address: 192.0.2.1, public_key: QWfOvszOZ62logBnaao7jh0X6y/XVbZjTwQaNfEtah0=}\n" \
       "  b: {address: 192.0.2.2, public_key: 4ddMdhAY7GOroEOfyAUqle2h1wW5qPkoj4KiUzmp4V4=}\n"


def test_a_fail_open_sysctl_is_critical_and_fails_every_round(agent: Agent) -> None:
    agent.write(LONELY, nodes=KEYS)
    assert agent.once()[0] == 2
    assert "block" in run_in(agent.ns, "ip", "xfrm", "policy", "show").stdout
    code, out = status(agent, "--json", "--sample", "0.2")  # two readings: nothing grows here
    doc = json.loads(out)
    assert code == 0, doc["problems"]
    assert doc["sysctls"] == {"net.ipv4.conf.all.disable_policy": "0",
                              "net.ipv4.conf.oct-u.disable_policy": "0",
                              "net.ipv4.conf.oct-u.disable_xfrm": "0"}
    run_in(agent.ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/oct-u/disable_xfrm")
    code, out = status(agent, "--json")
    assert code == 2  # CRITICAL: the encryption fails open
    assert json.loads(out)["problems"] == ["fail open: net.ipv4.conf.oct-u.disable_xfrm = 1 (must be 0)"]
    code, report = agent.once()
    assert code == 1 and report["outcome"] == "error"
    assert "net.ipv4.conf.oct-u.disable_xfrm = 1 (must be 0)" in report["error"]


def test_status_that_cannot_look_is_unknown(agent: Agent) -> None:
    agent.write(GOOD)
    code, out = status(agent, "--netns", "oc14-no-such-namespace")  # the last --netns wins
    assert code == 3
    (agent.tmp / "overlay.yaml").write_text("version: 1\ncluster: {name: x}\n")
    code, out = status(agent, "--json")
    assert code == 3 and json.loads(out)["valid"] is False  # the diagnostics, as JSON
