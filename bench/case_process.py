"""process: the commands users run, as processes, with their config and committed lock, next to
what a user would run instead (interleaved rounds, ratios of medians). DESIGN.md §7.

cluster-N (tests/gen.py, N nodes × 20 tasks; written as YAML, its lock made by an untimed run):
  validate        `overlayc validate -f overlay.yaml`
  plan            `overlayc plan -f overlay.yaml --node <a node> --state empty` (reads the lock)
  peak RSS        ru_maxrss of each plan process (wait4)
entries-N (node1 of bench.fixtures.endpoints_config(N): N fdb + N neighbour entries on one vxlan):
  apply           `overlayc apply … --netns NS --yes` into an empty namespace (verify included)
  iproute2        overlayc's own `render --format iproute2` script without its entries (the
                  sandbox and its links), then `ip -n SB -batch` (neighbours) and `bridge -n SB
                  -batch` (fdb) of its entry lines, into an empty namespace
  noop plan       `overlayc plan … --netns NS` of a namespace that holds the state
  reconcile       `overlayc reconcile --once …` of the same (a round with nothing to do)
  dump            `ip -n SB -j neigh show` + `bridge -n SB -j fdb show` of the network's sandbox
                  (the sandbox layout: DESIGN.md §1)
big inputs: `overlayc validate` of 8,000 networks and of 200,000 mapping keys (node labels).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from bench.core import (
    NS_PREFIX,
    CaseResult,
    Figure,
    Rounds,
    Target,
    Variant,
    drop_namespace,
    measure,
    new_namespace,
)
from bench.fixtures import CLUSTER, endpoints_config
from overlayc.kernel.ownership import sandbox_name
from overlayc.netlink.netns import namespace_id
from tests.support.gen import config_dict

TASKS_PER_NODE = 20
SEED = 1
AT = "2026-01-01T00:00:00Z"


def overlayc_cmd() -> list[str]:
    """The `overlayc` console script next to this interpreter (what users run)."""
    script = Path(sys.executable).parent / "overlayc"
    return [str(script)] if script.exists() else [sys.executable, "-m", "overlayc"]


def run_process(cmd: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,),
                stdin: str | None = None) -> float:
    """Run `cmd` to its end (output discarded); its peak RSS in MiB (wait4's ru_maxrss)."""
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok:
        raise RuntimeError(f"{' '.join(cmd[:4])}…: exit {proc.returncode}: {err.strip()[-500:]}")
    return usage.ru_maxrss / 1024


def _write_yaml(data: object, path: Path) -> None:
    with path.open("w") as f:
        YAML().dump(data, f)


def _env(tmp: Path) -> dict[str, str]:
    """The environment of every overlayc process: state and lock directories of its own."""
    return {**os.environ, "OVERLAYC_STATE_DIR": str(tmp / "state"), "OVERLAYC_LOCK_DIR": str(tmp / "locks")}


class Recorder:
    """Runs a process per call and keeps each run's peak RSS (for a Variant's body)."""

    def __init__(self, cmd: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> None:
        self.cmd, self.env, self.ok = cmd, env, ok
        self.rss: list[float] = []

    def __call__(self, _ctx: Any = None) -> None:
        self.rss.append(run_process(self.cmd, self.env, self.ok))


def run_cluster(n: int, rounds: Rounds) -> CaseResult:
    """validate and plan (from empty, with the committed lock) of one node of an n-node cluster."""
    res = CaseResult(f"cluster-{n}")
    with tempfile.TemporaryDirectory(prefix=NS_PREFIX) as tmp_name:
        tmp = Path(tmp_name)
        cfg = tmp / "overlay.yaml"
        _write_yaml(config_dict(n, TASKS_PER_NODE, SEED), cfg)
        env = _env(tmp)
        node = f"node{n // 2 + 1}"
        plan = [*overlayc_cmd(), "plan", "-f", str(cfg), "--node", node, "--state", "empty", "--at", AT]
        run_process(plan, env)  # the first plan writes overlayc.lock: the committed lock
        lines = sum(1 for _ in (tmp / "overlayc.lock").open())
        validate = Recorder([*overlayc_cmd(), "validate", "-f", str(cfg)], env)
        planner = Recorder(plan, env)
        times = measure({"validate": Variant(validate), "plan": Variant(planner)}, rounds)
    for name, runs in times.items():
        res.figures[name] = Figure(runs)
    keep = rounds.warmup
    res.figures["validate peak RSS"] = Figure(validate.rss[keep:], "MiB")
    res.figures["plan peak RSS"] = Figure(planner.rss[keep:], "MiB", "ru_maxrss of the process")
    res.notes.append(f"{len(config_dict(n, TASKS_PER_NODE, SEED)['services'])} services; "
                     f"overlayc.lock of {lines:,} lines; plan of {node}")
    return res


def growth(results: list[CaseResult]) -> CaseResult:
    """Growth of the process figures between consecutive cluster sizes (linear = the size ratio)."""
    res = CaseResult("cluster growth")
    sizes = [int(r.name.split("-")[1]) for r in results]
    for i in range(1, len(results)):
        (a, ra), (b, rb) = (sizes[i - 1], results[i - 1]), (sizes[i], results[i])
        for fig in ("validate", "plan", "plan CPU", "plan peak RSS"):
            res.ratios[f"{fig} {b}/{a} ({b // a}× nodes)"] = rb.figures[fig].median / ra.figures[fig].median
        res.targets.append(Target(f"plan CPU of {b} nodes within {b // a}× of {a} nodes (linear)",
                                  rb.figures["plan CPU"].median / ra.figures["plan CPU"].median, b / a))
    by_size = dict(zip(sizes, results, strict=True))
    if 1000 in by_size:
        r = by_size[1000]
        plan, rss = r.figures["plan"].median, r.figures["plan peak RSS"].median
        res.targets.append(Target("plan of one node of 1,000 nodes < 1 s", plan, 1.0, "s"))
        res.targets.append(Target("plan of one node of 1,000 nodes < 100 MiB", rss, 100.0, "MiB"))
    return res


def _batches(script: str) -> tuple[str, str, str]:
    """(the script without its entries, `ip -batch` input of the neighbour entries, `bridge
    -batch` input of the fdb entries) from a `render --format iproute2` script, whose entry lines
    read `ip ${sb_ovx…:+-n $sb_ovx…} neigh …` / `bridge ${…} fdb …`."""
    setup, ip, bridge = [], [], []
    for line in script.splitlines():
        if line.startswith("ip ${"):
            ip.append(line.split("} ", 1)[1] + "\n")
        elif line.startswith("bridge ${"):
            bridge.append(line.split("} ", 1)[1] + "\n")
        else:
            setup.append(line + "\n")
    return "".join(setup), "".join(ip), "".join(bridge)


def sandbox_of(ns: str) -> str:
    """The sandbox of network `big` (bench.fixtures.endpoints_config) of node namespace `ns`."""
    return sandbox_name(CLUSTER, "big", namespace_id(ns))


def _count_entries(ns: str) -> int:
    sb = sandbox_of(ns)
    out = subprocess.run(["bridge", "-n", sb, "fdb", "show", "dev", "ovx4096"],
                         capture_output=True, text=True, check=True).stdout
    neigh = subprocess.run(["ip", "-n", sb, "neigh", "show", "dev", "ovx4096"],
                           capture_output=True, text=True, check=True).stdout
    return sum("dst" in line for line in out.splitlines()) + len(neigh.splitlines())


def node1_namespace() -> str:
    """A fresh namespace holding node1's underlay address (10.0.0.1, `endpoints_config`) on a veth,
    as a node's namespace does: apply refuses a node whose address is on no interface."""
    name = new_namespace()
    subprocess.run(["ip", "-n", name, "link", "add", "ocbu0", "type", "veth", "peer", "name", "ocbu1"],
                   check=True)
    subprocess.run(["ip", "-n", name, "addr", "add", "10.0.0.1/24", "dev", "ocbu0"], check=True)
    return name


def run_entries(n: int, rounds: Rounds) -> CaseResult:
    """apply from empty vs iproute2 batch; no-op plan and reconcile round vs the iproute2 dump."""
    res = CaseResult(f"entries-{n // 1000}k" if n >= 1000 else f"entries-{n}")
    with tempfile.TemporaryDirectory(prefix=NS_PREFIX) as tmp_name:
        tmp = Path(tmp_name)
        cfg = tmp / "overlay.yaml"
        _write_yaml(endpoints_config(n), cfg)
        env = _env(tmp)
        base = ["-f", str(cfg), "--node", "node1"]
        script = subprocess.run([*overlayc_cmd(), "render", *base, "--format", "iproute2"], env=env,
                                capture_output=True, text=True, check=True).stdout  # writes the lock
        setup, ip_lines, bridge_lines = _batches(script)

        def apply(ns: str) -> None:
            run_process([*overlayc_cmd(), "apply", *base, "--netns", ns, "--yes"], env)

        def iproute2(ns: str) -> None:  # the sandbox and its links by script, the entries in batches
            run_process(["ip", "netns", "exec", ns, "sh", "-s"], env, stdin=setup)
            run_process(["ip", "-n", sandbox_of(ns), "-batch", "-"], env, stdin=ip_lines)
            run_process(["bridge", "-n", sandbox_of(ns), "-batch", "-"], env, stdin=bridge_lines)

        def check(ns: str) -> None:
            if _count_entries(ns) != 2 * n:
                raise RuntimeError(f"entries-{n}: the namespace lacks entries")

        fresh = Variant(apply, node1_namespace, drop_namespace, check)
        times = measure({"apply": fresh, "iproute2 batch": Variant(iproute2, node1_namespace, drop_namespace,
                                                                    check)}, rounds)
        ns = node1_namespace()
        try:
            apply(ns)
            times |= _noop(ns, base, env, rounds, res)
        finally:
            drop_namespace(ns)
    for name, runs in times.items():
        res.figures[name] = Figure(runs)
    for a, b in (("apply", "iproute2 batch"), ("noop plan", "dump"), ("reconcile round", "dump")):
        res.ratio(f"{a}/{b}", a, b)
        res.ratio(f"{a}/{b} CPU", f"{a} CPU", f"{b} CPU")
    res.targets.append(Target(f"{res.name} apply ≤ 1.0× iproute2 batch", res.ratios["apply/iproute2 batch"],
                              1.0))
    res.targets.append(Target(f"{res.name} no-op plan ≤ 2× iproute2 dump", res.ratios["noop plan/dump"], 2.0))
    res.targets.append(Target(f"{res.name} no-op plan < 100 MiB", res.figures["noop plan peak RSS"].median,
                              100.0, "MiB"))
    return res


def _noop(
    ns: str, base: list[str], env: dict[str, str], rounds: Rounds, res: CaseResult
) -> dict[str, list[float]]:
    """The no-op plan, a reconcile round and the iproute2 dump of the filled namespace `ns`."""
    plan = Recorder([*overlayc_cmd(), "plan", *base, "--netns", ns, "--detailed-exitcode"], env)
    reconcile = Recorder([*overlayc_cmd(), "reconcile", *base, "--netns", ns, "--once"], env)

    sb = sandbox_of(ns)

    def dump(_: Any) -> None:  # what a user would run: the dumps of the network's sandbox
        run_process(["ip", "-n", sb, "-j", "neigh", "show"], env)
        run_process(["bridge", "-n", sb, "-j", "fdb", "show"], env)

    times = measure({"noop plan": Variant(plan), "reconcile round": Variant(reconcile),
                     "dump": Variant(dump)}, rounds)
    res.figures["noop plan peak RSS"] = Figure(plan.rss[rounds.warmup:], "MiB", "ru_maxrss of the process")
    res.figures["reconcile peak RSS"] = Figure(reconcile.rss[rounds.warmup:], "MiB")
    return times


def _big_inputs(quick: bool) -> dict[str, str]:
    """name → YAML text of the big-input validate cases."""
    head = "version: 1\ncluster: {name: big, id: big-cluster-0001}\n"
    networks, keys = (200, 2000) if quick else (8000, 200_000)
    nets = "".join(f"  n{i}: {{subnet: 10.{i // 256}.{i % 256}.0/24}}\n" for i in range(networks))
    labels = "".join(f"      k{i}: v\n" for i in range(keys))
    node = "nodes:\n  node1:\n    address: 192.0.2.1\n"
    return {
        f"validate {networks:,} networks": f"{head}{node}networks:\n{nets}",
        f"validate {keys:,} mapping keys": f"{head}{node}    labels:\n{labels}",
    }


def run_big_inputs(quick: bool, rounds: Rounds) -> CaseResult:
    res = CaseResult("big inputs")
    with tempfile.TemporaryDirectory(prefix=NS_PREFIX) as tmp_name:
        tmp = Path(tmp_name)
        variants: dict[str, Variant] = {}
        for i, (name, text) in enumerate(_big_inputs(quick).items()):
            path = tmp / f"big{i}.yaml"
            path.write_text(text)
            variants[name] = Variant(Recorder([*overlayc_cmd(), "validate", "-f", str(path)], _env(tmp)))
        times = measure(variants, rounds)
    for name, runs in times.items():
        res.figures[name] = Figure(runs)
        if not name.endswith(" CPU"):
            res.targets.append(Target(f"{name} < 10 s", res.figures[name].median, 10.0, "s"))
    return res


def compile_bytecode() -> None:
    """Write overlayc's bytecode (untimed), as `pip install` does for a user's copy: with
    PYTHONDONTWRITEBYTECODE set (as in CI shells) a source checkout otherwise compiles its ~100
    modules in every process, ~0.2 s of each measured command."""
    import compileall

    import overlayc

    compileall.compile_dir(Path(overlayc.__file__).parent, quiet=1)


def run_all(clusters: list[int], entries: int, quick: bool, rounds: Rounds,
            big: Rounds) -> Callable[[], list[CaseResult]]:
    """The thunk `python -m bench` runs for `--only process` (the big inputs are `--only big`)."""
    def thunk() -> list[CaseResult]:
        compile_bytecode()
        t0 = time.perf_counter()
        sized = [run_cluster(n, rounds if n <= 1000 else big) for n in clusters]
        print(f"bench: process clusters in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        return [*sized, growth(sized), run_entries(entries, big)]
    return thunk
