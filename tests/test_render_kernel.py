"""`render --format iproute2` scripts, run in a test namespace, produce exactly the compiled state
(as read back by observe) for every node of every valid example. SAs are left out: this host's
kernel has no ESP (they are proven in the ESP lab). Endpoint namespaces are renamed with an `ovt`
prefix before rendering, so the test creates nothing unrecognisable in /run/netns."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from overlayc.config.load import load_config
from overlayc.inputs import assign_with_lock
from overlayc.kernel.objects import Endpoint, KernelObject, Netns
from overlayc.kernel.state import KernelState
from overlayc.netlink.netns import namespace_id
from overlayc.observe.kernel import observe
from overlayc.render.iproute2 import render_iproute2
from tests.support.builders import compile_for
from tests.support.host import EXAMPLES

pytestmark = pytest.mark.kernel

CASES = [(ex, node) for ex in ("plain", "seed", "large")
         for node in load_config([EXAMPLES / ex / "overlay.yaml"]).config.nodes]


def _rename(obj: KernelObject, prefix: str) -> KernelObject:
    """`obj` with every endpoint namespace it names given `prefix`. Sandboxes keep their names:
    those end in the node namespace's identity, so they are already this test's own (and the
    cluster a sandbox's tag carries is read from its name, which a prefix would change); the
    `make_netns` fixture removes them with their node namespace."""
    if isinstance(obj, Netns):
        return Netns(prefix + obj.name)
    if isinstance(obj, Endpoint):
        head, _, ns = obj.alias.rpartition(":")
        return replace(obj, netns=prefix + obj.netns, alias=f"{head}:{prefix}{ns}")
    return obj


def desired(example: str, node: str, prefix: str, netns: str) -> KernelState:
    """The node's desired state in node namespace `netns`, its namespaces' names prefixed."""
    loaded = load_config([EXAMPLES / example / "overlay.yaml"])
    state = compile_for(loaded.config, node, assignment=assign_with_lock(loaded, locked=True),
                        owner=namespace_id(netns))
    return KernelState(_rename(o, prefix) for o in state if o.kind != "xfrm-state")


@pytest.fixture
def prefix() -> Iterator[str]:
    """`ovt<hex>-`; every /run/netns entry with it is removed at teardown."""
    p = f"ovt{secrets.token_hex(2)}-"
    yield p
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if name.startswith(p):
            subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.mark.parametrize(("example", "node"), CASES)
def test_rendered_script_produces_the_compiled_state(
    netns: str, prefix: str, tmp_path: Path, example: str, node: str
) -> None:
    want = desired(example, node, prefix, netns)
    script = tmp_path / "apply.sh"
    script.write_text(render_iproute2(want, title=node))
    # nsenter, not `ip netns exec`: the latter makes the mount tree a slave, so the namespaces
    # the script adds with `ip netns add` would be invisible (empty files) outside it
    res = subprocess.run(["nsenter", f"--net=/run/netns/{netns}", "sh", str(script)], capture_output=True,
                         text=True, check=False)
    assert res.returncode == 0, res.stderr
    got = observe(netns).owned
    assert got.dumps() == want.dumps()
    assert got == want


def test_endpoint_namespaces_survive_a_script_run_under_ip_netns_exec(netns: str, prefix: str,
                                                                      tmp_path: Path) -> None:
    want = desired("seed", "node2", prefix, netns)
    script = tmp_path / "apply.sh"
    script.write_text(render_iproute2(want, title="node2"))
    res = subprocess.run(["ip", "netns", "exec", netns, "sh", str(script)], capture_output=True,
                         text=True, check=False)
    assert res.returncode == 0, res.stderr
    endpoint = f"{prefix}seed-web.1"
    shown = subprocess.run(["ip", "-n", endpoint, "-j", "addr", "show", "dev", "eth0"], capture_output=True,
                           text=True, check=False)
    assert shown.returncode == 0, shown.stderr  # a real namespace, not an empty file
    assert '"local":"198.51.100.1"' in shown.stdout
    assert observe(netns).owned == want
