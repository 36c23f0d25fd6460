"""apply/destroy as processes against a test namespace: `--json` event streams, and a declined
confirmation (a real terminal answering "no") that exits 5 and changes nothing."""

from __future__ import annotations

import json
import os
import pty
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from overlayc.observe.kernel import observe

pytestmark = pytest.mark.kernel


def config(tmp_path: Path) -> tuple[Path, str]:
    cluster = f"oc14k{secrets.token_hex(2)}"  # endpoint namespaces are <cluster>-web.N
    path = tmp_path / "overlay.yaml"
    path.write_text(f"""\
version: 1
cluster: {{name: {cluster}, id: test-cluster-{cluster}}}
nodes:
  a: {{address: 192.0.2.1}}
  b: {{address: 192.0.2.2}}
networks:
  front: {{subnet: 10.41.0.0/24, vni: 5141}}
services:
  web: {{replicas: 2, networks: [front]}}
""")
    return path, cluster


def overlayc(tmp_path: Path, *args: str, stdin: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OVERLAYC_LOCK_DIR": str(tmp_path / "locks")}
    return subprocess.run([sys.executable, "-m", "overlayc", *args], capture_output=True, text=True,
                          timeout=120, check=False, env=env, cwd=tmp_path, stdin=stdin)


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def give_address(netns: str) -> None:
    """Node a's underlay address on an interface of `netns` (apply refuses a node without it)."""
    for cmd in (["link", "add", "oc14u", "type", "veth", "peer", "name", "oc14p"],
                ["addr", "add", "192.0.2.1/24", "dev", "oc14u"]):
        subprocess.run(["ip", "-n", netns, *cmd], check=True)


def remove_namespaces(cluster: str) -> None:
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if name.startswith(cluster):
            subprocess.run(["ip", "netns", "del", name], check=False)


def test_apply_and_destroy_stream_json_events_and_a_decline_exits_5(netns: str, tmp_path: Path) -> None:
    path, cluster = config(tmp_path)
    give_address(netns)
    try:
        res = overlayc(tmp_path, "apply", "-f", str(path), "--node", "a", "--netns", netns, "--yes", "--json")
        assert res.returncode == 0, res.stderr
        stream = events(res.stdout)
        assert stream[0]["type"] == "version" and stream[0]["format_version"] == "1.0"
        planned = [e for e in stream if e["type"] == "planned_change"]
        summary = next(e for e in stream if e["type"] == "change_summary")
        assert len(planned) == summary["changes"]["add"] > 0
        assert any(e["type"] == "apply_progress" for e in stream)
        assert stream[-1]["type"] == "outcome" and stream[-1]["outcome"] == "changed"
        assert stream[-1]["exit_code"] == 0 and stream[-1]["executed"] == len(planned)
        before = observe(netns).owned
        assert len(before) == len(planned)

        master, slave = pty.openpty()
        try:
            os.write(master, b"no\n")
            res = overlayc(tmp_path, "destroy", "--netns", netns, stdin=slave)
        finally:
            os.close(slave)
            os.close(master)
        assert res.returncode == 5, (res.stdout, res.stderr)
        assert "destroy cancelled at the prompt: nothing was changed" in res.stderr
        assert "Do you want to destroy these changes?" in res.stderr
        assert observe(netns).owned == before

        res = overlayc(tmp_path, "destroy", "--netns", netns, "--yes", "--json")
        assert res.returncode == 0, res.stderr
        stream = events(res.stdout)
        assert stream[-1]["outcome"] == "changed" and stream[-1]["executed"] == len(before)
        assert len(observe(netns).owned) == 0
        assert not list((tmp_path / "locks").iterdir())  # no lock file left behind
    finally:
        remove_namespaces(cluster)


def test_an_error_ends_the_stream_as_an_error_event(netns: str, tmp_path: Path) -> None:
    path, cluster = config(tmp_path)
    give_address(netns)
    try:
        res = overlayc(tmp_path, "apply", "-f", str(path), "--node", "a", "--netns", netns, "--json")
        assert res.returncode == 1  # no terminal and no --yes: refused before any change
        last = events(res.stdout)[-1]
        assert last["type"] == "error" and last["error"]["kind"] == "input"
        message = last["error"]["message"]
        assert "refusing to apply without confirmation" in message
        assert f"`overlayc plan -f {path} --node a --netns {netns} -o plan.json`, then " \
               f"`overlayc apply -f {path} plan.json`" in message  # commands that work as shown
        assert len(observe(netns).owned) == 0
    finally:
        remove_namespaces(cluster)
