"""Interrupted applies and destroys (issue 16): SIGKILL, SIGTERM and SIGINT at random instants of
a real `overlayc apply` (links, FDB/neighbour entries, managed endpoints with their namespaces)
and of `overlayc destroy`, then the next apply converges and a destroy leaves nothing.

Each trial draws its delay from `random.Random(f"{SEED}:{signal}:{trial}")`; a failure names the
seed and the trial, and `OVERLAYC_KILL_SEED=<seed> pytest tests/test_kill_kernel.py` replays it.
The killed command is the CLI's `main()` in a forked child of this (already imported) process,
so the random instant falls in the command's work rather than in Python's start-up; recovery
runs in-process through the same `apply_target`/`destroy_netns` the CLI calls. Successive apply
trials alternate between two configurations, so every apply creates, replaces and deletes links,
entries, endpoints and namespaces. SIGTERM/SIGINT trials also check the rollback promise: a run
that exits 3 (rolled back) or stops before changing anything leaves the owned state exactly as
it found it.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from overlayc.apply import interrupt
from overlayc.apply.run import Outcome
from overlayc.apply.session import apply_target, destroy_netns
from overlayc.cli import main
from overlayc.compile import compile_node
from overlayc.config.load import load_config
from overlayc.diff import diff
from overlayc.inputs import Target, assign_with_lock
from overlayc.kernel.ownership import LINK_GROUP
from overlayc.kernel.state import KernelState
from overlayc.netlink.netns import namespace_id
from overlayc.observe.kernel import observe
from tests.support.host import run_in

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

SEED = int(os.environ.get("OVERLAYC_KILL_SEED", "16"))
TRIALS = 20
ROLLED_BACK = 3
# A signal that lands before the handlers are installed (imports, config loading) ends the
# process the default way: nothing had changed, which the trial checks.
EARLY_EXITS = {-signal.SIGTERM, -signal.SIGINT, 128 + signal.SIGTERM, 130, 1}

CONFIG = """\
version: 1
cluster: {{name: {cluster}, id: test-cluster-{cluster}}}
nodes:
  a: {{address: 192.0.2.1}}
  b: {{address: 192.0.2.2}}
networks:
  front: {{subnet: 10.41.0.0/24, vni: 5201}}
  back: {{subnet: 10.42.0.0/24, vni: 5202}}
services:
  web: {{replicas: 6, networks: [front, back]}}
  db: {{replicas: 4, networks: [back]}}
"""
# against CONFIG: a VNI changes (bridge and vxlan replaced), endpoints move and go, others come
OTHER = """\
version: 1
cluster: {{name: {cluster}, id: test-cluster-{cluster}}}
nodes:
  a: {{address: 192.0.2.1}}
  b: {{address: 192.0.2.2}}
networks:
  front: {{subnet: 10.41.0.0/24, vni: 5211}}
  back: {{subnet: 10.42.0.0/24, vni: 5202, mtu: 1400}}
services:
  web: {{replicas: 4, networks: [front, back]}}
  cache: {{replicas: 4, networks: [front]}}
"""


@dataclass
class Node:
    ns: str
    cluster: str
    configs: tuple[Path, Path]

    def apply_args(self, k: int) -> list[str]:
        return ["apply", "-f", str(self.configs[k]), "--node", "a", "--netns", self.ns, "--yes"]

    def destroy_args(self) -> list[str]:
        return ["destroy", "--netns", self.ns, "--cluster", self.cluster, "--yes"]

    def target(self, k: int) -> Target:
        loaded = load_config([self.configs[k]])
        return Target(loaded.config, assign_with_lock(loaded, locked=False), "a", self.ns,
                      datetime.now(UTC), None)

    def apply(self, k: int) -> Outcome:
        return apply_target(self.target(k), confirm=lambda plan: True).result.outcome

    def pending(self, k: int) -> list[str]:
        """What a plan of config `k` would still change (empty: `plan --detailed-exitcode` exits 0)."""
        t = self.target(k)
        desired = compile_node(t.config, t.assignment, "a", at=t.at, private_key=None,
                               owner=namespace_id(self.ns))
        return [f"{c.action} {' '.join(c.key)}" for c in diff(desired, observe(self.ns, self.cluster))]

    def owned(self) -> KernelState:
        return observe(self.ns, self.cluster).owned

    def destroy(self) -> None:
        destroy_netns(self.ns, self.cluster, confirm=lambda plan: True)

    def leftovers(self) -> list[str]:
        """Namespaces and links of this cluster still present (after a destroy: none)."""
        names = [n for n in os.listdir("/run/netns") if n.startswith(f"{self.cluster}-")]
        links = run_in(self.ns, "ip", "-o", "link", "show", "group", str(LINK_GROUP)).stdout.splitlines()
        return names + links


@pytest.fixture
def node(make_netns: Callable[[], str], tmp_path: Path) -> Iterator[Node]:
    ns, peer = make_netns(), make_netns()
    run_in(ns, "ip", "link", "add", "oc16-u", "type", "veth", "peer", "name", "oc16-p", "netns", peer)
    run_in(ns, "ip", "addr", "add", "192.0.2.1/24", "dev", "oc16-u")
    run_in(ns, "ip", "link", "set", "oc16-u", "up")
    cluster = f"oc16{secrets.token_hex(2)}"
    configs = []
    for k, body in enumerate((CONFIG, OTHER)):
        (tmp_path / str(k)).mkdir()
        configs.append(tmp_path / str(k) / "overlay.yaml")
        configs[-1].write_text(textwrap.dedent(body.format(cluster=cluster)))
    yield Node(ns, cluster, (configs[0], configs[1]))
    for name in os.listdir("/run/netns"):
        if name.startswith(f"{cluster}-"):
            subprocess.run(["ip", "netns", "del", name], check=False)


def _tell_when_armed(fd: int) -> None:
    """In the child: write one byte to `fd` as the apply starts executing changes (`armed()`),
    so the parent can aim a signal inside execution however long the steps before it take."""
    original = interrupt.armed

    @contextmanager
    def armed() -> Iterator[None]:
        os.write(fd, b"x")
        with original():
            yield

    interrupt.armed = armed  # the forked child only


def _spawn(args: list[str], log: Path, armed_fd: int | None = None) -> int:
    """Fork a child that runs `overlayc ARGS` (cli.main) with stdout/stderr in `log`; its pid.
    With `armed_fd`, the child writes a byte there when execution starts."""
    pid = os.fork()
    if pid:
        return pid
    code = 99
    try:  # the child: default signal dispositions, as a fresh process has them
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if armed_fd is not None:
            _tell_when_armed(armed_fd)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.argv = ["overlayc", *args]
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _duration(args: list[str], log: Path) -> float:
    start = time.monotonic()
    code = _wait(_spawn(args, log))
    assert code == 0, log.read_text()
    return time.monotonic() - start


def _execution_window(args: list[str], log: Path) -> float:
    """Seconds from the start of execution to the end of a full run of `overlayc ARGS`."""
    r, w = os.pipe()
    pid = _spawn(args, log, armed_fd=w)
    os.close(w)
    try:
        assert os.read(r, 1) == b"x", log.read_text()
        start = time.monotonic()
        assert _wait(pid) == 0, log.read_text()
        return time.monotonic() - start
    finally:
        os.close(r)


def _interrupt(args: list[str], sig: int, delay: float, log: Path, *,
               in_execution: bool = False) -> tuple[int, str]:
    """Run `overlayc ARGS` and send `sig` `delay` seconds after its start, or after the start of
    its execution (`in_execution`; a run with nothing to execute is not signalled)."""
    r, w = os.pipe() if in_execution else (-1, -1)
    pid = _spawn(args, log, armed_fd=w if in_execution else None)
    if in_execution:
        os.close(w)
        started = os.read(r, 1) == b"x"  # b"": the run ended without executing anything
        os.close(r)
        if not started:
            return _wait(pid), log.read_text()
    time.sleep(delay)
    os.kill(pid, sig)
    return _wait(pid), log.read_text()


def _trial_apply(node: Node, k: int, sig: int, delay: float, where: str, log: Path, *,
                 in_execution: bool = False) -> int:
    """One interrupted apply of config `k`, then the checks; the interrupted run's exit code."""
    before = node.owned()
    code, err = _interrupt(node.apply_args(k), sig, delay, log, in_execution=in_execution)
    assert "Traceback" not in err, f"{where}: {err}"
    if sig != signal.SIGKILL and code != 0:
        # SIGTERM/SIGINT: rolled back (3) or stopped before any change: the kernel is as before
        assert code == ROLLED_BACK or code in EARLY_EXITS, f"{where}: exit {code}: {err}"
        assert node.owned() == before, f"{where}: exit {code} but the owned state changed"
    assert node.apply(k) in (Outcome.CHANGED, Outcome.NOTHING), where
    assert node.pending(k) == [], f"{where}: the next apply did not converge"
    return code


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_an_interrupted_apply_is_repaired_by_the_next(node: Node, sig: signal.Signals,
                                                      tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    total = _duration(node.apply_args(1), log)  # a full apply from nothing, for the delay range
    node.destroy()
    window = _execution_window(node.apply_args(1), log)  # of that apply, its execution
    codes = []
    for trial in range(TRIALS):
        rng = random.Random(f"{SEED}:{sig.name}:{trial}")
        # half the trials anywhere in the run, half inside execution (however long loading,
        # compiling and observing took on this machine): both paths are always exercised
        in_execution = trial % 4 >= 2
        delay = rng.uniform(0.0, 0.8 * window if in_execution else 1.2 * total)
        span = f"the execution window {window:.3f}s" if in_execution else f"{total:.3f}s"
        where = f"seed {SEED} {sig.name} trial {trial} (delay {delay:.3f}s of {span})"
        codes.append(_trial_apply(node, trial % 2, sig, delay, where, log, in_execution=in_execution))
    # not vacuous: most runs were really cut short, and SIGTERM/SIGINT runs did roll back
    assert sum(c != 0 for c in codes) >= TRIALS // 2, codes
    assert sig == signal.SIGKILL or ROLLED_BACK in codes, codes
    node.destroy()
    assert node.leftovers() == [], f"seed {SEED} {sig.name}: destroy left {node.leftovers()}"


def test_an_interrupted_destroy_is_finished_by_the_next(node: Node, tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    node.apply(0)
    total = _duration(node.destroy_args(), log)
    sigs = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]
    for trial in range(TRIALS):
        rng = random.Random(f"{SEED}:destroy:{trial}")
        sig, delay = sigs[trial % 3], rng.uniform(0.0, 1.2 * total)
        where = f"seed {SEED} destroy trial {trial} {sig.name} (delay {delay:.3f}s of {total:.3f}s)"
        # the apply after the previous trial's interrupted destroy (and destroy) converges
        assert node.apply(trial % 2) is Outcome.CHANGED and node.pending(trial % 2) == [], where
        _, err = _interrupt(node.destroy_args(), sig, delay, log)
        assert "Traceback" not in err, f"{where}: {err}"
        node.destroy()
        assert node.leftovers() == [], f"{where}: destroy left {node.leftovers()}"
        assert len(node.owned()) == 0, where
