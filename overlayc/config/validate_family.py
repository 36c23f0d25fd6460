"""Which address families a cluster may use (docs/ipv6.md), pure.

A node has one underlay address, and a VXLAN device has one `local` address and one UDP socket
of that family: the kernel sends to an FDB `dst` only of the device's own family. Any network may
reach any node (placement, `all_nodes`, `mode: global`, an endpoint added later), and a network's
inner MTU must be the same on every node (50 bytes of VXLAN overhead over IPv4, 70 over IPv6). So
the nodes of one cluster all use one family: an IPv4 underlay or an IPv6 underlay, never a mix.
"""

from __future__ import annotations

from overlayc.config.explain import error
from overlayc.config.model import Config
from overlayc.config.sourcemap import SourceMap
from overlayc.errors import Diagnostic


def check_underlay_family(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """Every node address is of the family of the first node's address; one error per node
    that is not, located at its address."""
    nodes = list(config.nodes.items())
    if not nodes:
        return []
    first, first_node = nodes[0]
    family = first_node.address.version
    return [
        error("mixed-address-family",
              f"node '{name}' has an IPv{node.address.version} address ({node.address}) but node "
              f"'{first}' has an IPv{family} address: all nodes of a cluster use one address family",
              smap.locate(("nodes", name, "address")),
              "a VXLAN device sends over one family only; give every node an address of one family",
              related=(("the first node's address", smap.locate(("nodes", first, "address"))),))
        for name, node in nodes[1:] if node.address.version != family
    ]


FAMILY_CHECKS = [check_underlay_family]
