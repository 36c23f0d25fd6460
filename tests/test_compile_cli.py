"""`overlayc render`: end to end through the command line, on a copy of examples/plain."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.builders import AT, cli_at
from tests.support.host import ROOT

WHEN = cli_at(AT)


def overlayc(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "overlayc", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "examples" / "plain", tmp_path / "plain")
    return tmp_path / "plain" / "overlay.yaml"


@pytest.mark.parametrize(("fmt", "ext"), [("json", "json"), ("iproute2", "sh")])
def test_render_matches_the_golden_and_writes_the_lock(plain: Path, fmt: str, ext: str) -> None:
    res = overlayc("render", "-f", str(plain), "--node", "host-a", "--format", fmt, "--at", WHEN)
    assert res.returncode == 0, res.stderr
    assert res.stdout == (ROOT / "golden" / "compile" / "plain" / f"host-a.{ext}").read_text()
    assert "api.2: host-b" in (plain.parent / "overlayc.lock").read_text()


def test_locked_render_fails_naming_what_would_change(plain: Path) -> None:
    assert overlayc("render", "-f", str(plain), "--node", "host-a", "--at", WHEN).returncode == 0
    lock = (plain.parent / "overlayc.lock").read_text()
    assert overlayc("render", "-f", str(plain), "--node", "host-a", "--locked", "--at", WHEN).returncode == 0
    plain.write_text(plain.read_text().replace("replicas: 2", "replicas: 3"))
    res = overlayc("render", "-f", str(plain), "--node", "host-a", "--locked", "--at", WHEN)
    assert res.returncode == 1
    assert "+ task api.3: host-a" in res.stderr
    assert (plain.parent / "overlayc.lock").read_text() == lock


def test_unknown_node_is_an_error(plain: Path) -> None:
    res = overlayc("render", "-f", str(plain), "--node", "nope", "--at", WHEN)
    assert res.returncode == 1
    assert "unknown node 'nope'" in res.stderr
