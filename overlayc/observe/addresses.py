"""Which configured node this machine (or network namespace) is: by the addresses it holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from overlayc.errors import InputError
from overlayc.kernel.objects import IPAddress
from overlayc.netlink import link as nl_link
from overlayc.netlink.netns import Namespace, NamespaceRef, opened
from overlayc.observe.kernel import read_links


def _addresses(ns: Namespace) -> dict[int, list[IPAddress]]:
    """Every IPv4 and IPv6 address of namespace `ns`, by ifindex (one AF_UNSPEC dump)."""
    out: dict[int, list[IPAddress]] = {}
    body = nl_link.IFADDRMSG.pack(nl_link.AF_UNSPEC, 0, 0, 0, 0)
    for msg in ns.route.dump(nl_link.RTM_GETADDR, body):
        got = nl_link.decode_any_addr(msg.body) if msg.type == nl_link.RTM_NEWADDR else None
        if got is not None:
            out.setdefault(got[0], []).append(got[1].ip)
    return out


def local_addresses(ns: Namespace) -> set[IPAddress]:
    """Every IPv4 and IPv6 address on an interface of namespace `ns`."""
    return {ip for ips in _addresses(ns).values() for ip in ips}


def choose_node(nodes: Mapping[str, IPAddress], node: str | None, netns: NamespaceRef) -> str:
    """`node` when given, else the one configured node whose address is on an interface of
    `netns` (a handle, or a name: None is the current namespace); InputError listing the
    candidates when none or several."""
    if node is not None:
        return node
    with opened(netns) as ns:
        return node_by_address(nodes, local_addresses(ns), ns.name)


def underlay_device(ns: Namespace, address: IPAddress) -> str | None:
    """The interface of namespace `ns` that holds `address` (the node's underlay, IPv4 or
    IPv6), if any."""
    links, _ = read_links(ns.route)
    for index, ips in _addresses(ns).items():
        if address in ips and index in links:
            return links[index].name
    return None


def node_by_address(nodes: Mapping[str, IPAddress], local: Iterable[IPAddress],
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
