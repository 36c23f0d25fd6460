"""Run every `@pytest.mark.esp` test in ONE boot of the ESP lab and report them one by one.

On a host whose kernel has ESP + GCM the esp tests simply run where they are. Elsewhere
`tests/conftest.py` calls `skip_esp_items()` so they skip on the host, and
`tests/test_esp_lab.py` calls `run_suite()`: the guest loads the ESP/VXLAN modules and runs
`<this venv's python> -m pytest -m esp --junitxml=...` over the files holding esp tests; the JUnit
XML comes back and is parsed into one `CaseResult` per test.
"""

from __future__ import annotations

import shlex
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import klab

ROOT = Path(__file__).resolve().parent.parent
SKIP_REASON = "runs inside the ESP lab (tests/test_esp_lab.py)"
DEFAULT_PATHS = ("tests/esp",)
JUNIT_NAME = "esp-junit.xml"
# Under TCG imports are 10-30x slower: without the xdist and hypothesis plugins collection takes
# ~7 s instead of ~21 s (measured). Hypothesis's @given still works without its pytest plugin.
GUEST_PYTEST_OPTS = ("-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:hypothesispytest",
                     "-q", "-rfE", "--durations=5")  # fmt: skip
# paths of the esp tests the host skipped in this session, handed to the lab run
ESP_PATHS_KEY = pytest.StashKey[list[str]]()


@dataclass(frozen=True)
class CaseResult:
    """One test case of the guest run: its node id, outcome and (for failures) the message."""

    nodeid: str
    outcome: str  # "passed" | "failed" | "error" | "skipped"
    message: str = ""


@dataclass(frozen=True)
class SuiteResult:
    """The guest run: per-case results, the lab result (rc, output, wall time)."""

    cases: list[CaseResult]
    lab: klab.LabResult

    @property
    def failures(self) -> list[CaseResult]:
        """Cases that failed or errored."""
        return [c for c in self.cases if c.outcome in ("failed", "error")]


def skip_esp_items(config: pytest.Config, items: Sequence[pytest.Item]) -> None:
    """conftest hook body: on a host without ESP, skip the esp items (the lab runs them) and
    remember their files; inside the lab, or on a host with ESP, leave them alone."""
    esp_items = [item for item in items if item.get_closest_marker("esp")]
    if not esp_items or klab.in_lab() or klab.host_has_esp():
        return
    config.stash[ESP_PATHS_KEY] = sorted({item.nodeid.split("::")[0] for item in esp_items})
    for item in esp_items:
        item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def guest_command(paths: Iterable[str], python: str = sys.executable) -> str:
    """The command the guest runs (after loading klab.ESP_MODULES): pytest -m esp, JUnit output."""
    junit = f"{klab.GUEST_OUT}/{JUNIT_NAME}"
    args = [python, "-m", "pytest", "-m", "esp", *GUEST_PYTEST_OPTS, f"--junitxml={junit}"]
    return shlex.join([*args, *sorted(set(paths))])


def parse_junit(xml_text: str) -> list[CaseResult]:
    """Cases of a pytest JUnit XML report, as node-id-like names `file::Class::test`."""
    cases = []
    for tc in ET.fromstring(xml_text).iter("testcase"):
        module = tc.get("classname", "")
        name = tc.get("name", "")
        nodeid = f"{module}::{name}" if module else name
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            child = tc.find(kind)
            if child is not None:
                outcome = "failed" if kind == "failure" else kind
                message = (child.get("message") or "").strip() or (child.text or "").strip()[:500]
                break
        cases.append(CaseResult(nodeid, outcome, message))
    return cases


def run_suite(paths: Iterable[str] = DEFAULT_PATHS, timeout: float = 900.0, cwd: Path = ROOT) -> SuiteResult:
    """Boot the lab once and run the esp tests under `paths` (relative to `cwd`, the repo root)."""
    res = klab.run(guest_command(paths), timeout=timeout, cwd=str(cwd), modules=klab.ESP_MODULES)
    xml = res.files.get(JUNIT_NAME)
    cases = parse_junit(xml.decode()) if xml else []
    return SuiteResult(cases, res)
