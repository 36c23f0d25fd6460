"""Semantic checks of a parsed Config, before anything touches a kernel (pure).

Each `check_*` function takes the Config and the SourceMap and returns diagnostics; none raises and
none mutates. `validate_config` runs them all. Placement-related checks (constraints, keys) live in
`overlayc.config.validate_placement`.
"""

from __future__ import annotations

from collections.abc import Callable

from overlayc.config.explain import attachment_path, did_you_mean, error
from overlayc.config.model import Config, Network
from overlayc.config.mtu import inner_mtu
from overlayc.config.sourcemap import SourceMap, YamlPath
from overlayc.config.validate_family import FAMILY_CHECKS
from overlayc.config.validate_placement import PLACEMENT_CHECKS
from overlayc.config.validate_subnets import SUBNET_CHECKS, subnet_paths
from overlayc.errors import Diagnostic
from overlayc.kernel.objects import IPAddress, IPNetwork

VNI_MAX = 16_777_215
Check = Callable[[Config, SourceMap], list[Diagnostic]]


def check_ports(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """Plain and encrypted networks need different VXLAN ports (the XFRM policies key on it)."""
    c = config.cluster
    if c.data_port != c.encrypted_data_port:
        return []
    return [error("port-conflict", f"cluster: data_port and encrypted_data_port are both {c.data_port}",
                  smap.locate(("cluster", "encrypted_data_port")),
                  "encrypted networks need their own port so that plaintext on it can be blocked")]


def check_name_conflicts(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """A service and a standalone endpoint may not share a name (both name endpoints/netns)."""
    return [error("duplicate-name", f"endpoint '{n}' has the same name as service '{n}'",
                  smap.locate_key(("endpoints", n)),
                  related=(("the service is defined here", smap.locate_key(("services", n))),))
            for n in config.endpoints if n in config.services]


def check_node_addresses(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """Every node has its own underlay address."""
    seen: dict[IPAddress, str] = {}
    out = []
    for name, node in config.nodes.items():
        if node.address in seen:
            first = seen[node.address]
            out.append(error("duplicate-address",
                             f"node '{name}' has the same address {node.address} as node '{first}'",
                             smap.locate(("nodes", name, "address")),
                             related=(("the other node", smap.locate(("nodes", first, "address"))),)))
        else:
            seen[node.address] = name
    return out


def check_subnets(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """Network subnets do not overlap each other (those of one family; IPv4 and IPv6 never do).

    A sweep over the subnets sorted by family and first address: an earlier subnet overlaps the
    current one exactly when it is of its family and ends at or after its start, and once it
    ends before a start it ends before every later one. Linear (after the sort) unless the
    subnets do overlap."""
    entries = [(s.version, int(s.network_address), name, s, path)
               for name, net in config.networks.items() for s, path in subnet_paths(name, net)]
    out = []
    open_: list[tuple[int, int, str, IPNetwork, YamlPath]] = []  # (family, last address, ...)
    for version, start, name, subnet, path in sorted(entries, key=lambda e: e[:3]):
        open_ = [o for o in open_ if o[0] == version and o[1] >= start]
        for _, _, other, osub, opath in open_:
            if other == name:
                continue  # two subnets of one family in one network: check_network_subnets
            out.append(error("subnet-overlap",
                             f"subnet {subnet} of network '{name}' overlaps {osub} of "
                             f"network '{other}'", smap.locate(path),
                             related=(("the other subnet", smap.locate(opath)),)))
        open_.append((version, int(subnet.broadcast_address), name, subnet, path))
    return out


def _vni_path(name: str, net: Network) -> YamlPath:
    if net.vni is not None:
        return ("networks", name, "vni")
    return ("networks", name, "driver_opts", "com.docker.network.driver.overlay.vxlanid_list")


def check_vnis(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """Fixed VNIs are in 1..16777215, unique, and `vni` agrees with Docker's vxlanid_list."""
    out = []
    seen: dict[int, str] = {}
    for name, net in config.networks.items():
        docker = net.driver_opts.vxlanid_list if net.driver_opts else None
        if net.vni is not None and docker is not None and docker != net.vni:
            out.append(error("vni-conflict",
                             f"network '{name}': vni {net.vni} and vxlanid_list {docker} disagree",
                             smap.locate(_vni_path(name, net)), "set the VNI in one place only"))
        vni = net.fixed_vni
        if vni is None:
            continue
        if not 1 <= vni <= VNI_MAX:
            out.append(error("vni-range", f"network '{name}': VNI {vni} is outside 1..{VNI_MAX}",
                             smap.locate(_vni_path(name, net))))
        elif vni in seen:
            out.append(error("duplicate-vni", f"network '{name}' uses VNI {vni}, like network '{seen[vni]}'",
                             smap.locate(_vni_path(name, net)),
                             related=(("the other network", smap.locate(_vni_path(seen[vni],
                                                                                   config.networks[seen[vni]]))),)))
        else:
            seen[vni] = name
    return out


def check_encryption_flags(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """`encrypted:` and Docker's `driver_opts: {encrypted: ...}` do not contradict each other."""
    out = []
    for name, net in config.networks.items():
        opt = net.driver_opts.encrypted if net.driver_opts else None
        written = ("networks", name, "encrypted") in smap.keys
        if opt is not None and written and opt != net.encrypted:
            out.append(error("encrypted-conflict",
                             f"network '{name}': encrypted is {str(net.encrypted).lower()} but driver_opts "
                             f"encrypted is {str(opt).lower()}", smap.locate(("networks", name, "encrypted")),
                             "set encryption in one place only"))
    return out


def _special(net: Network, subnet: IPNetwork) -> dict[IPAddress, str]:
    """The addresses of `subnet` no endpoint may have: its network address (IPv6: the
    Subnet-Router anycast address, RFC 4291), the IPv4 broadcast address and the gateway."""
    special: dict[IPAddress, str] = {subnet.network_address: "network address"}
    if subnet.version == 4:
        special[subnet.broadcast_address] = "broadcast address"
    if net.gateway is not None:
        special[net.gateway] = "gateway"
    return special


def check_gateways(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """A gateway is a usable host address of its subnet (a network without an IPv4 subnet:
    validate_subnets.check_gateway_family)."""
    out = []
    for name, net in config.networks.items():
        gw, subnet = net.gateway, net.ipv4_subnet
        if gw is None or subnet is None:
            continue
        at = smap.locate(("networks", name, "gateway"))
        if gw not in subnet:
            out.append(error("address-outside-subnet",
                             f"network '{name}': gateway {gw} is not inside {subnet}", at))
        elif subnet.prefixlen < 31 and gw in (subnet.network_address, subnet.broadcast_address):
            out.append(error("reserved-address", f"network '{name}': gateway {gw} is the subnet's "
                             "network or broadcast address", at))
    return out


def _fixed_addresses(config: Config, smap: SourceMap) -> list[tuple[str, IPAddress, YamlPath, str]]:
    """(network, address, yaml path, owner description) of every fixed address, either family."""
    out: list[tuple[str, IPAddress, YamlPath, str]] = []
    for sname, svc in config.services.items():
        names = list(svc.attachments())
        for net, att in svc.attachments().items():
            base = attachment_path("services", sname, net, names, smap)
            fixed: list[tuple[str, list[IPAddress]]] = [("ipv4_addresses", [*att.ipv4_addresses]),
                                                        ("ipv6_addresses", [*att.ipv6_addresses])]
            for key, ips in fixed:
                out.extend((net, ip, (*base, key, i), f"service '{sname}'") for i, ip in enumerate(ips))
    for ename, ep in config.endpoints.items():
        names = list(ep.attachments())
        for net, eatt in ep.attachments().items():
            base = attachment_path("endpoints", ename, net, names, smap)
            for key, one in (("ipv4_address", eatt.ipv4_address), ("ipv6_address", eatt.ipv6_address)):
                if one is not None:
                    out.append((net, one, (*base, key), f"endpoint '{ename}'"))
    return out


def check_addresses(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """Fixed task/endpoint addresses lie inside their network's subnet of their family, are
    unique, and are not reserved."""
    out = []
    seen: dict[tuple[str, IPAddress], YamlPath] = {}
    for net_name, ip, path, owner in _fixed_addresses(config, smap):
        net = config.networks.get(net_name)
        if net is None:
            continue  # an unknown network is reported by check_references
        at = smap.locate(path)
        subnet = net.ipv4_subnet if ip.version == 4 else net.ipv6_subnet
        if subnet is None:
            if net.all_subnets:  # no subnet at all: check_network_subnets
                out.append(error("address-family", f"{owner}: address {ip} is IPv{ip.version} but network "
                                 f"'{net_name}' has no IPv{ip.version} subnet", at))
        elif ip not in subnet:
            out.append(error("address-outside-subnet",
                             f"{owner}: address {ip} is not inside {subnet} of network '{net_name}'", at))
        elif ip in (special := _special(net, subnet)):
            out.append(error("reserved-address",
                             f"{owner}: address {ip} is the {special[ip]} of network '{net_name}'", at))
        elif (net_name, ip) in seen:
            first = smap.locate(seen[net_name, ip])
            out.append(error("duplicate-address",
                             f"{owner}: address {ip} on network '{net_name}' is already used", at,
                             related=(("first used here", first),)))
        else:
            seen[net_name, ip] = path
    return out


def check_macs(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """Explicit endpoint MAC addresses are unique."""
    out = []
    seen: dict[str, YamlPath] = {}
    for ename, ep in config.endpoints.items():
        names = list(ep.attachments())
        for net, att in ep.attachments().items():
            if att.mac_address is None:
                continue
            path = (*attachment_path("endpoints", ename, net, names, smap), "mac_address")
            if att.mac_address in seen:
                first = smap.locate(seen[att.mac_address])
                out.append(error("duplicate-mac",
                                 f"endpoint '{ename}': MAC {att.mac_address} is already used",
                                 smap.locate(path),
                                 related=(("first used here", first),)))
            else:
                seen[att.mac_address] = path
    return out


def check_references(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """Services and endpoints name existing networks; endpoints name an existing node."""
    out = []
    networks = list(config.networks)
    owners = [("services", n, list(s.attachments())) for n, s in config.services.items()]
    owners += [("endpoints", n, list(e.attachments())) for n, e in config.endpoints.items()]
    for kind, owner, names in owners:
        for net in names:
            if net not in config.networks:
                out.append(error("unknown-network", f"{kind[:-1]} '{owner}': no network named '{net}'",
                                 smap.locate(attachment_path(kind, owner, net, names, smap)),
                                 did_you_mean(net, networks)))
    for ename, ep in config.endpoints.items():
        if ep.node not in config.nodes:
            out.append(error("unknown-node", f"endpoint '{ename}': no node named '{ep.node}'",
                             smap.locate(("endpoints", ename, "node")),
                             did_you_mean(ep.node, list(config.nodes))))
    return out


def check_attachable(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """Standalone endpoints only join attachable networks (Docker: "not manually attachable")."""
    out = []
    for ename, ep in config.endpoints.items():
        names = list(ep.attachments())
        for net in names:
            network = config.networks.get(net)
            if network is not None and not network.attachable:
                out.append(error("not-attachable",
                                 f"endpoint '{ename}': network {net} not manually attachable: only services "
                                 "can use it; set attachable: true",
                                 smap.locate(attachment_path("endpoints", ename, net, names, smap)),
                                 related=(("network defined here", smap.locate_key(("networks", net))),)))
    return out


def check_replicas(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """`replicas` only with replicated mode; no more fixed addresses than replicas."""
    out = []
    for sname, svc in config.services.items():
        if svc.mode == "global":
            if svc.replicas is not None:
                out.append(error("replicas-with-global", f"service '{sname}': replicas cannot be set with "
                                 "mode: global (one task runs on every eligible node)",
                                 smap.locate(("services", sname, "replicas"))))
            continue
        replicas = 1 if svc.replicas is None else svc.replicas
        names = list(svc.attachments())
        for net, att in svc.attachments().items():
            for key, count in (("ipv4_addresses", len(att.ipv4_addresses)),
                               ("ipv6_addresses", len(att.ipv6_addresses))):
                if count > replicas:
                    out.append(error("too-many-addresses",
                                     f"service '{sname}': {count} fixed addresses on network "
                                     f"'{net}' but only {replicas} replica(s)",
                                     smap.locate((*attachment_path("services", sname, net, names, smap),
                                                  key))))
    return out


def check_mtu(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """An explicit inner MTU fits the underlay MTU minus VXLAN (and ESP) overhead (DESIGN §5)."""
    out: list[Diagnostic] = []
    ipv6_underlay = config.ipv6_underlay  # a scan of every node: once, not once per network
    for name, net in config.networks.items():
        underlay = net.underlay_mtu or config.cluster.underlay_mtu
        limit = inner_mtu(underlay, net.is_encrypted, ipv6_underlay)
        if net.mtu is not None and net.mtu > limit:
            kind = ("an encrypted network" if net.is_encrypted else "a network") + (
                " over IPv6" if ipv6_underlay else "")
            out.append(error("mtu-too-large",
                             f"network '{name}': mtu {net.mtu} does not fit: the largest inner MTU of "
                             f"{kind} over an underlay MTU of {underlay} is {limit}",
                             smap.locate(("networks", name, "mtu")),
                             f"remove mtu (the default is {limit}) or raise the underlay MTU"))
        elif limit < 68:
            out.append(error("mtu-too-small", f"network '{name}': underlay MTU {underlay} leaves no room",
                             smap.locate(("networks", name))))
    return out


def validate_config(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """Every semantic diagnostic of `config` (empty when it is valid), in check order."""
    checks: list[Check] = [
        check_ports, check_name_conflicts, check_node_addresses, *SUBNET_CHECKS, check_subnets, check_vnis,
        check_encryption_flags, check_gateways, check_addresses, check_macs, check_references,
        check_attachable, check_replicas, check_mtu, *FAMILY_CHECKS, *PLACEMENT_CHECKS,
    ]
    return [d for check in checks for d in check(config, smap)]
