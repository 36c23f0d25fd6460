"""The namespace handle: one per namespace, its sockets and its worker thread shared by every reader
and writer, so that one apply opens one route and one XFRM socket in the node's namespace."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import textwrap
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from overlayc.apply.run import Outcome
from overlayc.apply.session import apply_target
from overlayc.config.load import load_config
from overlayc.errors import EnvironmentProblem
from overlayc.inputs import Target, assign_with_lock
from overlayc.netlink import link as nl_link
from overlayc.netlink.netns import Namespace, opened
from overlayc.netlink.sock import NETLINK_ROUTE
from overlayc.netlink.xfrm import NETLINK_XFRM
from overlayc.observe.kernel import read_links
from tests.support.host import run_in

EXAMPLE_PUBLIC_KEY = "QWfOvszOZ62logBnaao7jh0X6y/XVbZjTwQaNfEtah0="  # examples/seed/keys/node1.key (EXAMPLE)


def _netns_inode(path: str) -> int:
    return os.stat(path).st_ino


@pytest.mark.kernel
def test_sockets_are_made_inside_the_namespace_once(netns: str) -> None:
    run_in(netns, "ip", "link", "add", "oc12k-br", "type", "bridge")
    with Namespace(netns) as ns:
        assert ns.route is ns.route and ns.xfrm is ns.xfrm
        names = {info.name for info in read_links(ns.route)[0].values()}
        assert "oc12k-br" in names
        # the calling thread never left its own namespace
        assert _netns_inode("/proc/thread-self/ns/net") == _netns_inode("/proc/self/ns/net")
        route = ns.route
    assert route.sock.fileno() == -1  # closed with the handle


@pytest.mark.kernel
def test_the_second_route_socket_is_another_one_inside_the_namespace(netns: str) -> None:
    run_in(netns, "ip", "link", "add", "oc12k-br", "type", "bridge")
    with Namespace(netns) as ns:
        second = ns.second_route
        assert second is ns.second_route and second is not ns.route
        assert second.sock.getsockname()[0] != ns.route.sock.getsockname()[0]  # two port ids
        assert "oc12k-br" in {info.name for info in read_links(second)[0].values()}
        assert _netns_inode("/proc/thread-self/ns/net") == _netns_inode("/proc/self/ns/net")
    assert second.sock.fileno() == -1  # closed with the handle


@pytest.mark.kernel
def test_run_uses_one_worker_thread_inside_the_namespace(netns: str) -> None:
    inside = _netns_inode(f"/run/netns/{netns}")
    with Namespace(netns) as ns:
        seen = [ns.run(lambda: (threading.get_ident(), _netns_inode("/proc/thread-self/ns/net")))
                for _ in range(3)]
    assert len({ident for ident, _ in seen}) == 1
    assert {ino for _, ino in seen} == {inside}
    assert threading.get_ident() not in {ident for ident, _ in seen}


@pytest.mark.kernel
def test_opened_lends_a_handle_and_opens_a_name(netns: str) -> None:
    with Namespace(netns) as ns:
        with opened(ns) as lent:
            assert lent is ns
        assert ns.route.sock.fileno() != -1  # a lent handle stays open
        with opened(netns) as fresh:
            assert fresh is not ns and fresh.name == netns


def test_a_missing_namespace_is_named() -> None:
    with pytest.raises(EnvironmentProblem, match="network namespace 'oc12k-missing' does not exist"):
        Namespace("oc12k-missing")


ENCRYPTED_ALONE = """\
version: 1
cluster: {{name: {cluster}, id: test-cluster-{cluster}, data_port: 4789}}
nodes:
  a: {{address: 192.0.2.1, public_key: {key}}}
  b: {{address: 192.0.2.2}}
networks:
  vault: {{subnet: 10.33.0.0/24, vni: 5103, encrypted: true}}
services:
  safe: {{replicas: 1, networks: [vault], constraints: ["node.hostname == a"]}}
"""


@pytest.fixture
def encrypted_node(netns: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A node namespace holding the node's underlay address, and a config with an encrypted
    network on that node alone (no peer: block policies, no SAs, which this kernel cannot hold)."""
    run_in(netns, "ip", "link", "add", "oc12k-u", "type", "veth", "peer", "name", "oc12k-p")
    run_in(netns, "ip", "addr", "add", "192.0.2.1/24", "dev", "oc12k-u")
    run_in(netns, "ip", "link", "set", "oc12k-u", "up")
    cluster = f"oc12k{secrets.token_hex(3)}"
    cfg = tmp_path / "overlay.yaml"
    cfg.write_text(textwrap.dedent(ENCRYPTED_ALONE.format(cluster=cluster, key=EXAMPLE_PUBLIC_KEY)))
    yield netns, cfg
    listed = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True).stdout
    for name in (n["name"] for n in json.loads(listed or "[]")):
        if name.startswith(f"{cluster}-"):
            subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.mark.kernel
def test_one_apply_of_an_encrypted_node_opens_one_route_and_one_xfrm_socket(
    encrypted_node: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    netns, cfg = encrypted_node
    node_ns = _netns_inode(f"/run/netns/{netns}")
    made: list[tuple[int, int]] = []  # (netlink protocol, namespace inode of the creating thread)
    real_socket: Callable[..., socket.socket] = socket.socket

    def counting_socket(family: int, kind: int, proto: int = 0) -> socket.socket:
        made.append((proto, _netns_inode("/proc/thread-self/ns/net")))
        return real_socket(family, kind, proto)

    started: list[str] = []
    real_start = threading.Thread.start

    def recording_start(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
        started.append(self.name)
        real_start(self, *args, **kwargs)

    loaded = load_config([cfg])
    target = Target(loaded.config, assign_with_lock(loaded, locked=False), "a", netns,
                    datetime.now(UTC), None)
    monkeypatch.setattr(socket, "socket", counting_socket)  # what overlayc.netlink.sock calls
    monkeypatch.setattr(threading.Thread, "start", recording_start)
    applied = apply_target(target, confirm=lambda plan: True)
    monkeypatch.undo()

    assert applied.result.outcome == Outcome.CHANGED, applied.result
    assert applied.desired.of_kind("xfrm-policy") and not applied.desired.of_kind("xfrm-state")
    in_node = [proto for proto, ino in made if ino == node_ns]
    # the handle's route and XFRM sockets, and the node namespace's FDB watch
    # (overlayc.netlink.watch: the FDB's notifications, from the first observe on)
    assert sorted(in_node) == [NETLINK_ROUTE, NETLINK_ROUTE, NETLINK_XFRM]
    assert [proto for proto, _ in made].count(NETLINK_XFRM) == 1
    # the fail-closed sysctls were read before and after execute, by one worker thread; the
    # others unshare the two namespaces made (the network's sandbox, the endpoint's) and write
    # or read sysctls inside them: one worker per handle (the sandbox's is opened to make it and
    # by each observe, the endpoint's to turn IPv6 off on its interface); and the first observe
    # runs on a thread of its own while the desired state is compiled (overlayc.observe.background)
    assert len([n for n in started if n.startswith(f"overlayc-netns-{netns}")]) == 1
    assert started.count("overlayc-observe") == 1
    made_ns = sorted(n.removeprefix("netns-") for n in started if n.startswith("netns-"))
    assert len(made_ns) == 2 and "-sb.vault." in made_ns[1], started
    workers = [n for n in started if n.startswith("overlayc-netns-")]
    # verify takes the sandbox's FDB from its watch (overlayc.netlink.watch), so no FDB dump runs
    # on a thread of its own; no entry batch here holds both kinds: no second stream
    assert started.count("overlayc-netlink") == 0
    assert len(workers) + len(made_ns) + 1 == len(started), started
    assert sum(w.startswith(f"overlayc-netns-{made_ns[0]}") for w in workers) == 1  # the endpoint
    assert sum(w.startswith(f"overlayc-netns-{made_ns[1]}") for w in workers) == 2  # make + verify


@pytest.mark.kernel
def test_a_closed_handle_refuses_to_work(netns: str) -> None:
    ns = Namespace(netns)
    ns.close()
    with pytest.raises(ValueError, match="closed"):
        ns.route  # noqa: B018
    with pytest.raises(ValueError, match="closed"):
        ns.run(lambda: None)


@pytest.mark.kernel
def test_a_dump_left_half_read_does_not_leak_into_the_next(netns: str, tmp_path: Path) -> None:
    """The handle's sockets are shared, so a dump abandoned after its first datagram is read to
    its end: the next dump sees only its own messages."""
    batch = tmp_path / "links.batch"
    batch.write_text("".join(f"link add oc12k-b{i} type bridge\n" for i in range(200)))
    run_in(netns, "ip", "-batch", str(batch))
    with Namespace(netns) as ns:
        fresh = sum(1 for _ in ns.route.dump(nl_link.RTM_GETLINK, nl_link.ifinfo()))
        raw = ns.route.dump_raw(nl_link.RTM_GETLINK, nl_link.ifinfo())
        first = next(raw)
        raw.close()
        after = sum(1 for _ in ns.route.dump(nl_link.RTM_GETLINK, nl_link.ifinfo()))
    assert fresh >= 201 and len(first) < 200 * 1000  # the first datagram held only part of it
    assert after == fresh
