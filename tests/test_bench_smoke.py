"""`python -m bench --quick` end to end on tiny sizes: every case reports positive numbers, and
every namespace the bench made is gone afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.host import ROOT, netns_unavailable

pytestmark = pytest.mark.kernel

CASES = {"apply-200", "xfrm-20", "noop-200", "drift-200", "teardown-10", "compile"}


def test_quick_bench_reports_every_case_and_cleans_up(tmp_path: Path) -> None:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    proc = subprocess.Popen([sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    doc = json.loads((tmp_path / "results.json").read_text())
    assert set(doc["cases"]) == CASES
    for name, case in doc["cases"].items():
        assert case["figures"], name
        for fig, f in case["figures"].items():
            assert f["runs"] and all(v > 0 for v in f["runs"]), (name, fig)
            assert 0 < f["min"] <= f["median"] <= f["max"], (name, fig)
        assert all(v > 0 for v in case["ratios"].values()), name
    assert "| apply-200 | executor |" in (tmp_path / "results.md").read_text()
    assert "not measured: kernel lacks ESP" in out or "kernel has ESP" in out
    leftover = [n for n in os.listdir("/run/netns") if n.startswith(f"ocb-{proc.pid}-")]
    assert leftover == []
