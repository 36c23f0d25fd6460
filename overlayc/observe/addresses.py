"""Which configured node this machine (or network namespace) is: by the addresses it holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address

from overlayc.errors import InputError
from overlayc.netlink.netns import Namespace, NamespaceRef, opened
from overlayc.observe.kernel import read_links


def local_addresses(ns: Namespace) -> set[IPv4Address]:
    """Every IPv4 address on an interface of namespace `ns`."""
    _, addrs = read_links(ns.route)
    return {iface.ip for ifaces in addrs.values() for iface in ifaces}


def choose_node(nodes: Mapping[str, IPv4Address], node: str | None, netns: NamespaceRef) -> str:
    """`node` when given, else the one configured node whose address is on an interface of
    `netns` (a handle, or a name: None is the current namespace); InputError listing the
    candidates when none or several."""
    if node is not None:
        return node
    with opened(netns) as ns:
        return node_by_address(nodes, local_addresses(ns), ns.name)


def underlay_device(ns: Namespace, address: IPv4Address) -> str | None:
    """The interface of namespace `ns` that holds `address` (the node's underlay), if any."""
    links, addrs = read_links(ns.route)
    for index, ifaces in addrs.items():
        if any(i.ip == address for i in ifaces) and index in links:
            return links[index].name
    return None


def node_by_address(nodes: Mapping[str, IPv4Address], local: Iterable[IPv4Address],
                    netns: str | None = None) -> str:
    """The one node whose address is local; InputError listing the candidates when none or several."""
    mine = set(local)
    found = sorted(name for name, address in nodes.items() if address in mine)
    if len(found) == 1:
        return found[0]
    where = f"network namespace {netns}" if netns else "this machine"
    listed = ", ".join(f"{n} ({nodes[n]})" for n in (found or sorted(nodes))) or "none configured"
    if found:
        raise InputError(f"several nodes have an address on {where}: {listed}; choose one with --node")
    raise InputError(f"no node's address is on an interface of {where} (nodes: {listed}); "
                     "choose one with --node")
