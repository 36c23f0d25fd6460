"""`python -m bench [--quick] [--only CASE ...] [--repeat N] [--out DIR]` (see bench/README.md)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.core import CaseResult, Rounds, drop_namespace, our_namespaces, remove_stale_namespaces

HERE = Path(__file__).resolve().parent


def plan_cases(
    quick: bool, repeat: int | None, sizes_of_clusters: list[int] | None = None
) -> dict[str, Callable[[], list[CaseResult]]]:
    """Case name → a thunk running it (sizes and rounds fixed here)."""
    from bench import case_apply, case_compile, case_links, case_plan, case_process

    rep = repeat or (2 if quick else 5)
    small = Rounds(rep, 1)
    big = Rounds(repeat or (2 if quick else 3), 1)
    sizes = [200] if quick else [10_000, 50_000]
    largest = sizes[-1]
    peers = 20 if quick else 1000
    networks = 10 if quick else 1000
    clusters = sizes_of_clusters or ([10, 30] if quick else [100, 1000, 5000])
    compile_big = Rounds(repeat or (2 if quick else 3), 0)
    process_rounds = Rounds(1, 0) if quick else Rounds(repeat or 3, 1)
    return {
        "process": case_process.run_all(clusters, largest, quick, process_rounds,
                                        Rounds(1, 0) if quick else Rounds(repeat or 3, 1)),
        "big": lambda: [case_process.run_big_inputs(quick, Rounds(1, 0))],
        "apply": lambda: [case_apply.run_entries(n, small if n <= 10_000 else big) for n in sizes],
        "xfrm": lambda: [case_apply.run_xfrm(peers, small)],
        "noop": lambda: [case_plan.run_noop(largest, small, rss_runs=1 if quick else 3)],
        "drift": lambda: [case_plan.run_drift(largest, small)],
        "teardown": lambda: [case_links.run_teardown(networks, small if quick else Rounds(repeat or 2, 0),
                                                     Rounds(repeat or (2 if quick else 1), 0))],
        "compile": lambda: [case_compile.run_compile(clusters, Rounds(repeat or (2 if quick else 3), 1),
                                                     compile_big)],
    }


def meta(quick: bool) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg at start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "mode": "quick" if quick else "full",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 2 rounds: a smoke run")
    ap.add_argument("--only", action="append", default=[], metavar="CASE",
                    help="run only this case (repeatable): process big apply xfrm noop drift teardown "
                         "compile")
    ap.add_argument("--repeat", type=int, default=None, help="measured rounds per case (after 1 warm-up)")
    ap.add_argument("--clusters", type=lambda t: [int(x) for x in t.split(",")], default=None,
                    metavar="N,N,…", help="cluster sizes (nodes) of the compile and process cases")
    ap.add_argument("--out", type=Path, default=HERE, help="directory for results.json and results.md")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench: needs root (it creates network namespaces)", file=sys.stderr)
        return 77
    cases = plan_cases(args.quick, args.repeat, args.clusters)
    unknown = [c for c in args.only if c not in cases]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(cases)}")
    stale = remove_stale_namespaces()
    if stale:
        print(f"bench: removed {len(stale)} stale namespace(s) of an earlier run: {', '.join(stale)}")
    info = meta(args.quick)
    results: list[CaseResult] = []
    failed: list[str] = []
    try:
        for name in args.only or list(cases):
            t0 = time.perf_counter()
            try:
                results.extend(cases[name]())
            except Exception as err:  # report the others; the failing case is named below
                failed.append(f"{name}: {type(err).__name__}: {err}")
                print(f"bench: {name} FAILED: {err}", file=sys.stderr, flush=True)
                continue
            print(f"bench: {name} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    finally:
        left = our_namespaces()
        for ns in left:
            drop_namespace(ns)
    args.out.mkdir(parents=True, exist_ok=True)
    from bench.report import write

    if failed:
        info["failed cases"] = "; ".join(failed)
    print(write(info, results, args.out / "results.json", args.out / "results.md"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
