"""compile: generated clusters (tests/support/gen.py, 20 tasks per node) of growing size.

Per size, each round (interleaving nothing: compile is pure CPU, rounds are back to back):
  load        load_config of the cluster written as YAML (ruamel + pydantic + validate); separate
  resolve     placement, VNIs and addresses for the whole cluster (once per config, any node)
  node        compile_node of one node (a different node each round)
  one node    resolve + node: what one host pays to compile its own state
  all nodes   resolve + compile_node of every node; above `sample_above` nodes, of `sample` evenly
              spaced nodes, extrapolated (mean × nodes) — said in the figure's note
Peak memory: tracemalloc peak of resolve + one node's compile, in a separate untimed pass.
"""

from __future__ import annotations

import io
import itertools
import math
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from ruamel.yaml import YAML

from bench.core import CaseResult, Figure, Rounds, Target
from overlayc.compile import Lock, compile_node, resolve
from overlayc.config.load import load_config
from overlayc.config.model import Config
from tests.support.gen import config_dict

AT = datetime(2026, 1, 1, tzinfo=UTC)
TASKS_PER_NODE = 20
SEED = 1
SAMPLE = 5
SAMPLE_ABOVE = 200


def _write_yaml(data: object, path: Path) -> None:
    buf = io.StringIO()
    YAML().dump(data, buf)
    path.write_text(buf.getvalue())


def _timed(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


def compile_size(n: int, rounds: Rounds, res: CaseResult) -> int:
    """Measure one size into `res` (figures prefixed `<n>:`); returns objects of one node's state."""
    data = config_dict(n, TASKS_PER_NODE, SEED)
    config = Config.model_validate(data)
    nodes = sorted(config.nodes, key=lambda s: int(s.removeprefix("node")))
    sampled = nodes if n <= SAMPLE_ABOVE else [nodes[i * n // SAMPLE] for i in range(SAMPLE)]
    keep: dict[str, list[float]] = {
        k: [] for k in ("load", "resolve", "node", "one node", "one node (CPU)", "all nodes")}
    objects = 0
    with tempfile.TemporaryDirectory(prefix="ocb-") as tmp:
        path = Path(tmp) / "overlay.yaml"
        _write_yaml(data, path)
        for r in range(rounds.warmup + rounds.repeat):
            t_load = _timed(lambda: load_config([path]))
            t0, c0 = time.perf_counter(), time.process_time()
            assignment, _lock, _diags = resolve(config, Lock())
            t_resolve = time.perf_counter() - t0
            node = nodes[(r * 37) % n]
            t0 = time.perf_counter()
            objects = len(compile_node(config, assignment, node, at=AT, private_key=None))
            t_node = time.perf_counter() - t0
            c_one = time.process_time() - c0
            t0 = time.perf_counter()
            for name in sampled:
                compile_node(config, assignment, name, at=AT, private_key=None)
            t_all = (time.perf_counter() - t0) * n / len(sampled) + t_resolve
            if r >= rounds.warmup:
                got = (t_load, t_resolve, t_node, t_resolve + t_node, c_one, t_all)
                for k, v in zip(keep, got, strict=True):
                    keep[k].append(v)
    for k, runs in keep.items():
        res.figures[f"{n}: {k}"] = Figure(runs)
    res.figures[f"{n}: one node (CPU)"].note = "process CPU time: what the wall time is without contention"
    if len(sampled) < n:
        res.figures[f"{n}: all nodes"].note = f"sampled {len(sampled)} of {n} nodes, extrapolated"
    res.figures[f"{n}: peak memory"] = Figure([_peak_mib(config, nodes[0])], "MiB",
                                              "tracemalloc peak: resolve + one node's compile")
    return objects


def _peak_mib(config: Config, node: str) -> float:
    tracemalloc.start()
    try:
        assignment, _lock, _diags = resolve(config, Lock())
        compile_node(config, assignment, node, at=AT, private_key=None)
        return tracemalloc.get_traced_memory()[1] / (1 << 20)
    finally:
        tracemalloc.stop()


def growth_per_10x(n_a: int, t_a: float, n_b: int, t_b: float) -> float:
    """Factor by which a cost grows per 10× nodes, between sizes a < b (10 = linear)."""
    return float((t_b / t_a) ** (1 / math.log10(n_b / n_a)))


def run_compile(sizes: list[int], rounds: Rounds, big_rounds: Rounds) -> CaseResult:
    res = CaseResult("compile")
    objects: dict[int, int] = {}
    for n in sizes:
        objects[n] = compile_size(n, rounds if n <= 1000 else big_rounds, res)
        res.notes.append(f"{n} nodes: {n * TASKS_PER_NODE} tasks; one node's state: {objects[n]} objects")
    for a, b in itertools.pairwise(sizes):
        for fig in ("one node", "resolve", "node", "load"):
            res.ratios[f"growth per 10× nodes {a}→{b}: {fig}"] = growth_per_10x(
                a, res.figures[f"{a}: {fig}"].median, b, res.figures[f"{b}: {fig}"].median)
        res.ratios[f"growth per 10× nodes {a}→{b}: objects of one node"] = growth_per_10x(
            a, objects[a], b, objects[b])
    if 1000 in sizes:
        res.targets.append(Target("one node's compile (resolve + compile_node), 1,000 nodes < 1 s",
                                  res.figures["1000: one node"].median, 1.0, "s"))
        res.targets.append(Target("the same in CPU time (robust on a loaded machine) < 1 s",
                                  res.figures["1000: one node (CPU)"].median, 1.0, "s"))
    if len(sizes) >= 2:
        worst = max(itertools.pairwise(sizes),
                    key=lambda p: res.ratios[f"growth per 10× nodes {p[0]}→{p[1]}: one node"])
        res.targets.append(Target(f"one node's compile grows ≤ linearly (worst step {worst[0]}→{worst[1]}: "
                                  "growth per 10× nodes ≤ 10×)",
                                  res.ratios[f"growth per 10× nodes {worst[0]}→{worst[1]}: one node"], 10.0))
    return res
