"""Fuzz harness (issue 16): hypothesis-driven mutation of every example configuration and lock
(as text and as structure), of a saved plan and a state snapshot, plus the YAML bombs and the
bad option values of tests/hostile.py. Every input must end in a diagnostic or a one-line error:
an exception of any other kind is a *traceback* and fails the run.

    python -m tests.fuzz [--examples N]     `make fuzz`: N inputs per target (default 2,000, five
                                            targets: ≥ 10,000 inputs), then a report with the
                                            figures: inputs, outcomes, tracebacks, runs over 5 s,
                                            slowest run, peak RSS
    tests/test_fuzz.py                      the CI subset (a few hundred inputs, under a minute)

RSS is the process's peak (`ru_maxrss`): every input ran in this one process, so the peak of
any single input is at most that figure.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlayc.cli import main as cli_main
from overlayc.config.load import load_config
from overlayc.errors import ConfigError, InputError
from overlayc.files.lock import read_lock
from overlayc.files.plan_doc import Refused, plan_from_document, read_snapshot
from overlayc.files.statedir import STATE_DIR_ENV
from tests.hostile import BAD_OPTIONS, YAML_BOMBS, plain_copy
from tests.support.host import EXAMPLES

SLOW_S = 5.0
TOKENS = ["&a ", "*a", "<<: *a", "!!binary ", "!x ", "%YAML 1.3\n", "%TAG ! x:\n", "---\n", "...\n",
          "{", "}", "[", "]", ": ", "- ", "? ", "|\n", ">-\n", "'", '"', "#", "\t", "\x00", "\ufeff",
          "9" * 30, "1e999", ".nan", "-.inf", "0x" + "f" * 40, "2026-13-45", "null", "~", "yes",
          "\n  ", "\n    - ", "é", "\U0001f600", "\\x", "&b [*b]"]


def _example_texts() -> list[tuple[str, str]]:
    files = sorted(EXAMPLES.glob("*/overlay.yaml")) + sorted(EXAMPLES.glob("invalid/**/*.yaml"))
    locks = sorted(EXAMPLES.glob("*/overlayc.lock"))
    return [(str(p.relative_to(EXAMPLES)), p.read_text()) for p in files + locks]


SEEDS = _example_texts() + [(f"bomb:{name}", text) for name, text, _, _ in YAML_BOMBS]


@dataclass
class Report:
    """What the runs showed; `tracebacks` holds (target, input excerpt, traceback) triples."""

    outcomes: Counter[str] = field(default_factory=Counter)
    tracebacks: list[tuple[str, str, str]] = field(default_factory=list)
    slow: list[tuple[str, float]] = field(default_factory=list)
    slowest: float = 0.0
    slowest_input: str = ""

    def run(self, target: str, sample: str, fn: Callable[[], str]) -> None:
        """Run one input; classify its outcome (`fn` returns one for accepted input)."""
        start = time.monotonic()
        try:
            outcome = fn()
        except (ConfigError, InputError, typer.BadParameter) as err:
            outcome = type(err).__name__
        except Exception:  # anything else is a traceback a user would have seen
            outcome = "TRACEBACK"
            self.tracebacks.append((target, sample[:300], traceback.format_exc()))
        took = time.monotonic() - start
        self.outcomes[f"{target}: {outcome}"] += 1
        if took > self.slowest:
            self.slowest, self.slowest_input = took, f"{target}: {sample[:120]!r} ({len(sample)} chars)"
        if took > SLOW_S:
            self.slow.append((f"{target}: {sample[:80]!r}", took))

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    def text(self) -> str:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        lines = [f"inputs: {self.total}", f"tracebacks: {len(self.tracebacks)}",
                 f"runs over {SLOW_S:g} s: {len(self.slow)}",
                 f"slowest run: {self.slowest:.3f} s ({self.slowest_input})",
                 f"peak RSS of the process (bounds every run): {peak:.0f} MiB", "outcomes:"]
        lines += [f"  {k}: {v}" for k, v in sorted(self.outcomes.items())]
        for target, sample, tb in self.tracebacks[:5]:
            lines += [f"TRACEBACK in {target} for {sample!r}:", tb]
        lines += [f"SLOW {what}: {s:.1f} s" for what, s in self.slow[:5]]
        return "\n".join(lines)


# --- mutations ----------------------------------------------------------------------------------
@st.composite
def text_mutations(draw: st.DrawFn) -> tuple[str, str]:
    """(seed name, a seed's text with a few insertions, deletions, swaps and token splices)."""
    name, text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(0, 6))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "token", "line", "dup"]))
        if op == "insert":
            text = text[:pos] + draw(st.text(max_size=12)) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 40)):]
        elif op == "token":
            text = text[:pos] + draw(st.sampled_from(TOKENS)) + text[pos:]
        elif op == "line":
            lines = text.splitlines(keepends=True) or [""]
            i = draw(st.integers(0, len(lines) - 1))
            lines[i] = draw(st.sampled_from(TOKENS)) + lines[i].lstrip()
            text = "".join(lines)
        else:
            end = min(len(text), pos + draw(st.integers(1, 400)))
            text = text[:end] + text[pos:end] * draw(st.integers(1, 20)) + text[end:]
    return name, text


WILD = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats(allow_nan=True)
    | st.text(max_size=30) | st.sampled_from(["x" * 70_000, "../x", "10.0.0.0/8", "02:00:00:00:00:01"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def mutate_structure(draw: Callable[[st.SearchStrategy[Any]], Any], data: Any) -> Any:
    """`data` with a few values replaced by wild ones, keys dropped or added, subtrees copied."""
    data = copy.deepcopy(data)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            return draw(WILD)
        path = draw(st.sampled_from(paths))
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        op = draw(st.sampled_from(["replace", "drop", "add", "copy"]))
        if op == "replace":
            parent[path[-1]] = draw(WILD)
        elif op == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(WILD)
        elif op == "copy" and isinstance(parent, dict):
            for n in range(draw(st.integers(1, 200))):
                parent[f"{path[-1]}{n}"] = copy.deepcopy(parent[path[-1]])
    return data


@st.composite
def structure_mutations(draw: st.DrawFn) -> tuple[str, str]:
    """(seed name, a parseable seed's data mutated, written back as JSON — which is YAML)."""
    from ruamel.yaml import YAML

    name, text = draw(st.sampled_from(SEEDS[: len(_example_texts())]))
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except Exception:
        data = {"version": 1}
    return name, json.dumps(mutate_structure(draw, data), default=str)


# --- targets ------------------------------------------------------------------------------------
def check_config(workdir: Path, text: str) -> str:
    path = workdir / "overlay.yaml"
    path.write_text(text, errors="surrogateescape")
    load_config([path])
    return "valid"


def check_lock(workdir: Path, text: str) -> str:
    path = workdir / "overlayc.lock"
    path.write_text(text, errors="surrogateescape")
    read_lock(path)
    return "valid"


def _plan_seed() -> dict[str, Any]:
    from datetime import UTC, datetime

    from overlayc.inputs import assign_with_lock
    from overlayc.kernel.state import KernelState, Observed
    from overlayc.plan import plan_node, plan_to_json

    loaded = load_config([EXAMPLES / "plain" / "overlay.yaml"])
    assignment = assign_with_lock(loaded, locked=True)
    plan = plan_node(loaded.config, assignment, "host-a", at=datetime(2026, 1, 1, tzinfo=UTC),
                     private_key=None, live=Observed(KernelState()))
    return plan_to_json(plan)


def check_plan(doc: Any) -> str:
    try:
        plan_from_document(doc)
    except Refused as err:
        raise InputError(str(err)) from None
    return "valid"


def check_snapshot(workdir: Path, doc: Any) -> str:
    path = workdir / "state.json"
    path.write_text(json.dumps(doc, default=str))
    read_snapshot(path)
    return "valid"


OPTION_VALUES = st.one_of(st.text(max_size=40), st.sampled_from(
    [v for _, args, _, _ in BAD_OPTIONS for v in args if not v.startswith("-")]
    + ["nan", "inf", "-0", "1e309"]))


def check_options(workdir: Path, cfg: Path, option: str, value: str) -> str:
    """`overlayc plan` (offline) with one fuzzed option value, in this process: any exit but
    0/1/2/64/65 (64: a usage error; 70: the last-resort handler caught a bug) or an escaping
    exception is a traceback."""
    args = ["plan", "-f", str(cfg), "--node", "host-a", "--state", "empty", option, value]
    out = io.StringIO()
    saved = sys.argv
    sys.argv = ["overlayc", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            cli_main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved
    if code not in (0, 1, 2, 64, 65) or "Traceback" in out.getvalue():
        raise RuntimeError(f"exit {code}: {out.getvalue()[-2000:]}")
    return f"exit {code}"


def fuzz(report: Report, examples: int) -> None:
    """Run `examples` inputs through each target (configs, locks, plans, snapshots, options)."""
    plan_doc = _plan_seed()
    snapshot = {"format": 1, "objects": [c["after"] for c in plan_doc["changes"] if c["after"]]}
    conf = settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                    suppress_health_check=list(HealthCheck))
    with tempfile.TemporaryDirectory(prefix="oc16-fuzz-") as tmp:
        work = Path(tmp)
        os.environ[STATE_DIR_ENV] = str(work / "state")  # crash reports, if any, stay in here

        @conf
        @given(st.one_of(text_mutations(), structure_mutations()))
        def configs(case: tuple[str, str]) -> None:
            report.run("config", case[1], lambda: check_config(work, case[1]))

        @conf
        @given(st.one_of(text_mutations(), structure_mutations()))
        def locks(case: tuple[str, str]) -> None:
            report.run("lock", case[1], lambda: check_lock(work, case[1]))

        @conf
        @given(st.data())
        def plans(data: st.DataObject) -> None:
            doc = mutate_structure(data.draw, plan_doc)
            report.run("saved plan", json.dumps(doc, default=str)[:300], lambda: check_plan(doc))

        @conf
        @given(st.data())
        def snapshots(data: st.DataObject) -> None:
            doc = mutate_structure(data.draw, snapshot)
            report.run("snapshot", json.dumps(doc, default=str)[:300], lambda: check_snapshot(work, doc))

        cfg = plain_copy(work)

        @conf
        @given(st.sampled_from(["--netns", "--node", "--at", "--key-file", "--state", "--lock-timeout"]),
               OPTION_VALUES)
        def options(option: str, value: str) -> None:
            report.run("option", f"{option} {value}", lambda: check_options(work, cfg, option, value))

        for target in (configs, locks, plans, snapshots, options):
            target()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--examples", type=int, default=2000, help="inputs per target (5 targets)")
    args = parser.parse_args()
    report = Report()
    start = time.monotonic()
    fuzz(report, args.examples)
    print(report.text())
    print(f"total time: {time.monotonic() - start:.0f} s")
    bad = bool(report.tracebacks or report.slow)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return 1 if bad or peak >= 200 else 0


if __name__ == "__main__":
    sys.exit(main())
