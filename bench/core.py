"""Bench machinery: throwaway namespaces (`ocb-<pid>-<n>`), interleaved timing rounds, results.

Every variant of a case runs once per round, in the same order, so a noisy neighbour slows all
of them alike; the first `warmup` rounds are discarded. Ratios are ratios of medians.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.fixtures import CLUSTER
from overlayc.kernel.ownership import parse_sandbox_name

NS_PREFIX = os.environ.get("OVERLAYC_BENCH_PREFIX", "ocb-")  # namespaces and temp dirs
NETNS_DIR = "/run/netns"
_counter = itertools.count(1)


def sh(*cmd: str, stdin: str | None = None) -> str:
    """Run a command (must succeed); its stdout."""
    res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {res.returncode}: {res.stderr.strip()[:500]}")
    return res.stdout


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_namespaces() -> list[str]:
    """Delete `ocb-<pid>-*` namespaces whose bench process is gone (a crashed earlier run), and
    the sandboxes of the bench's cluster whose node namespace is gone, whatever prefix that
    namespace had: a sandbox is named by its node namespace's inode, which a new namespace may
    reuse (its apply would then find a sandbox it does not own in the way)."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    stale = []
    alive = {_inode(n) for n in names}
    for name in names:
        if (parsed := parse_sandbox_name(name)) is not None:  # a sandbox of a node namespace
            if parsed[0] == CLUSTER and parsed[2] not in alive:  # whose namespace is gone
                stale.append(name)
            continue
        if not name.startswith(NS_PREFIX):
            continue
        pid = name[len(NS_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or not _pid_alive(int(pid)) or int(pid) == os.getpid():
            stale.append(name)
    for name in stale:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
    return stale


def our_namespaces() -> list[str]:
    """Namespaces this process made that still exist."""
    prefix = f"{NS_PREFIX}{os.getpid()}-"
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


def new_namespace() -> str:
    """A fresh namespace with `lo` up; the caller deletes it (`drop_namespace`)."""
    name = f"{NS_PREFIX}{os.getpid()}-{next(_counter)}"
    sh("ip", "netns", "add", name)
    sh("ip", "-n", name, "link", "set", "lo", "up")
    return name


def _inode(name: str) -> str:
    try:
        return f"ns{os.stat(os.path.join(NETNS_DIR, name)).st_ino}"
    except OSError:
        return ""


def drop_namespace(name: str) -> None:
    """Delete namespace `name` and the sandboxes overlayc made for it."""
    owner = _inode(name)
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        names = []
    for sandbox in names:
        if (parsed := parse_sandbox_name(sandbox)) is not None and parsed[2] == owner:
            subprocess.run(["ip", "netns", "del", sandbox], check=False, capture_output=True)
    subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


@contextlib.contextmanager
def namespace() -> Iterator[str]:
    """A fresh namespace for the body, deleted afterwards even on failure."""
    name = new_namespace()
    try:
        yield name
    finally:
        drop_namespace(name)


# --- results ---------------------------------------------------------------------------------
@dataclass
class Figure:
    """One measured quantity: every kept run, in `unit` (s or MiB)."""

    runs: list[float]
    unit: str = "s"
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "median": self.median, "min": min(self.runs), "max": max(self.runs),
                "runs": self.runs, "note": self.note}


@dataclass
class Target:
    """A pass/miss check: `value` (a ratio or a figure's median) must be ≤ `limit`."""

    name: str
    value: float
    limit: float
    unit: str = "×"

    @property
    def passed(self) -> bool:
        return self.value <= self.limit

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "limit": self.limit, "unit": self.unit,
                "pass": self.passed}


@dataclass
class CaseResult:
    name: str
    figures: dict[str, Figure] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def ratio(self, name: str, num: str, den: str) -> float:
        """Record and return median(num) / median(den)."""
        value = self.figures[num].median / self.figures[den].median
        self.ratios[name] = value
        return value

    def to_json(self) -> dict[str, Any]:
        return {
            "figures": {k: f.to_json() for k, f in self.figures.items()},
            "ratios": self.ratios,
            "targets": [t.to_json() for t in self.targets],
            "notes": self.notes,
        }


# --- timing ----------------------------------------------------------------------------------
@dataclass
class Variant:
    """A timed body with an untimed setup (returns the context) and teardown. `check`, if
    given, runs untimed after the first (warm-up) round to prove the body did its job."""

    run: Callable[[Any], Any]
    setup: Callable[[], Any] = lambda: None
    teardown: Callable[[Any], None] = lambda ctx: None
    check: Callable[[Any], None] | None = None


@dataclass
class Rounds:
    repeat: int
    warmup: int = 1


def cpu_seconds() -> float:
    """User + system CPU of this process and of its waited-for children (iproute2 runs as a
    child; the kernel's work on a netlink request is system time of the sender)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _busy_cores(window: float) -> float:
    """How many cores the whole machine kept busy (not idle, not waiting for I/O) over `window`
    seconds, from /proc/stat."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        return sum(ticks) - ticks[3] - ticks[4], sum(ticks)
    busy0, all0 = sample()
    time.sleep(window)
    busy1, all1 = sample()
    return (busy1 - busy0) / max(all1 - all0, 1) * (os.cpu_count() or 1)


SETTLE_WINDOW, SETTLE_BUSY, SETTLE_MAX = 0.05, 0.25, 2.0


def settle() -> None:
    """Wait (at most SETTLE_MAX s) until the machine is nearly idle: the kernel frees what the
    previous run's teardown deleted on its own workers after `ip netns del` returns (a namespace
    holding 100k FDB and neighbour entries: ~0.2 core-seconds within the next 0.2 s, measured on
    6.18 from /proc/stat), and a run started meanwhile shares the cores with it. On a machine
    busy with other work it gives up after SETTLE_MAX and measures anyway."""
    deadline = time.perf_counter() + SETTLE_MAX
    while _busy_cores(SETTLE_WINDOW) > SETTLE_BUSY and time.perf_counter() < deadline:
        pass


def measure(variants: dict[str, Variant], rounds: Rounds) -> dict[str, list[float]]:
    """Run every variant once per round (interleaved); seconds of the kept rounds per variant
    (wall clock), and under `<variant> CPU` the CPU seconds of the same runs (see cpu_seconds:
    robust when other processes compete for the cores, blind to time spent sleeping). Each run
    starts once the machine has settled from the previous one's teardown (`settle`)."""
    out: dict[str, list[float]] = {}
    for r in range(rounds.warmup + rounds.repeat):
        for name, v in variants.items():
            ctx = v.setup()
            settle()
            try:
                c0, t0 = cpu_seconds(), time.perf_counter()
                v.run(ctx)
                elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
                if r == 0 and v.check is not None:
                    v.check(ctx)
            finally:
                v.teardown(ctx)
            if r >= rounds.warmup:
                out.setdefault(name, []).append(elapsed)
                out.setdefault(f"{name} CPU", []).append(max(cpu, 1e-6))
    return out


def add_figures(result: CaseResult, times: dict[str, list[float]], prefix: str = "") -> None:
    for name, runs in times.items():
        result.figures[prefix + name] = Figure(runs)
