"""Per-network kernel objects of one node: sandbox, bridge, vxlan, gateway, remote fdb/neigh, local
endpoints (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Interface, IPv6Interface

from overlayc.compile.assign import Assignment, Attachment
from overlayc.compile.columns import remote_columns
from overlayc.compile.naming import (
    bridge_name,
    container_ifname,
    gateway_names,
    host_ifname,
    netns_name,
    sandbox_name,
    vxlan_name,
)
from overlayc.config.model import Config
from overlayc.config.mtu import inner_mtu
from overlayc.kernel.entries import Entries
from overlayc.kernel.objects import (
    Bridge,
    Endpoint,
    Gateway,
    IPNetwork,
    KernelObject,
    Netns,
    Sandbox,
    Vxlan,
    device_mac,
)
from overlayc.kernel.ownership import endpoint_alias, network_alias


def network_mtu(config: Config, network: str) -> int:
    """Inner MTU of `network`: explicit `mtu`, else underlay MTU minus overhead (DESIGN.md §5)."""
    net = config.networks[network]
    if net.mtu is not None:
        return net.mtu
    return inner_mtu(net.underlay_mtu or config.cluster.underlay_mtu, net.is_encrypted, config.ipv6_underlay)


def data_port(config: Config, network: str) -> int:
    """VXLAN UDP port: the encrypted data port for encrypted networks, else the data port."""
    encrypted = config.networks[network].is_encrypted
    return config.cluster.encrypted_data_port if encrypted else config.cluster.data_port


def has_ipv6(config: Config, network: str) -> bool:
    """Whether `network` has an IPv6 subnet: IPv6 is on in its sandbox and on its endpoints'
    interfaces only then (docs/ipv6.md)."""
    return config.networks[network].ipv6_subnet is not None


def compile_devices(config: Config, assignment: Assignment, node: str, network: str,
                    owner: str) -> list[KernelObject]:
    """The sandbox of `network` on the node whose namespace is `owner`, and in it the network's
    bridge (L2 only) and vxlan device; with `gateway:`, the node's veth into the bridge. MACs
    derive from the cluster and network names (the same on every node, like the gateway address)."""
    net = config.networks[network]
    vni = assignment.vnis[network]
    mtu = network_mtu(config, network)
    cluster = config.cluster.name
    alias = network_alias(cluster, network)
    sandbox = Sandbox(name=sandbox_name(cluster, network, owner), forwarding=False,
                      ipv6=has_ipv6(config, network))
    bridge = Bridge(name=bridge_name(vni), mac=device_mac(cluster, network, "bridge"), mtu=mtu, alias=alias,
                    sandbox=sandbox.name)
    vxlan = Vxlan(
        name=vxlan_name(vni), mac=device_mac(cluster, network, "vxlan"), vni=vni,
        local=config.nodes[node].address, port=data_port(config, network), mtu=mtu, master=bridge.name,
        alias=alias, learning=False, proxy=True, sandbox=sandbox.name,
    )
    out: list[KernelObject] = [sandbox, bridge, vxlan]
    if net.gateway is not None:
        name, peer = gateway_names(vni)
        out.append(Gateway(
            name=name, mac=device_mac(cluster, network, "gateway"), peer=peer,
            peer_mac=device_mac(cluster, network, "gateway-peer"), sandbox=sandbox.name,
            bridge=bridge.name, address=IPv4Interface((net.gateway, _prefix(net.ipv4_subnet))),
            # `gateway:` is IPv4 only: the node's side keeps IPv6 off even on a dual-stack network,
            # so no link-local address of the node appears on the overlay
            mtu=mtu, alias=alias, ipv6=False,
        ))
    return out


def node_vteps(config: Config) -> dict[str, bytes]:
    """Each node's underlay address, packed: the `dst` of the fdb entries towards it."""
    return {name: spec.address.packed for name, spec in config.nodes.items()}


def compile_remote(config: Config, assignment: Assignment, node: str, network: str, into: Entries,
                   vteps: Mapping[str, bytes] | None = None) -> None:
    """The fdb and neigh entries on the vxlan of `network` for every endpoint of it on another
    node, written into `into` as compact keys (overlayc.kernel.entries). Two endpoints with one
    address and different MACs: ValueError (`Entries.add_neigh`). `vteps`: `node_vteps(config)`,
    when the caller compiles several networks (it is one entry per node of the cluster).

    A column at a time (`overlayc.compile.columns`): every per-attachment step is a C-level map
    (a node of 1,000 compiles ~30k remote endpoints; the 50k-endpoint node's columns come packed
    from the assignment cache)."""
    others = remote_columns(assignment.attachments.get(network, ()), node)
    if not others.nodes:
        return
    dev = vxlan_name(assignment.vnis[network])
    if vteps is None:
        vteps = node_vteps(config)
    keys = list(map(bytes.__add__, others.macs, map(vteps.__getitem__, others.nodes)))
    into.fdb.setdefault(dev, set()).update(keys)
    into.fdb_order.setdefault(dev, []).extend(keys)  # nearly in key order: attachments by address
    for dsts, owners in (others.v4, others.v6):
        if not dsts:
            continue
        added = dict(zip(dsts, owners, strict=True))
        if len(added) == len(dsts):  # the common case: every address once
            neigh = into.neigh.get(dev)
            if neigh is None:  # the device's first neighbours: this dict is its table
                into.neigh[dev] = added
                continue
            if neigh.keys().isdisjoint(added):
                neigh.update(added)
                continue
        for dst, mac in zip(dsts, owners, strict=True):  # an address twice: one MAC is one entry, two raise
            into.add_neigh(dev, dst, mac)


def compile_endpoints(
    config: Config, assignment: Assignment, local: Sequence[Attachment], present: set[str], owner: str
) -> list[KernelObject]:
    """Netns and Endpoint objects of the managed endpoints among `local` (this node's attachments).

    `eth<i>` numbers follow the endpoint's sorted list of configured networks, so an attachment
    left out (exhausted subnet) does not renumber the others."""
    cluster = config.cluster.name
    out: list[KernelObject] = []
    for a in local:
        if not a.managed or a.network not in present:
            continue
        ns = netns_name(cluster, a.endpoint)
        out.append(Netns(name=ns))
        bridge = bridge_name(assignment.vnis[a.network])
        net = config.networks[a.network]
        index = _networks_of(config, a.endpoint).index(a.network)
        out.append(Endpoint(
            netns=ns, ifname=container_ifname(index), host=host_ifname(ns, a.network),
            host_mac=device_mac(cluster, ns, a.network, "host"), bridge=bridge,
            address=None if a.ip is None else IPv4Interface((a.ip, _prefix(net.ipv4_subnet))),
            mac=a.mac, mtu=network_mtu(config, a.network), alias=endpoint_alias(cluster, a.network, ns),
            sandbox=sandbox_name(cluster, a.network, owner), ipv6=has_ipv6(config, a.network),
            address6=None if a.ip6 is None else IPv6Interface((a.ip6, _prefix(net.ipv6_subnet))),
        ))
    return out


def _prefix(subnet: IPNetwork | None) -> int:
    """The prefix length of a subnet the attachment's address was assigned from (so not None)."""
    if subnet is None:
        raise ValueError("an address without a subnet of its family")
    return subnet.prefixlen


def _networks_of(config: Config, endpoint: str) -> list[str]:
    """Sorted networks an endpoint or task is configured on."""
    if endpoint in config.endpoints:
        return sorted(config.endpoints[endpoint].attachments())
    return sorted(config.services[endpoint.rsplit(".", 1)[0]].attachments())
