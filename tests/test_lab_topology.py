"""lab.topology.Lab: nodes on one underlay reach each other; teardown leaves no namespace behind."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from lab.topology import Lab, LabError, list_netns
from tests.support.host import netns_unavailable

pytestmark = pytest.mark.kernel


def test_nodes_reach_each_other_on_the_underlay(lab_factory: Any) -> None:
    lab = lab_factory(["node1", "node2", "node3"])
    assert [lab.address(n) for n in lab.nodes] == [ipaddress.IPv4Address(f"192.0.2.{i}") for i in (1, 2, 3)]
    names = [lab.netns(n) for n in lab.nodes]
    assert len(set(names)) == 3 and all(n.startswith(lab.tag + "-") for n in names)
    assert set(names) | {lab.underlay} <= set(list_netns())
    addrs = json.loads(lab.exec("node2", "ip", "-j", "addr", "show", "dev", lab.underlay_dev).stdout)
    assert {"local": "192.0.2.2", "prefixlen": 24} in [
        {"local": a["local"], "prefixlen": a["prefixlen"]} for a in addrs[0]["addr_info"]
    ]
    assert lab.exec("node1", "cat", "/proc/sys/net/ipv4/conf/all/rp_filter").stdout.strip() == "0"
    for src in lab.nodes:
        for dst in lab.nodes:
            if src != dst:
                assert lab.ping(src, lab.address(dst)), f"{src} cannot reach {dst}"
    assert not lab.ping("node1", "192.0.2.99", wait=0.5), "an address nobody holds answered"


def test_given_addresses_and_unknown_node(lab_factory: Any) -> None:
    lab = lab_factory(["x", "y"], subnet="203.0.113.0/24", addresses={"y": "203.0.113.77"})
    assert (str(lab.address("x")), str(lab.address("y"))) == ("203.0.113.1", "203.0.113.77")
    assert lab.ping("x", "203.0.113.77")
    with pytest.raises(KeyError, match="no node 'z'"):
        lab.netns("z")


def test_teardown_removes_everything_even_when_the_test_fails() -> None:
    if netns_unavailable():
        pytest.skip(str(netns_unavailable()))
    extra = f"ocl-extra-{id(object()):x}"[:24]
    with pytest.raises(RuntimeError, match="test body failed"), Lab(["n1", "n2"], extra=[extra]) as lab:
        # what overlayc creates for endpoints (<cluster>-<task>, cluster = lab.tag) and extras
        lab.exec("n1", "ip", "netns", "add", f"{lab.tag}-web.1")
        lab.exec("n1", "ip", "netns", "add", extra)
        made = lab.owned()
        raise RuntimeError("test body failed")
    assert {lab.netns("n1"), lab.netns("n2"), lab.underlay, f"{lab.tag}-web.1", extra} <= set(made)
    assert lab.owned() == []
    assert not [ns for ns in list_netns() if ns.startswith(lab.tag) or ns in (lab.underlay, extra)]


def test_failed_build_cleans_up() -> None:
    if netns_unavailable():
        pytest.skip(str(netns_unavailable()))
    lab = Lab(["a", "bad/name"])  # `ip netns add` refuses the second node's name mid-build
    with pytest.raises(LabError, match="netns"), lab:
        pytest.fail("the lab should not have been entered")
    assert lab.owned() == []
    assert lab.underlay not in list_netns() and lab.netns("a") not in list_netns()
