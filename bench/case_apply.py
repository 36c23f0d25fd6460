"""apply: N fdb + N neigh on one vxlan from empty, and XFRM policies for P peers.

Variants of the fdb/neigh case (each round starts from a fresh namespace):
  executor  KernelHandle(ns).execute(ordered creates of the entries); bridge + vxlan pre-made
  pipeline  compile → observe → diff → order → apply_changes (execute + verify), from empty
  iproute2  `ip -n NS -batch` (neigh replace …) + `bridge -n NS -batch` (fdb replace …)
  raw       pre-packed RTM_NEWNEIGH, several hundred per send, bounded in flight (bench/rawnl.py)
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import rawnl
from bench.core import CaseResult, Figure, Rounds, Target, Variant, drop_namespace, measure, new_namespace, sh
from bench.fixtures import CLUSTER, Endpoints, create, pack_entries, xfrm_lines, xfrm_policies
from overlayc.apply.kernel import KernelHandle
from overlayc.apply.run import Outcome, apply_changes
from overlayc.diff import diff
from overlayc.kernel.objects import Fdb, Neigh, XfrmPolicy
from overlayc.observe.kernel import observe
from overlayc.plan import order

PER_SEND = 256
IN_FLIGHT = 1024


@dataclass
class Ctx:
    ns: str
    batches: list[tuple[int, bytes]] | None = None


def links_namespace(fx: Endpoints) -> str:
    """A fresh namespace holding the node's bridge and vxlan, made by overlayc."""
    ns = new_namespace()
    try:
        with KernelHandle(ns, CLUSTER) as h:
            h.execute([create(o) for o in fx.links])
    except BaseException:
        drop_namespace(ns)
        raise
    return ns


def ifindex(ns: str, dev: str) -> int:
    return int(json.loads(sh("ip", "-n", ns, "-j", "link", "show", "dev", dev))[0]["ifindex"])


def count_entries(ns: str) -> tuple[int, int]:
    owned = observe(ns, CLUSTER).owned
    return len(owned.of_kind("fdb")), len(owned.of_kind("neigh"))


def pipeline(ns: str, fx: Endpoints) -> None:
    """What `overlayc apply` does for this node, minus preflight and lock files (as there, the
    state planned from is the prior state of a rollback: two observes, not three)."""
    desired = fx.desired()
    with KernelHandle(ns, CLUSTER) as h:
        live = h.observe()
        changes = order(diff(desired, live), fx.local)
        result = apply_changes(h, desired, changes, prior=live.owned)
    if result.outcome is not Outcome.CHANGED:
        raise RuntimeError(f"pipeline apply failed: {result.failures[:3]}")


def entry_variants(fx: Endpoints, tmp: Path) -> dict[str, Variant]:
    neigh_file, fdb_file = tmp / "neigh.batch", tmp / "fdb.batch"
    neigh_file.write_text(fx.neigh_lines())
    fdb_file.write_text(fx.fdb_lines())
    changes = order([create(o) for o in fx.entries], fx.local)
    want = (sum(isinstance(o, Fdb) for o in fx.entries), sum(isinstance(o, Neigh) for o in fx.entries))

    def check(ctx: Ctx) -> None:
        got = count_entries(ctx.ns)
        if got != want:
            raise RuntimeError(f"expected (fdb, neigh) = {want} in {ctx.ns}, found {got}")

    def execute(ctx: Ctx) -> None:
        with KernelHandle(ctx.ns, CLUSTER) as h:
            h.execute(changes)

    def iproute2(ctx: Ctx) -> None:
        sh("ip", "-n", ctx.ns, "-batch", str(neigh_file))
        sh("bridge", "-n", ctx.ns, "-batch", str(fdb_file))

    def raw_setup() -> Ctx:
        ns = links_namespace(fx)
        msgs = rawnl.chunks(pack_entries(fx.entries, ifindex(ns, fx.vxlan)), PER_SEND)
        return Ctx(ns, msgs)

    def raw(ctx: Ctx) -> None:
        assert ctx.batches is not None
        with rawnl.open_route_socket(ctx.ns) as sock:
            refused = rawnl.send_all(sock, ctx.batches, IN_FLIGHT)
        if refused:
            raise RuntimeError(f"raw sender: the kernel refused {refused} requests")

    def teardown(ctx: Ctx) -> None:
        drop_namespace(ctx.ns)

    def linked() -> Ctx:
        return Ctx(links_namespace(fx))

    def empty() -> Ctx:
        return Ctx(new_namespace())

    return {
        "executor": Variant(execute, linked, teardown, check),
        "pipeline": Variant(lambda c: pipeline(c.ns, fx), empty, teardown, check),
        "iproute2": Variant(iproute2, linked, teardown, check),
        "raw": Variant(raw, raw_setup, teardown, check),
    }


def run_entries(n: int, rounds: Rounds) -> CaseResult:
    label = f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)
    res = CaseResult(f"apply-{label}")
    fx = Endpoints(n)
    with tempfile.TemporaryDirectory(prefix="ocb-") as tmp:
        times = measure(entry_variants(fx, Path(tmp)), rounds)
    for name, runs in times.items():
        res.figures[name] = Figure(runs)
    res.notes.append(f"{n} fdb + {n} neigh on {fx.vxlan}; raw: {PER_SEND} requests per send, "
                     f"≤ {IN_FLIGHT} in flight")
    for name in ("executor", "pipeline"):
        for cpu in ("", " CPU"):
            res.ratio(f"{name}/iproute2{cpu}", name + cpu, "iproute2" + cpu)
            res.ratio(f"{name}/raw{cpu}", name + cpu, "raw" + cpu)
    for name in ("executor", "pipeline"):
        prefix = f"apply-{label} {name}"
        res.targets.append(Target(f"{prefix} ≤ 0.7× iproute2", res.ratios[f"{name}/iproute2"], 0.7))
        res.targets.append(Target(f"{prefix} ≤ 1.5× raw", res.ratios[f"{name}/raw"], 1.5))
    return res


def run_xfrm(peers: int, rounds: Rounds) -> CaseResult:
    res = CaseResult(f"xfrm-{peers}")
    policies = xfrm_policies(peers)
    changes = order([create(p) for p in policies])

    def check(ns: str) -> None:
        got = len(observe(ns, CLUSTER).owned.of_kind("xfrm-policy"))
        if got != len(policies):
            raise RuntimeError(f"expected {len(policies)} policies in {ns}, found {got}")

    def execute(ns: str) -> None:
        with KernelHandle(ns, CLUSTER) as h:
            h.execute(changes)

    with tempfile.TemporaryDirectory(prefix="ocb-") as tmp:
        batch = Path(tmp) / "xfrm.batch"
        batch.write_text(xfrm_lines(policies))
        times = measure({
            "executor": Variant(execute, new_namespace, drop_namespace, check),
            "iproute2": Variant(lambda ns: sh("ip", "-n", ns, "-batch", str(batch)), new_namespace,
                                drop_namespace, check),
        }, rounds)
    for name, runs in times.items():
        res.figures[name] = Figure(runs)
    blocks = sum(1 for p in policies if isinstance(p, XfrmPolicy) and p.action == "block")
    res.notes.append(f"{len(policies) - blocks} per-peer policies + {blocks} blocks")
    res.notes.append("SAs: not measured: kernel lacks ESP" if not esp_available()
                     else "SAs: kernel has ESP, but the SA case is not written yet")
    res.ratio("executor/iproute2", "executor", "iproute2")
    res.ratio("executor/iproute2 CPU", "executor CPU", "iproute2 CPU")
    return res


def esp_available() -> bool:
    """Whether this kernel can hold ESP SAs (esp4 built in or loaded)."""
    try:
        return "esp4" in Path("/proc/modules").read_text() or Path("/sys/module/esp4").exists()
    except OSError:
        return False
