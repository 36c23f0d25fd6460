"""noop: plan of an unchanged node holding N fdb + N neigh; drift: one of them changed.

noop variants (same namespace, nothing changes between rounds):
  overlayc          observe + diff + order against the compiled desired state (→ zero changes)
  overlayc+compile  the same, compile included (what `overlayc plan` does after resolve)
  iproute2          `ip -j neigh show` + `bridge -j fdb show`, each run as a subprocess + json.loads
Peak RSS: a fresh child process (`python -m bench.child noop`) that does only resolve + plan.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence

from bench.core import CaseResult, Figure, Rounds, Target, Variant, measure, namespace, sh
from bench.fixtures import CLUSTER, Endpoints, create
from overlayc.apply.kernel import KernelHandle
from overlayc.apply.run import Outcome, apply_changes
from overlayc.diff import Change, diff
from overlayc.kernel.objects import Neigh
from overlayc.kernel.state import KernelState
from overlayc.observe.kernel import observe
from overlayc.plan import order


def fill(ns: str, fx: Endpoints) -> None:
    """Apply the node's whole desired state to `ns` with overlayc."""
    with KernelHandle(ns, CLUSTER) as h:
        h.execute(order([create(o) for o in fx.state], fx.local))


def plan(ns: str, desired: KernelState, fx: Endpoints) -> Sequence[Change]:
    return order(diff(desired, observe(ns, CLUSTER)), fx.local)


def dump_iproute2(ns: str) -> int:
    neigh = json.loads(sh("ip", "-n", ns, "-j", "neigh", "show"))
    fdb = json.loads(sh("bridge", "-n", ns, "-j", "fdb", "show"))
    return len(neigh) + len(fdb)


def child_rss(ns: str, n: int) -> dict[str, float]:
    """Run the plan in a fresh interpreter; its VmHWM and its RSS before planning, in MiB."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out = subprocess.run([sys.executable, "-m", "bench.child", "noop", ns, str(n)], capture_output=True,
                         text=True, check=True, env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
    data: dict[str, float] = json.loads(out.stdout)
    return data


def run_noop(n: int, rounds: Rounds, rss_runs: int) -> CaseResult:
    res = CaseResult(f"noop-{n // 1000}k" if n >= 1000 else f"noop-{n}")
    fx = Endpoints(n)
    desired = fx.state

    def overlayc(ns: str) -> None:
        if plan(ns, desired, fx):
            raise RuntimeError("no-op plan is not empty")

    def with_compile(ns: str) -> None:
        if plan(ns, fx.desired(), fx):
            raise RuntimeError("no-op plan is not empty")

    with namespace() as ns:
        fill(ns, fx)

        def check(_: str) -> None:
            if dump_iproute2(ns) < 2 * n:
                raise RuntimeError("iproute2 dump lacks entries")

        times = measure({
            "overlayc": Variant(overlayc, lambda: ns),
            "overlayc+compile": Variant(with_compile, lambda: ns),
            "iproute2": Variant(dump_iproute2, lambda: ns, check=check),
        }, rounds)
        for name, runs in times.items():
            res.figures[name] = Figure(runs)
        rss = [child_rss(ns, n) for _ in range(rss_runs)]
    res.figures["peak RSS"] = Figure([r["hwm_mib"] for r in rss], "MiB",
                                     "VmHWM of a fresh process: resolve + compile + observe + diff + order")
    res.figures["RSS before plan"] = Figure([r["before_mib"] for r in rss], "MiB",
                                            "the same process after imports and resolve")
    res.ratio("overlayc/iproute2", "overlayc", "iproute2")
    res.ratio("overlayc+compile/iproute2", "overlayc+compile", "iproute2")
    res.ratio("overlayc/iproute2 CPU", "overlayc CPU", "iproute2 CPU")
    res.targets.append(Target(f"{res.name} plan ≤ 2× iproute2 dump", res.ratios["overlayc/iproute2"], 2.0))
    res.targets.append(Target(f"{res.name} plan peak RSS < 100 MiB", res.figures["peak RSS"].median, 100.0,
                              "MiB"))
    return res


def run_drift(n: int, rounds: Rounds) -> CaseResult:
    """Each round: change one neighbour behind overlayc's back; time the plan, then the apply."""
    res = CaseResult(f"drift-{n // 1000}k" if n >= 1000 else f"drift-{n}")
    fx = Endpoints(n)
    desired = fx.state
    victims = [o for o in fx.entries if isinstance(o, Neigh)]
    plans: list[float] = []
    applies: list[float] = []
    unchanged: list[float] = []
    with namespace() as ns:
        fill(ns, fx)
        for r in range(rounds.warmup + rounds.repeat):
            t0 = time.perf_counter()
            if plan(ns, desired, fx):
                raise RuntimeError("drift: the reference no-op plan is not empty")
            t_noop = time.perf_counter() - t0
            v = victims[(r * 7919) % len(victims)]
            sh("ip", "-n", ns, "neigh", "replace", str(v.dst), "lladdr", "02:00:00:00:00:01", "dev", v.dev,
               "nud", "permanent")
            t0 = time.perf_counter()
            changes = plan(ns, desired, fx)
            t1 = time.perf_counter()
            with KernelHandle(ns, CLUSTER) as h:
                result = apply_changes(h, desired, changes)
            t2 = time.perf_counter()
            if len(changes) != 1 or result.outcome is not Outcome.CHANGED:
                raise RuntimeError(f"drift: expected 1 change applied, got {len(changes)}, {result.outcome}")
            if r >= rounds.warmup:
                plans.append(t1 - t0)
                applies.append(t2 - t1)
                unchanged.append(t_noop)
    res.figures["plan"] = Figure(plans)
    res.figures["apply"] = Figure(applies, note="apply_changes: observe prior + execute 1 change + verify")
    res.figures["no-op plan"] = Figure(unchanged, note="reference: same plan, unchanged state, same round")
    res.ratio("plan/no-op plan", "plan", "no-op plan")
    res.notes.append(f"one neigh lladdr changed among {n} fdb + {n} neigh")
    return res
