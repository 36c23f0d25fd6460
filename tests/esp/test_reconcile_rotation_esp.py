"""Keys rotate on time with nobody running anything: two `overlayc reconcile` agents (interval 5 s)
on two nodes joined by a veth underlay, an encrypted network with rotation 20 s. Across three
epochs each node's inbound SAs are exactly those of e−1, e, e+1 (the set shifts by one epoch at
every boundary) and the endpoints keep reaching each other over ESP, also across a boundary that
node2's agent sleeps through (stopped: it lags an epoch). Runs in the ESP lab.

The first ping waits until both agents have held the SAs of one epoch at once: before that, the
two nodes need not share an SA. Both start without saved counters, so in its first epoch F each
sends on the SAs of F+1 (overlayc.apply.counters, `Fallback`), which a peer holds only once it has
rotated into F: node1 starting just after a boundary cannot reach a node2 whose agent has not
rotated yet, and not at all a node2 whose first round has not ended (tests/test_rotation_pairs.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from overlayc.agent.status import build_status
from overlayc.compile.epoch import epoch_of
from overlayc.config.load import load_config
from overlayc.kernel.objects import XfrmState
from overlayc.kernel.xfrm_marks import owned_reqids
from overlayc.netlink.netns import namespace_id
from overlayc.observe.counters import read_health
from overlayc.observe.kernel import observe
from tests.support.builders import assign, compile_for
from tests.support.host import EXAMPLES
from tests.support.traffic import ping as echo

pytestmark = [pytest.mark.esp, pytest.mark.kernel, pytest.mark.slow]

ROTATION = 20
NODES = ("node1", "node2")
ADDRESS = {"node1": "10.77.0.11", "node2": "10.77.0.12"}
KEYS = {"node1": "QWfOvszOZ62logBnaao7jh0X6y/XVbZjTwQaNfEtah0=",  # examples/seed (EXAMPLE KEYS)
        "node2": "4ddMdhAY7GOroEOfyAUqle2h1wW5qPkoj4KiUzmp4V4="}


def config_text(lab: Any) -> str:
    nodes = "".join(f"  {n}: {{address: {lab.address(n)}, public_key: {KEYS[n]}}}\n" for n in NODES)
    endpoints = "".join(f"  p{n[-1]}: {{node: {n}, networks: {{secure: {{ipv4_address: {ADDRESS[n]}}}}}}}\n"
                        for n in NODES)
    return (f"version: 1\ncluster: {{name: {lab.tag}, id: rotation-test-{lab.tag}, "
            f"encryption: {{rotation: {ROTATION}s}}}}\nnodes:\n{nodes}"
            "networks:\n  secure: {subnet: 10.77.0.0/24, encrypted: true, attachable: true}\n"
            f"endpoints:\n{endpoints}")


def inbound_spis(states: Any, local: str) -> set[int]:
    return {s.spi for s in states if isinstance(s, XfrmState) and str(s.dst) == local}


def inbound(lab: Any, config: Any, assignment: Any, node: str, now: datetime) -> tuple[set[int], set[int]]:
    """(live, desired at `now`) SPIs of `node`'s inbound SAs."""
    ns, local = lab.netns(node), str(lab.address(node))
    desired = compile_for(config, node, at=now, assignment=assignment, owner=namespace_id(ns))
    return inbound_spis(observe(ns).owned, local), inbound_spis(desired, local)


def rotated(lab: Any, config: Any, assignment: Any, node: str) -> bool:
    """Whether `node` holds exactly the inbound SAs of the epoch it is now."""
    live, want = inbound(lab, config, assignment, node, datetime.now(UTC))
    return live == want


def rounds(tmp_path: Path) -> str:
    """The agents' last round reports (one JSON line each), for a failure message."""
    lines = [f"{n}: {line}" for n in NODES
             for line in (tmp_path / n / "rounds.jsonl").read_text().splitlines()[-6:]]
    return "\nagents' last rounds:\n" + "\n".join(lines)


def ping(netns: str, dst: str) -> bool:
    """At least one of two echo requests from `netns` to `dst` is answered."""
    return any(echo(netns, dst, 1, 3.0) == 1 for _ in range(2))


def check_status(lab: Any, config: Any, assignment: Any) -> None:
    """`status` of node1 from real SAs, away from a boundary (the agents rotate within seconds
    after one) once node1 holds its epoch's SAs: healthy, every SA of the peer installed, the
    outbound one counting packets."""
    deadline = time.monotonic() + 3 * ROTATION
    while not (6 <= time.time() % ROTATION <= ROTATION - 4 and rotated(lab, config, assignment, "node1")):
        assert time.monotonic() < deadline, "node1 never held its epoch's inbound SAs away from a boundary"
        time.sleep(0.5)
    assert ping(f"{lab.tag}-p2", ADDRESS["node1"])
    now, ns = datetime.now(UTC), lab.netns("node1")
    desired = compile_for(config, "node1", at=now, assignment=assignment, owner=namespace_id(ns))
    status = build_status(config, "node1", now, desired, observe(ns),
                          read_health(ns, lab.address("node1"), sysctls=True,
                                      reqids=owned_reqids(config.cluster.name)))
    assert status.healthy, status.problems
    (peer,) = status.peers
    assert peer.node == "node2" and [sa.direction for sa in peer.sas] == ["in", "in", "in", "out"]
    out = peer.sas[-1].counters
    assert out is not None and out.esn and out.packets > 0 and out.headroom == 2**64 - out.oseq


def stop(proc: subprocess.Popen[str]) -> int | None:
    """The agent's exit code after SIGTERM, or None when it did not end (then it is killed)."""
    try:
        return proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def test_reconcile_rotates_the_keys_across_epoch_boundaries(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(list(NODES))
    agents: dict[str, subprocess.Popen[str]] = {}
    configs: dict[str, Path] = {}
    for node in NODES:
        home = tmp_path / node
        home.mkdir()
        configs[node] = home / "overlay.yaml"
        configs[node].write_text(config_text(lab))
        key = home / f"{node}.key"
        shutil.copy(EXAMPLES / "seed" / "keys" / f"{node}.key", key)
        key.chmod(0o600)
        with (home / "rounds.jsonl").open("w") as log:  # the agent's round reports, one JSON line each
            agents[node] = subprocess.Popen(
                [sys.executable, "-m", "overlayc", "reconcile", "-f", str(configs[node]), "--node", node,
                 "--netns", lab.netns(node), "--key-file", str(key), "--interval", "5s",
                 "--lock-timeout", "30"],
                stdout=log, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "OVERLAYC_LOCK_DIR": str(home / "locks")})
    config = load_config([configs["node1"]]).config
    assignment = assign(config)
    verified: dict[int, set[int]] = {}
    paired = False  # both nodes have held the inbound SAs of one epoch at once
    stopped: set[int] | None = None  # node2's inbound SPIs while its agent is stopped
    lagged: int | None = None  # the epoch node1 pinged in while node2's agent lagged an epoch
    deadline = time.monotonic() + 150
    try:
        while (len(verified) < 3 or lagged is None) and time.monotonic() < deadline:
            now = datetime.now(UTC)
            epoch = epoch_of(now, ROTATION)
            (live, want), (live2, want2) = (inbound(lab, config, assignment, n, now) for n in NODES)
            paired = paired or (live == want and live2 == want2 and len(live) == 3)
            if paired and epoch not in verified and live == want and len(live) == 3:
                if stopped is not None:  # node2 holds the previous epoch's SAs, not this one's
                    assert live2 == stopped != want2, "node2's agent rotated while it was stopped"
                    lagged = epoch
                assert ping(f"{lab.tag}-p1", ADDRESS["node2"]), \
                    f"overlay ping failed in epoch {epoch}" + rounds(tmp_path)
                verified[epoch] = live
                if stopped is not None:
                    agents["node2"].send_signal(signal.SIGCONT)
                    stopped = None
            if len(verified) >= 2 and lagged is None and stopped is None and epoch == max(verified) \
                    and live2 == want2:
                # node2 holds this epoch's SAs: stopped, its agent sleeps through the next boundary
                # and lags node1 by an epoch when node1 pings in the next one
                agents["node2"].send_signal(signal.SIGSTOP)
                stopped = live2
            time.sleep(1)
        agents["node2"].send_signal(signal.SIGCONT)
        assert len(verified) >= 3, \
            f"saw the right inbound SAs only in epochs {sorted(verified)}" + rounds(tmp_path)
        assert lagged is not None, f"node1 never pinged while node2's agent lagged ({sorted(verified)})"
        epochs = sorted(verified)
        assert epochs == list(range(epochs[0], epochs[0] + len(epochs)))
        # the set shifts by one epoch at each boundary: e−1,e,e+1 → e,e+1,e+2 → e+1,e+2,e+3
        assert all(len(verified[e] & verified[e + 1]) == 2 for e in epochs[:-1])
        assert all(len(verified[e] & verified[e + 2]) == 1 for e in epochs[:-2])
        check_status(lab, config, assignment)
    finally:
        agents["node2"].send_signal(signal.SIGCONT)
        for proc in agents.values():
            proc.send_signal(signal.SIGTERM)
        codes = {node: stop(proc) for node, proc in agents.items()}
    errors = {n: p.stderr.read() if p.stderr else "" for n, p in agents.items()}
    assert codes == {"node1": 0, "node2": 0}, errors
