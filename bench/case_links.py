"""teardown: delete M networks' devices (M bridges + M vxlans, tagged as overlayc's).

Each round makes the devices with `ip -batch` (untimed), then times one of:
  overlayc  KernelHandle(ns).destroy_all(cluster)  (one RTM_DELLINK by IFLA_GROUP when it may)
  iproute2  `ip -n NS -batch` of `link del` for every device (slow: fewer rounds, `slow_rounds`)
  kernel    `ip -n NS link del group G`: one request, i.e. the kernel's own time (the floor)
Deleting a bridge costs the kernel an rcu_barrier() (br_dev_uninit → br_multicast_dev_del, seen in
/proc/PID/stack during the delete), once per bridge even in one batched request.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.core import CaseResult, Figure, Rounds, Target, Variant, drop_namespace, measure, new_namespace, sh
from bench.fixtures import CLUSTER, network_del_lines, network_link_lines
from overlayc.apply.kernel import KernelHandle
from overlayc.kernel.ownership import LINK_GROUP
from overlayc.observe.kernel import observe


def run_teardown(networks: int, rounds: Rounds, slow_rounds: Rounds) -> CaseResult:
    res = CaseResult(f"teardown-{networks}")
    with tempfile.TemporaryDirectory(prefix="ocb-") as tmp:
        make, delete = Path(tmp) / "make.batch", Path(tmp) / "del.batch"
        make.write_text(network_link_lines(networks, LINK_GROUP))
        delete.write_text(network_del_lines(networks))

        def setup() -> str:
            ns = new_namespace()
            try:
                sh("ip", "-n", ns, "-batch", str(make))
            except BaseException:
                drop_namespace(ns)
                raise
            return ns

        def check_setup_and_gone(ns: str) -> None:
            links = sh("ip", "-n", ns, "-o", "link", "show")
            if "ovb" in links or "ovx" in links:
                raise RuntimeError(f"devices left in {ns} after teardown")

        def overlayc(ns: str) -> None:
            with KernelHandle(ns, CLUSTER) as h:
                gone = h.destroy_all(CLUSTER)
            if len(gone) != 2 * networks:
                raise RuntimeError(f"destroy_all removed {len(gone)} links, expected {2 * networks}")

        times = measure({
            "overlayc": Variant(overlayc, setup, drop_namespace, check_setup_and_gone),
            "kernel": Variant(lambda ns: sh("ip", "-n", ns, "link", "del", "group", str(LINK_GROUP)), setup,
                              drop_namespace, check_setup_and_gone),
        }, rounds)
        times |= measure({
            "iproute2": Variant(lambda ns: sh("ip", "-n", ns, "-batch", str(delete)), setup, drop_namespace,
                                check_setup_and_gone),
        }, slow_rounds)
        probe = setup()
        try:
            owned = len(observe(probe, CLUSTER).owned)
        finally:
            drop_namespace(probe)
    if owned != 2 * networks:
        raise RuntimeError(f"setup made {owned} owned links, expected {2 * networks}")
    for name, runs in times.items():
        res.figures[name] = Figure(runs)
    res.ratio("overlayc/iproute2", "overlayc", "iproute2")
    res.ratio("overlayc/kernel", "overlayc", "kernel")
    res.notes.append("CPU excludes the kernel's sleep in rcu_barrier(): wall time is what counts here")
    res.notes.append(f"{networks} bridges + {networks} vxlans, made by ip -batch and observed as overlayc's")
    destroy = res.figures["overlayc"].median
    res.targets.append(Target(f"destroy of {networks} networks < 1 s", destroy, 1.0, "s"))
    return res
