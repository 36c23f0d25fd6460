"""The MACs overlayc gives its links (bridge, vxlan, veth host side), against the real kernel: set
at creation, kept while ports come and go, changed in place, read back by observe and iproute2."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from overlayc.apply.kernel import KernelHandle
from overlayc.diff import Action, Change, Reason
from overlayc.kernel.objects import Endpoint, KernelObject, Netns
from overlayc.kernel.state import KernelState
from overlayc.observe.kernel import observe
from tests.support.kernel import (
    ALIAS,
    BRIDGE_MAC,
    HOST_MAC,
    VXLAN_MAC,
    bridge,
    create,
    delete,
    iface,
    link,
    sh,
    vxlan,
)

pytestmark = pytest.mark.kernel

LOW_MAC = "02:00:00:00:00:01"  # smaller than every 0e:… MAC: a bridge following its ports takes it


def endpoint(ns: str, host_mac: str = HOST_MAC) -> Endpoint:
    return Endpoint(ns, "eth0", "ovh1", host_mac, "ovb1", iface("10.1.0.5/24"), "02:42:0a:01:00:05", 1450,
                    f"{ALIAS}:{ns}")


def execute(ns: str, changes: list[Change]) -> None:
    with KernelHandle(ns) as h:
        h.execute(changes)


def update(before: KernelObject, after: KernelObject, *fields: str) -> Change:
    return Change(Action.UPDATE, after.key, before, after, Reason.DRIFT, fields)


def test_links_are_created_with_their_macs(netns: str, endpoint_netns: Callable[[], str]) -> None:
    ep_ns = endpoint_netns()
    objs: list[KernelObject] = [bridge(), vxlan(), Netns(ep_ns), endpoint(ep_ns)]
    execute(netns, [create(o) for o in objs])
    assert [link(netns, n)["address"] for n in ("ovb1", "ovx1", "ovh1")] == [BRIDGE_MAC, VXLAN_MAC, HOST_MAC]
    assert observe(netns).owned == KernelState(objs)


def test_a_bridge_given_a_mac_keeps_it_while_ports_come_and_go(
    netns: str, endpoint_netns: Callable[[], str]
) -> None:
    # the quirk this guards against: a bridge made without an address takes its smallest port MAC
    sh(netns, "ip link add fbr type bridge")
    sh(netns, f"ip link add fp1 address {LOW_MAC} type veth peer name fp2")
    sh(netns, "ip link set fp1 master fbr")
    assert link(netns, "fbr")["address"] == LOW_MAC
    ep_ns = endpoint_netns()
    low = endpoint(ep_ns, host_mac=LOW_MAC)
    execute(netns, [create(bridge()), create(Netns(ep_ns)), create(low)])
    assert (link(netns, "ovb1")["address"], link(netns, "ovh1")["master"]) == (BRIDGE_MAC, "ovb1")
    execute(netns, [delete(low), create(low)])
    assert link(netns, "ovb1")["address"] == BRIDGE_MAC
    assert observe(netns).owned == KernelState([bridge(), Netns(ep_ns), low])


def test_macs_change_in_place_on_up_devices(netns: str, endpoint_netns: Callable[[], str]) -> None:
    ep_ns = endpoint_netns()
    objs: list[KernelObject] = [bridge(), vxlan(), Netns(ep_ns), endpoint(ep_ns)]
    execute(netns, [create(o) for o in objs])
    index = {n: link(netns, n)["ifindex"] for n in ("ovb1", "ovx1", "ovh1")}
    new_br, new_vx = bridge(mac="0e:00:00:00:0b:02"), vxlan(mac="0e:00:00:00:0a:02")
    new_ep = replace(endpoint(ep_ns), host_mac="0e:00:00:00:0e:02")
    execute(netns, [update(objs[0], new_br, "mac"), update(objs[1], new_vx, "mac"),
                    update(objs[3], new_ep, "host_mac")])
    got = {n: link(netns, n) for n in ("ovb1", "ovx1", "ovh1")}
    assert {n: (x["ifindex"], x["address"], "UP" in x["flags"]) for n, x in got.items()} == {
        "ovb1": (index["ovb1"], new_br.mac, True), "ovx1": (index["ovx1"], new_vx.mac, True),
        "ovh1": (index["ovh1"], new_ep.host_mac, True)}
    assert observe(netns).owned == KernelState([new_br, new_vx, Netns(ep_ns), new_ep])
