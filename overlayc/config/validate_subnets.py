"""Which subnets a network declares, and in which form (docs/ipv6.md), pure.

A network has an IPv4 subnet, an IPv6 subnet, or one of each (dual-stack), written in exactly one
form: `subnet:`, `subnets:` or compose's `ipam: {config: [...]}`. Compose's `enable_ipv6` says
whether an IPv6 subnet is given and must agree with the subnets. A network with an IPv6 subnet
needs an inner MTU of at least 1280: the kernel turns IPv6 off on a device whose MTU is below
IPV6_MIN_MTU (addrconf_notify, NETDEV_CHANGEMTU), and its endpoints would silently lose IPv6.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

from overlayc.config.explain import error
from overlayc.config.model import Config, Network
from overlayc.config.mtu import inner_mtu
from overlayc.config.sourcemap import SourceMap, YamlPath
from overlayc.errors import Diagnostic

IPV6_MIN_MTU = 1280  # RFC 8200 §5; include/net/ipv6.h


def subnet_paths(name: str, net: Network) -> list[tuple[IPv4Network | IPv6Network, YamlPath]]:
    """Every subnet of network `name` with the YAML path where it is written, in the order
    `Network.all_subnets` lists them."""
    out: list[tuple[IPv4Network | IPv6Network, YamlPath]] = []
    if net.subnet is not None:
        out.append((net.subnet, ("networks", name, "subnet")))
    out += [(s, ("networks", name, "subnets", i)) for i, s in enumerate(net.subnets)]
    if net.ipam is not None:
        out += [(p.subnet, ("networks", name, "ipam", "config", i, "subnet"))
                for i, p in enumerate(net.ipam.config)]
    return out


def _forms(net: Network) -> list[str]:
    forms = ["subnet"] if net.subnet is not None else []
    forms += ["subnets"] if net.subnets else []
    return forms + (["ipam"] if net.ipam is not None and net.ipam.config else [])


def _check_network(name: str, net: Network, smap: SourceMap) -> list[Diagnostic]:
    forms = _forms(net)  # none: refused by the model (subnets.require_subnet)
    if len(forms) > 1:
        return [error("subnet-conflict", f"network '{name}' gives its subnets as both `{forms[0]}` and "
                      f"`{forms[1]}`: write them in one place", smap.locate_key(("networks", name, forms[1])),
                      "dual-stack: subnets: [10.0.9.0/24, fd00:9::/64]")]
    out = []
    first: dict[int, tuple[IPv4Network | IPv6Network, YamlPath]] = {}
    for subnet, path in subnet_paths(name, net):
        seen = first.setdefault(subnet.version, (subnet, path))
        if seen[1] != path:
            out.append(error("subnet-family", f"network '{name}' has two IPv{subnet.version} subnets "
                             f"({seen[0]} and {subnet}): at most one IPv4 and one IPv6 subnet per network",
                             smap.locate(path), "use another network for the second subnet",
                             related=(("the first one", smap.locate(seen[1])),)))
    return out


def _check_enable_ipv6(name: str, net: Network, smap: SourceMap) -> list[Diagnostic]:
    if net.enable_ipv6 is None or net.enable_ipv6 == (net.ipv6_subnet is not None):
        return []
    words = ("enable_ipv6 is true but the network has no IPv6 subnet" if net.enable_ipv6
             else f"enable_ipv6 is false but the network has the IPv6 subnet {net.ipv6_subnet}")
    return [error("ipv6-conflict", f"network '{name}': {words}",
                  smap.locate(("networks", name, "enable_ipv6")),
                  "overlayc takes the IPv6 subnet from the subnets given (e.g. fd00:9::/64 in subnets); "
                  "enable_ipv6 may be left out")]


def check_network_subnets(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """Each network has one form of subnets, at most one subnet per family, `enable_ipv6`
    agreeing with them, and, with an IPv6 subnet, an inner MTU of at least 1280."""
    out = []
    for name, net in config.networks.items():
        found = _check_network(name, net, smap)
        out += found or _check_enable_ipv6(name, net, smap)
        if found or net.ipv6_subnet is None:
            continue
        underlay = net.underlay_mtu or config.cluster.underlay_mtu
        mtu = net.mtu if net.mtu is not None else inner_mtu(underlay, net.is_encrypted, config.ipv6_underlay)
        if mtu < IPV6_MIN_MTU:
            at = ("networks", name, "mtu") if net.mtu is not None else ("networks", name)
            out.append(error("mtu-too-small", f"network '{name}' has an IPv6 subnet but an inner MTU "
                             f"of {mtu}: IPv6 needs at least {IPV6_MIN_MTU} (the kernel turns IPv6 "
                             "off below it)",
                             smap.locate(at), "raise mtu or the underlay MTU, or drop the IPv6 subnet"))
    return out


def check_gateway_family(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """`gateway:` is an IPv4 address: the network needs an IPv4 subnet for it."""
    return [error("address-family", f"network '{name}': gateway {net.gateway} needs an IPv4 subnet, "
                  "and the network has none", smap.locate(("networks", name, "gateway")),
                  "the node's gateway address is IPv4 only; add an IPv4 subnet or drop gateway")
            for name, net in config.networks.items()
            if net.gateway is not None and net.all_subnets and net.ipv4_subnet is None]


SUBNET_CHECKS = [check_network_subnets, check_gateway_family]
