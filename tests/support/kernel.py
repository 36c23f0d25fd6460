"""Helpers of the kernel tests of observe/execute: iproute2 read-backs and object factories."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from overlayc.diff import Action, Change, Reason
from overlayc.kernel.objects import Bridge, Fdb, KernelObject, Neigh, Vxlan
from tests.support.host import ip_json, run_in

ALIAS = "overlayc:oct:n1"
BRIDGE_MAC, VXLAN_MAC, HOST_MAC = "0e:00:00:00:0b:01", "0e:00:00:00:0a:01", "0e:00:00:00:0e:01"


def sh(ns: str, line: str) -> None:
    """One iproute2 command line inside `ns` (must succeed)."""
    run_in(ns, *line.split())


def link(ns: str, name: str) -> dict[str, Any]:
    got: list[dict[str, Any]] = ip_json(ns, "-d", "link", "show", "dev", name)
    return got[0]


def create(obj: KernelObject) -> Change:
    return Change(Action.CREATE, obj.key, None, obj, Reason.NOT_IN_KERNEL)


def delete(obj: KernelObject) -> Change:
    return Change(Action.DELETE, obj.key, obj, None, Reason.NOT_IN_CONFIG)


def bridge(name: str = "ovb1", **kw: Any) -> Bridge:
    return Bridge(**{"name": name, "mac": BRIDGE_MAC, "mtu": 1450, "alias": ALIAS, **kw})


def vxlan(name: str = "ovx1", **kw: Any) -> Vxlan:
    base: dict[str, Any] = dict(name=name, mac=VXLAN_MAC, vni=4096, local=IPv4Address("10.0.0.1"), port=4790,
                                mtu=1450, master="ovb1", alias=ALIAS)
    return Vxlan(**{**base, **kw})


def iface(text: str) -> IPv4Interface:
    return IPv4Interface(text)


def foreign_snapshot(ns: str, dev: str) -> tuple[str, ...]:
    """The iproute2 views of everything foreign in `ns` that overlayc must leave byte-identical."""
    return (
        run_in(ns, "ip", "-d", "-j", "link", "show", "dev", dev).stdout,
        run_in(ns, "bridge", "-j", "fdb", "show", "dev", dev).stdout,
        run_in(ns, "ip", "-j", "neigh", "show", "dev", dev).stdout,
        run_in(ns, "ip", "xfrm", "policy", "list", "priority", "100").stdout,
    )


def entries(n: int, dev: str = "ovx1") -> list[KernelObject]:
    """`n` fdb and `n` neighbour entries on `dev`, each pair one remote endpoint's (its MAC)."""
    out: list[KernelObject] = []
    for i in range(n):
        mac = f"02:42:0a:01:{i >> 8:02x}:{i & 0xFF:02x}"
        out.append(Fdb(dev, mac, IPv4Address(f"10.0.{1 + (i >> 8)}.{i & 0xFF}")))
        out.append(Neigh(dev, IPv4Address(f"10.1.{i >> 8}.{i & 0xFF}"), mac))
    return out
