"""Small builders of kernel objects for diff/plan tests (node address LOCAL, peers PEERS)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from overlayc.kernel.objects import (
    Bridge,
    Endpoint,
    Fdb,
    Neigh,
    Netns,
    Vxlan,
    XfrmPolicy,
    XfrmState,
    XfrmTemplate,
    device_mac,
)
from overlayc.kernel.ownership import PRIO_BLOCK, PRIO_PEER

LOCAL = IPv4Address("10.0.0.1")
PEERS = (IPv4Address("10.0.0.2"), IPv4Address("10.0.0.3"))
ESP_PORT = 4800
ALIAS = "overlayc:test:"


def bridge(net: str, mtu: int = 1450) -> Bridge:
    return Bridge(f"ov-{net}", device_mac("test", net, "bridge"), mtu, ALIAS + net)


def vxlan(net: str, vni: int = 4096, port: int = 4789, mtu: int = 1450, master: str | None = None) -> Vxlan:
    return Vxlan(f"vx-{net}", device_mac("test", net, "vxlan"), vni, LOCAL, port, mtu, master or f"ov-{net}",
                 ALIAS + net)


def fdb(net: str, mac: str, dst: IPv4Address) -> Fdb:
    return Fdb(f"vx-{net}", mac, dst)


def neigh(net: str, addr: str, mac: str) -> Neigh:
    return Neigh(f"vx-{net}", IPv4Address(addr), mac)


def netns(name: str) -> Netns:
    return Netns(name)


def endpoint(ns: str, net: str, addr: str, mac: str, host: str | None = None, mtu: int = 1450) -> Endpoint:
    return Endpoint(ns, "eth0", host or f"ve-{ns}", device_mac("test", ns, net, "host"), f"ov-{net}",
                    IPv4Interface(addr), mac, mtu, ALIAS + net)


def sa(src: IPv4Address, dst: IPv4Address, spi: int, key_fp: str | None = "sha256:000000000001") -> XfrmState:
    return XfrmState(src, dst, spi, key_fp)


def _net(addr: IPv4Address) -> IPv4Network:
    return IPv4Network(f"{addr}/32")


def peer_policy(direction: str, peer: IPv4Address, priority: int = PRIO_PEER) -> XfrmPolicy:
    src, dst = (LOCAL, peer) if direction == "out" else (peer, LOCAL)
    return XfrmPolicy(
        "out" if direction == "out" else "in", _net(src), _net(dst), ESP_PORT, priority, "allow",
        XfrmTemplate(src, dst),
    )


def block_policy(direction: str) -> XfrmPolicy:
    any_net = IPv4Network("0.0.0.0/0")
    return XfrmPolicy("out" if direction == "out" else "in", any_net, any_net, ESP_PORT, PRIO_BLOCK, "block")
