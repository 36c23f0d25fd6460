"""The README's Quick tour runs as written: its command block, taken from README.md, runs with
`sh -e` in a fresh network namespace *and* a private mount namespace (`unshare --net --mount`, with
tmpfs on /run/netns and /run/overlayc), from a copy of the checkout's examples. So every namespace
the tour adds lives and dies with that one process; nothing of the host is seen or touched."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.host import ROOT, netns_unavailable

pytestmark = pytest.mark.kernel
MARKER = "<!-- tour: tests/test_readme_tour.py runs this block -->"


def tour_block() -> str:
    """The ```sh block right after the tour marker in README.md."""
    text = (ROOT / "README.md").read_text()
    m = re.search(re.escape(MARKER) + r"\n```sh\n(.*?)\n```", text, re.S)
    assert m, "README.md: the tour block is missing its marker"
    return m.group(1) + "\n"


def test_the_tour_only_names_namespaces_or_offline_state() -> None:
    for line in tour_block().splitlines():
        words = line.split("#")[0].split()
        if words[:2] in (["overlayc", "apply"], ["overlayc", "destroy"], ["overlayc", "observe"],
                         ["overlayc", "status"]):
            assert "--netns" in words, line  # never the host's own network
        if words[:2] == ["overlayc", "plan"]:
            assert "--state" in words or "--netns" in words, line


def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    if shutil.which("unshare") is None:
        pytest.skip("util-linux `unshare` is not installed")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "tour.sh").write_text(tour_block())
    inner = ("mount -t tmpfs oc14-tour /run/netns && mkdir -p /run/overlayc && "
             "mount -t tmpfs oc14-tour /run/overlayc && ip link set lo up && exec sh -e -x tour.sh")
    bindir = Path(sys.executable).parent  # where the `overlayc` console script is installed
    env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}", "OVERLAYC_KEY_DIR": str(tmp_path)}
    os.makedirs("/run/netns", exist_ok=True)
    res = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", inner],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "Plan for node2: 21 to add" in res.stdout  # 2 sandboxes, 2 bridges, 2 vxlans, ...
    assert "No changes. Node host-a matches the configuration." in res.stdout  # node from the snapshot
    assert ": HEALTHY" in res.stdout and "Destroy complete" in res.stdout
    assert (tmp_path / "seed.dot").read_text().startswith("graph overlay {")
    assert (tmp_path / "node2.key").stat().st_mode & 0o777 == 0o600
    for example in ("seed", "plain"):  # the committed locks were current: nothing rewritten
        assert (tmp_path / "examples" / example / "overlayc.lock").read_text() == \
            (ROOT / "examples" / example / "overlayc.lock").read_text()
