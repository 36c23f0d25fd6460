"""Run one thing in a fresh interpreter and print its memory as JSON (used for peak RSS).

    python -m bench.child noop NS N     resolve, then compile + observe + diff + order of node1

Prints {"before_mib": RSS after imports and resolve, "hwm_mib": VmHWM at the end}.
"""

from __future__ import annotations

import json
import sys


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def noop(ns: str, n: int) -> dict[str, float]:
    from bench.fixtures import CLUSTER, Endpoints
    from overlayc.diff import diff
    from overlayc.observe.kernel import observe
    from overlayc.plan import order

    fx = Endpoints(n)
    _ = fx.assignment
    before = _status_mib("VmRSS")
    changes = order(diff(fx.desired(), observe(ns, CLUSTER)), fx.local)
    if changes:
        raise SystemExit(f"no-op plan has {len(changes)} changes")
    return {"before_mib": before, "hwm_mib": _status_mib("VmHWM")}


def main(argv: list[str]) -> None:
    if len(argv) != 3 or argv[0] != "noop":
        raise SystemExit(__doc__)
    print(json.dumps(noop(argv[1], int(argv[2]))))


if __name__ == "__main__":
    main(sys.argv[1:])
