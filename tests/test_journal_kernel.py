"""The intent journal and namespace tags, deterministically (the kill test finds the same states
at random): what an interrupted run leaves half-made is removed by the next one, and nothing that
is not provably overlayc's is touched."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from overlayc.apply import journal
from overlayc.apply.kernel import KernelHandle
from overlayc.kernel.objects import Netns
from overlayc.kernel.ownership import LINK_GROUP, netns_tag
from overlayc.netlink import netns as nsops
from overlayc.netlink.netns import namespace_id
from overlayc.observe.kernel import observe
from tests.support.host import run_in

pytestmark = pytest.mark.kernel
CLUSTER = "oc16j"


@pytest.fixture
def names() -> Iterator[Callable[[], str]]:
    """Fresh `oc16j-<hex>` names for namespaces; every one of them is removed at teardown."""
    made: list[str] = []

    def make() -> str:
        made.append(f"{CLUSTER}-{secrets.token_hex(3)}")
        return made[-1]

    yield make
    for name in made:
        path = Path(nsops.NETNS_DIR) / name
        if nsops.is_placeholder(name):
            path.unlink()
        elif path.exists():
            subprocess.run(["ip", "netns", "del", name], check=False)


def _links(ns: str) -> str:
    return run_in(ns, "ip", "-o", "link", "show").stdout


def test_untagged_links_of_our_group_named_in_the_journal_are_removed(netns: str, tmp_path: Path) -> None:
    group = str(LINK_GROUP)
    # killed before its tag; not in the journal; in the journal but not in our group
    run_in(netns, "ip", "link", "add", "name", "ovb9", "group", group, "type", "bridge")
    run_in(netns, "ip", "link", "add", "name", "ovb8", "group", group, "type", "bridge")
    run_in(netns, "ip", "link", "add", "name", "ovb7", "type", "bridge")
    journal.record(tmp_path, [journal.Intent("link", "ovb9"), journal.Intent("link", "ovb7")])
    with KernelHandle(netns, CLUSTER) as kernel:
        done = journal.replay(tmp_path, kernel.links)
    assert done == ["bridge ovb9: created but not yet tagged: removed"]
    links = _links(netns)
    assert "ovb9" not in links and "ovb8" in links and "ovb7" in links
    assert not (tmp_path / journal.JOURNAL_NAME).exists()


def test_an_empty_netns_entry_named_in_the_journal_is_removed(names: Callable[[], str],
                                                              tmp_path: Path) -> None:
    mine, other = names(), names()
    for name in (mine, other):  # what a kill between creating the name and mounting leaves
        (Path(nsops.NETNS_DIR) / name).touch()
    journal.record(tmp_path, [journal.Intent("netns", mine)])
    with KernelHandle(None, CLUSTER) as kernel:
        assert journal.replay(tmp_path, kernel.links) == [f"netns {mine}: an empty /run/netns entry: removed"]
    assert not (Path(nsops.NETNS_DIR) / mine).exists() and (Path(nsops.NETNS_DIR) / other).exists()


def test_a_namespace_is_owned_from_the_moment_it_exists(
    netns: str, names: Callable[[], str]
) -> None:
    ours, theirs, other_cluster, other_node = names(), names(), names(), names()
    owner = namespace_id(netns)
    nsops.create_netns(ours, netns_tag(CLUSTER, owner))
    nsops.create_netns(other_cluster, netns_tag("oc16x", owner))
    nsops.create_netns(other_node, netns_tag(CLUSTER, namespace_id(None)))  # the host's, say
    subprocess.run(["ip", "netns", "add", theirs], check=True)
    lo = run_in(ours, "ip", "-j", "-d", "link", "show", "lo").stdout
    assert f"overlayc:{CLUSTER}:-:{owner}" in lo
    live = observe(netns, CLUSTER)
    assert Netns(ours) in list(live.owned)
    assert {("netns", n) for n in (theirs, other_cluster, other_node)} <= set(live.foreign)
    assert "of cluster 'oc16x'" in live.foreign[("netns", other_cluster)]
    assert "of another node's namespace" in live.foreign[("netns", other_node)]
    from overlayc.apply.session import destroy_netns

    destroy_netns(netns, CLUSTER, confirm=lambda plan: True)
    present = os.listdir(nsops.NETNS_DIR)
    assert ours not in present and {theirs, other_cluster, other_node} <= set(present)


def test_a_half_made_endpoint_named_in_the_journal_is_removed(
    netns: str, names: Callable[[], str], tmp_path: Path
) -> None:
    ep = names()
    nsops.create_netns(ep, netns_tag(CLUSTER, namespace_id(netns)))
    run_in(netns, "ip", "link", "add", "name", "ovee1", "group", str(LINK_GROUP), "type", "veth",
           "peer", "name", "eth0", "netns", ep)
    run_in(netns, "ip", "link", "set", "ovee1", "alias", f"overlayc:{CLUSTER}:web:{ep}")
    journal.record(tmp_path, [journal.Intent("endpoint", "ovee1", ep)])
    with KernelHandle(netns, CLUSTER) as kernel:
        [done] = journal.replay(tmp_path, kernel.links)
    assert done.startswith("endpoint ovee1: half-made") and done.endswith("removed")
    assert "ovee1" not in _links(netns)
    assert list(observe(netns, CLUSTER).owned) == [Netns(ep)]  # the namespace stays, owned
