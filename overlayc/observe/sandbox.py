"""observe, inside the sandboxes: the namespace of each network on a node (DESIGN.md §1).

What is read in a sandbox, and how (`observe_sandboxes` in overlayc.observe.kernel reads them).
A sandbox is `/run/netns/<cluster>-sb.<network>.<owner>` (`kernel.ownership.sandbox_name`,
read back by `parse_sandbox_name`), its `lo` tagged `netns_tag(cluster, owner)` from before it
had a name, `owner` being the identity of the node's namespace (`namespace_id`). Only names
ending in the node's own identity are opened: the sandboxes of other nodes sharing /run/netns
are neither ours nor in the way of ours. Each sandbox is read through one `Namespace` handle:
one link dump, one address dump, the FDB and neighbour dumps, and its sysctls from the
handle's worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Interface

from overlayc.kernel.entries import Entries
from overlayc.kernel.objects import Gateway, KernelObject, Sandbox
from overlayc.kernel.ownership import NETNS_NETWORK, Alias, Key, parse_alias, parse_sandbox_name
from overlayc.netlink.link import LinkInfo
from overlayc.netlink.netns import Namespace
from overlayc.observe.sysctl import read_sysctls

FORWARDING = "net.ipv4.ip_forward"
IPV6_OFF = ("net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6")


def tag_problem(lo: LinkInfo | None, cluster: str | None, owner: str) -> str | None:
    """None when the `lo` of a namespace carries overlayc's tag for the node of namespace
    `owner` (and of `cluster`, unless None), else why the namespace is not ours."""
    tag = parse_alias(lo.alias) if lo is not None else None
    if tag is None or tag.network != NETNS_NETWORK:
        return "network namespace, not overlayc's"
    if tag.netns != owner:
        return "network namespace, overlayc's but of another node's namespace"
    if cluster is not None and tag.cluster != cluster:
        return f"network namespace, overlayc's but of cluster {tag.cluster!r}"
    return None


@dataclass
class Sandboxes:
    """What observe found in the sandboxes: owned objects, foreign ones that are in the way
    (by key), the links of each owned sandbox (for the node sides of gateways), and the
    clusters whose sandboxes of this node were seen (their `lo` tags), whatever cluster was
    observed: their XFRM marks are known (overlayc.observe.xfrm.scope_for)."""

    clusters: set[str] = field(default_factory=set)
    objects: list[KernelObject] = field(default_factory=list)
    foreign: dict[Key, str] = field(default_factory=dict)
    foreign_links: dict[str, str] = field(default_factory=dict)
    links: dict[str, dict[int, LinkInfo]] = field(default_factory=dict)
    entries: Entries = field(default_factory=Entries)  # the fdb/neigh entries of their vxlans


def read_sandbox(ns: Namespace, name: str) -> Sandbox:
    """The Sandbox object of namespace `ns` from its sysctls (IPv6 absent from the kernel: off)."""
    values = read_sysctls(ns, (FORWARDING, *IPV6_OFF))
    ipv6 = any(values[k] not in (None, "1") for k in IPV6_OFF)
    return Sandbox(name=name, forwarding=values[FORWARDING] == "1", ipv6=ipv6)


def read_gateway(info: LinkInfo, tag: Alias, found: Sandboxes,
                 addrs: list[IPv4Interface]) -> tuple[Gateway | None, str]:
    """(Gateway, "") for the node side `info` of a gateway veth: its peer is the veth of that
    ifindex and tag in a sandbox of the node for the tag's network; (None, why) when the
    sandbox, the peer or the node side's address is gone."""
    for sandbox, inside in sorted(found.links.items()):
        parsed = parse_sandbox_name(sandbox)
        peer = inside.get(info.peer)
        if parsed is None or parsed[1] != tag.network or peer is None or peer.alias != info.alias:
            continue
        mine = sorted(addrs)
        if not mine:
            break
        bridge = inside[peer.master].name if peer.master in inside else ""
        return Gateway(name=info.name, mac=info.mac, peer=peer.name, peer_mac=peer.mac, sandbox=sandbox,
                       bridge=bridge, address=mine[0], mtu=info.mtu, alias=info.alias, ipv6=info.ipv6), ""
    return None, f"gateway veth tagged as overlayc's ({tag.network}), but its peer or address is gone"
