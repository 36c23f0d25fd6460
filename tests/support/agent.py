"""The `overlayc reconcile` agent under test: a node namespace with an underlay veth, a config
file written from a body of networks/services, and one `--once` round run as a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.counters import netns_list
from tests.support.host import run_in

GOOD = """\
networks:
  front: {subnet: 10.31.0.0/24, vni: 5101}
services:
  web: {replicas: 2, networks: [front]}
"""
NODES = "  a: {address: 192.0.2.1}\n  b: {address: 192.0.2.2}\n"
BAD = GOOD.replace("vni: 5101}", "vni: 5101, encrypt: true}")  # a typo'd option pushed to git


@dataclass
class Agent:
    """A node namespace (underlay 192.0.2.1 on a veth) and a config file for `reconcile`."""

    ns: str
    cluster: str
    tmp: Path

    def write(self, body: str, nodes: str = NODES) -> Path:
        path = self.tmp / "overlay.yaml"
        path.write_text(f"version: 1\ncluster: {{name: {self.cluster}, id: test-cluster-{self.cluster}}}\n"
                        f"nodes:\n{nodes}{body}")
        return path

    def args(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "overlayc", "reconcile", "-f", str(self.tmp / "overlay.yaml"),
                "--netns", self.ns, *extra]

    def env(self) -> dict[str, str]:
        return {**os.environ, "OVERLAYC_LOCK_DIR": str(self.tmp / "locks")}

    @contextlib.contextmanager
    def loop(self, *extra: str) -> Iterator[subprocess.Popen[str]]:
        """`reconcile EXTRA` running, its stdout/stderr line-buffered pipes; when the block ends,
        SIGTERM must end it with 0. Killed (by its PID) if the block or that check failed."""
        proc = subprocess.Popen(self.args(*extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env(), cwd=self.tmp, bufsize=1)  # fmt: skip
        try:
            yield proc
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def once(self) -> tuple[int, dict[str, Any]]:
        res = subprocess.run(self.args("--once"), capture_output=True, text=True, timeout=120, check=False,
                             env=self.env(), cwd=self.tmp)
        lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
        assert len(lines) == 1, (res.stdout, res.stderr)
        return res.returncode, json.loads(lines[0])


@contextlib.contextmanager
def node_namespace(make_netns: Callable[[], str]) -> Iterator[tuple[str, str]]:
    """(node namespace, cluster name): the namespace has underlay 192.0.2.1/24 on veth `oct-u`
    (its peer in a second namespace); the cluster's endpoint namespaces are removed at the end."""
    ns, peer = make_netns(), make_netns()
    run_in(ns, "ip", "link", "add", "oct-u", "type", "veth", "peer", "name", "oct-p", "netns", peer)
    run_in(ns, "ip", "addr", "add", "192.0.2.1/24", "dev", "oct-u")
    run_in(ns, "ip", "link", "set", "oct-u", "up")
    cluster = f"k{secrets.token_hex(3)}"
    try:
        yield ns, cluster
    finally:
        for name in netns_list():
            if name.startswith(f"{cluster}-"):
                subprocess.run(["ip", "netns", "del", name], check=False)


@contextlib.contextmanager
def big_network_node(make_netns: Callable[[], str], tmp_path: Path, replicas: int,
                     vni: int) -> Iterator[tuple[str, str, Path]]:
    """(node namespace, cluster, config) of node a (a `node_namespace`) in a cluster of nodes a, b,
    c whose one network `big` (VNI `vni`) holds `replicas` unmanaged tasks on b and c: node a
    gets `replicas` fdb + neighbour entries (dumps of many recv() buffers)."""
    with node_namespace(make_netns) as (ns, cluster):
        cfg = tmp_path / "overlay.yaml"
        cfg.write_text(textwrap.dedent(f"""\
            version: 1
            cluster: {{name: {cluster}, id: test-cluster-{cluster}}}
            nodes:
              a: {{address: 192.0.2.1}}
              b: {{address: 192.0.2.2}}
              c: {{address: 192.0.2.3}}
            networks:
              big: {{subnet: 10.40.0.0/16, vni: {vni}, all_nodes: true}}
            services:
              app: {{replicas: {replicas}, networks: [big], managed: false,
                     constraints: ["node.hostname != a"]}}
            """))
        yield ns, cluster, cfg


def make_agent(make_netns: Callable[[], str], tmp_path: Path) -> Iterator[Agent]:
    """The `agent` fixture's body: an Agent on a `node_namespace`."""
    with node_namespace(make_netns) as (ns, cluster):
        yield Agent(ns, cluster, tmp_path)
