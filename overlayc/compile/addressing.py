"""VNIs, addresses and MACs (DESIGN.md §3, docker-overlay.md §1.2, §1.5, docs/ipv6.md), pure.

VNIs: fixed ones as configured; the others keep their locked VNI unless it now clashes, else get
the lowest free VNI from 4096 up (swarmkit's `vxlanIDStart`), networks taken in name order.
Addresses: per network and per family of its subnets, independently (adding an IPv6 subnet never
moves an IPv4 address): fixed addresses first, then locked ones still valid, then the lowest free
host address of the subnet (network, IPv4 broadcast and gateway excluded) in endpoint order.
MAC: the configured one, else `02:42:` + the four IPv4 bytes (Docker's `GenerateMACFromIP`); an
endpoint with no IPv4 address (an IPv6-only network) gets `06:` + the low 40 bits of its IPv6
address (`mac_from_ipv6`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from ipaddress import IPv4Address, IPv6Address
from itertools import repeat
from operator import add
from typing import NamedTuple

from overlayc.config.model import Config, Network
from overlayc.config.validate_subnets import subnet_paths
from overlayc.errors import Diagnostic, Location, Severity
from overlayc.kernel.objects import IPAddress, IPNetwork

VNI_START = 4096
VNI_END = (1 << 24) - 1
Locate = Callable[[tuple[str | int, ...]], Location]


_HEX = tuple(f"{b:02x}" for b in range(256))  # byte -> two lower-case hex digits


def mac_from_ip(ip: IPv4Address) -> str:
    """Docker's rule: `02:42:` followed by the address bytes, lower-case hex."""
    return mac_from_int(int(ip))


def mac_from_int(v: int) -> str:
    """`mac_from_ip` of the IPv4 address whose integer value is `v`."""
    return f"02:42:{_HEX[v >> 24]}:{_HEX[v >> 16 & 255]}:{_HEX[v >> 8 & 255]}:{_HEX[v & 255]}"


_DOCKER_MAC = 0x0242 << 32  # `02:42:` above the four bytes of an IPv4 address


def macs_from_ints(values: Iterable[int]) -> list[str]:
    """`mac_from_int` of each of `values`, by C-level maps (no Python call per value)."""
    raw = map(int.to_bytes, map(add, values, repeat(_DOCKER_MAC)), repeat(6))  # big-endian (3.11's default)
    return list(map(bytes.hex, raw, repeat(":")))


IPV6_MAC_PREFIX = "06"  # locally administered (0x02), unicast; neither Docker's 02:42 nor devices' 0e


def mac_from_ipv6(ip: IPv6Address) -> str:
    """The MAC of an endpoint without an IPv4 address: `06:` + the last five bytes of `ip`.

    Derived from the address as Docker's rule is (deterministic, pinned with it in the lock), and
    distinct for the addresses of one subnet that differ in their low 40 bits (every address
    overlayc hands out in a subnet of fewer than 2^40 endpoints; `resolve` reports a clash of
    fixed ones). Never in the 02:42 space of IPv4 endpoints nor the 0e space of devices."""
    return ":".join([IPV6_MAC_PREFIX, *(f"{b:02x}" for b in ip.packed[11:])])


def assign_vnis(config: Config, locked: Mapping[str, int]) -> dict[str, int]:
    """VNI of every network: fixed, else locked (if still free), else the lowest free from 4096."""
    out: dict[str, int] = {}
    used: set[int] = set()
    for name in sorted(config.networks):
        vni = config.networks[name].fixed_vni
        if vni is not None:
            out[name] = vni
            used.add(vni)
    auto = [n for n in sorted(config.networks) if n not in out]
    for name in auto:
        vni = locked.get(name)
        if vni is not None and vni not in used and 1 <= vni <= VNI_END:
            out[name] = vni
            used.add(vni)
    candidate = VNI_START
    for name in auto:
        if name in out:
            continue
        while candidate in used:
            candidate += 1
        out[name] = candidate
        used.add(candidate)
    return {n: out[n] for n in sorted(out)}


class Request(NamedTuple):
    """One endpoint's wish for an address of one family on one network: `fixed` from the
    config, `locked` from the lock (None when absent). A tuple: one per endpoint and network."""

    endpoint: str
    fixed: IPAddress | None
    locked: IPAddress | None


def _hosts(subnet: IPNetwork) -> Iterator[int]:
    """Host addresses in order, as integers: IPv4 without network and broadcast address, IPv6
    without the Subnet-Router anycast address (the network address, RFC 4291 §2.6.1)."""
    if subnet.version == 4 and subnet.prefixlen > 30:
        return iter(())
    first, last = int(subnet.network_address) + 1, int(subnet.broadcast_address) - (subnet.version == 4)
    return iter(range(first, last + 1))


def assign_addresses(
    name: str, network: Network, requests: Sequence[Request], locate: Locate, version: int = 4
) -> tuple[dict[str, IPAddress], list[Diagnostic]]:
    """Addresses from the subnet of IP `version` of network `name` for `requests` (in priority
    order; the network must have such a subnet).

    Returns endpoint → address and, when the subnet runs out, one `subnet-exhausted` diagnostic
    (the endpoints left without an address are named in it)."""
    subnet = network.ipv4_subnet if version == 4 else network.ipv6_subnet
    if subnet is None:
        raise ValueError(f"network {name!r} has no IPv{version} subnet")
    # integers (one family here): IPv4Address hashes its hex text and tests a subnet by netmask
    make: type[IPAddress] = IPv4Address if version == 4 else IPv6Address
    taken: set[int] = {int(network.gateway)} if network.gateway is not None and version == 4 else set()
    out: dict[str, IPAddress] = {}
    for req in requests:
        if req.fixed is not None:
            out[req.endpoint] = req.fixed
            taken.add(int(req.fixed))
    low, high = int(subnet.network_address), int(subnet.broadcast_address)
    edges = {low, high} if version == 4 else {low}
    for req in requests:
        ip = req.locked
        if ip is None or req.endpoint in out or not isinstance(ip, make):
            continue
        value = int(ip)
        if low <= value <= high and value not in taken and value not in edges:
            out[req.endpoint] = ip
            taken.add(value)
    free = _hosts(subnet)
    missing: list[str] = []
    for req in requests:
        if req.endpoint in out:
            continue
        host = next((a for a in free if a not in taken), None)
        if host is None:
            missing.append(req.endpoint)
            continue
        out[req.endpoint] = make(host)
    return out, [_exhausted(name, network, subnet, missing, locate)] if missing else []


def _exhausted(name: str, network: Network, subnet: IPNetwork, missing: list[str],
               locate: Locate) -> Diagnostic:
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return Diagnostic(
        Severity.ERROR, "subnet-exhausted",
        f"network {name!r}: subnet {subnet} has no free address left for {shown}",
        locate(next(p for s, p in subnet_paths(name, network) if s == subnet)),
        hint="use a larger subnet or fewer tasks on this network",
    )


def mac_clashes(name: str, macs: Sequence[tuple[str, str]], locate: Locate) -> list[Diagnostic]:
    """One `duplicate-mac` error per endpoint of network `name` whose MAC (in `macs`: endpoint,
    MAC) an earlier one has: two fixed IPv6 addresses equal in their low 40 bits, or a fixed
    `mac_address` equal to a derived one."""
    first: dict[str, str] = {}
    out = []
    for endpoint, mac in macs:
        other = first.setdefault(mac, endpoint)
        if other != endpoint:
            out.append(Diagnostic(
                Severity.ERROR, "duplicate-mac",
                f"network {name!r}: endpoints {other} and {endpoint} would both have MAC {mac}",
                locate(("networks", name)),
                hint="an IPv6-only endpoint's MAC is 06: + the low 40 bits of its address: "
                     "give one of them another ipv6_address or a mac_address"))
    return out
