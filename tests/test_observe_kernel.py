"""observe() against real kernels in test namespaces: objects made with iproute2 are observed as
the hand-built expected objects; foreign objects appear only as collision keys."""

from __future__ import annotations

import json
import shutil
from ipaddress import IPv4Address, IPv4Network

import pytest
from typer.testing import CliRunner

from overlayc.cli import app
from overlayc.errors import EnvironmentProblem
from overlayc.kernel.objects import Fdb, Neigh, XfrmPolicy, XfrmTemplate
from overlayc.kernel.ownership import PRIO_BLOCK, PRIO_PEER, parse_alias
from overlayc.kernel.state import KernelState
from overlayc.netlink import xfrm as nx
from overlayc.observe.kernel import observe
from tests.support.host import DATA
from tests.support.kernel import ALIAS, BRIDGE_MAC, VXLAN_MAC, bridge, iface, sh, vxlan
from tests.support.strace_capture import CASES, capture

pytestmark = pytest.mark.kernel

MAC = "02:42:0a:01:00:06"


def _iproute2_network(ns: str) -> None:
    sh(ns, f"ip link add ovb1 address {BRIDGE_MAC} mtu 1450 type bridge")
    sh(ns, f"ip link set ovb1 alias {ALIAS}")
    sh(ns, "ip addr add 10.1.0.1/24 dev ovb1")
    sh(ns, f"ip link add ovx1 address {VXLAN_MAC} mtu 1450 type vxlan id 4096 local 10.0.0.1 dstport 4790 "
           "nolearning proxy")
    sh(ns, f"ip link set ovx1 master ovb1 alias {ALIAS} up")
    sh(ns, "bridge fdb append 02:42:0A:01:00:06 dev ovx1 dst 10.0.0.2 self permanent")
    sh(ns, "ip neigh replace 10.1.0.6 lladdr 02:42:0a:01:00:06 dev ovx1 nud permanent")
    sh(ns, "ip xfrm policy add src 10.0.0.1/32 dst 10.0.0.2/32 proto udp dport 4790 dir out priority 0x6f00 "
           "tmpl src 10.0.0.1 dst 10.0.0.2 proto esp reqid 0x6f7663 mode transport")
    sh(ns, "ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport 4790 dir in priority 0x6f10 "
           "action block")


def test_iproute2_made_network_is_observed_exactly(netns: str) -> None:
    _iproute2_network(netns)
    expected = KernelState([
        bridge(address=iface("10.1.0.1/24")),
        vxlan(),
        Fdb("ovx1", MAC, IPv4Address("10.0.0.2")),
        Neigh("ovx1", IPv4Address("10.1.0.6"), MAC),
        XfrmPolicy("out", IPv4Network("10.0.0.1/32"), IPv4Network("10.0.0.2/32"), 4790, PRIO_PEER, "allow",
                   XfrmTemplate(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"))),
        XfrmPolicy("in", IPv4Network("0.0.0.0/0"), IPv4Network("0.0.0.0/0"), 4790, PRIO_BLOCK, "block"),
    ])
    got = observe(netns)
    assert got.owned == expected
    assert got.owned.dumps() == expected.dumps()


def test_foreign_objects_are_only_collision_keys(netns: str) -> None:
    _iproute2_network(netns)
    sh(netns, "ip link add fvx1 type vxlan id 77 local 10.0.0.1 dstport 4800")
    sh(netns, "bridge fdb append 02:00:00:00:00:01 dev fvx1 dst 10.0.0.9 self permanent")
    sh(netns, "ip neigh replace 10.9.0.1 lladdr 02:00:00:00:00:01 dev fvx1 nud permanent")
    sh(netns, "ip xfrm policy add src 10.0.0.1/32 dst 10.0.0.9/32 proto udp dport 4800 dir out priority 100 "
              "action block")
    got = observe(netns)
    assert got.foreign_links["fvx1"] == "vxlan, not overlayc's"
    assert "lo" in got.foreign_links
    assert ("xfrm-policy", "out", "10.0.0.1/32", "10.0.0.9/32", "17", "4800") in got.foreign
    assert ("netns", netns) in got.foreign
    assert {o.kind for o in got.owned} == {"bridge", "vxlan", "fdb", "neigh", "xfrm-policy"}
    assert all(getattr(o, "dev", "ovx1") == "ovx1" for o in got.owned)


def test_cluster_filter(netns: str) -> None:
    _iproute2_network(netns)
    sh(netns, "ip link add ovb2 type bridge")
    sh(netns, "ip link set ovb2 alias overlayc:other:n1")
    assert {o.key for o in observe(netns, "oct").owned.of_kind("bridge")} == {("bridge", "ovb1")}
    other = observe(netns, "other")
    assert [o.key for o in other.owned.of_kind("bridge")] == [("bridge", "ovb2")]
    assert other.foreign_links["ovb1"] == "bridge, overlayc's but of cluster 'oct'"
    assert len(observe(netns).owned.of_kind("bridge")) == 2


def test_non_permanent_and_master_entries_are_not_observed(netns: str) -> None:
    _iproute2_network(netns)
    sh(netns, "ip neigh replace 10.1.0.7 lladdr 02:00:00:00:00:07 dev ovx1 nud reachable")
    sh(netns, "bridge fdb add 02:00:00:00:00:08 dev ovx1 master static")
    assert len(observe(netns).owned.of_kind("neigh")) == 1
    assert len(observe(netns).owned.of_kind("fdb")) == 1


@pytest.mark.parametrize("alias", ["overlayc:", "overlayc:c", "overlayc:c:n:ns:x", "docker:c:n", ""])
def test_parse_alias_rejects(alias: str) -> None:
    assert parse_alias(alias) is None


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize("name", sorted(CASES))
def test_fixtures_are_what_this_hosts_iproute2_sends(netns: str, name: str) -> None:
    if name.endswith("-del"):  # something to delete must exist first
        sh(netns, " ".join(CASES["xfrm-policy-out"]))
    got = capture(netns, CASES[name])
    want = json.loads((DATA / f"{name}.json").read_text())
    assert (got["type"], got["flags"], got["body"]) == (want["type"], want["flags"], want["body"])
    if name.startswith("xfrm-policy") and not name.endswith("-del"):
        assert nx.encode_policy(nx.decode_policy(bytes.fromhex(got["body"]))).hex() == got["body"]


def test_cli_observe_prints_the_observed_state(netns: str) -> None:
    _iproute2_network(netns)
    runner = CliRunner()
    as_json = runner.invoke(app, ["observe", "--netns", netns, "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert KernelState.loads(as_json.output) == observe(netns).owned
    text = runner.invoke(app, ["observe", "--netns", netns, "--cluster", "oct"])
    assert text.exit_code == 0
    lines = text.output.splitlines()
    assert f"vxlan ovx1  alias=overlayc:oct:n1 learning=False local=10.0.0.1 mac={VXLAN_MAC} master=ovb1 " \
           "mtu=1450 name=ovx1 port=4790 proxy=True sandbox= udp6zerocsumrx=False udp6zerocsumtx=False " \
           "vni=4096" in lines  # the node's namespace
    assert lines[-1].startswith("# 6 owned objects;")


def test_missing_namespace_is_an_environment_problem() -> None:
    with pytest.raises(EnvironmentProblem, match="network namespace 'oct-missing-ns' does not exist"):
        observe("oct-missing-ns")
