"""VNIs, IPv4 addresses and MACs (DESIGN.md §3, docker-overlay.md §1.2, §1.5), pure.

VNIs: fixed ones as configured; the others keep their locked VNI unless it now clashes, else get
the lowest free VNI from 4096 up (swarmkit's `vxlanIDStart`), networks taken in name order.
Addresses: per network, fixed addresses first, then locked ones still valid, then the lowest free
host address of the subnet (network, broadcast and gateway excluded) in endpoint order.
MAC: the configured one, else `02:42:` + the four IPv4 bytes (Docker's `GenerateMACFromIP`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from overlayc.config.model import Config, Network
from overlayc.errors import Diagnostic, Location, Severity

VNI_START = 4096
VNI_END = (1 << 24) - 1
Locate = Callable[[tuple[str | int, ...]], Location]


def mac_from_ip(ip: IPv4Address) -> str:
    """Docker's rule: `02:42:` followed by the address bytes, lower-case hex."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


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


@dataclass(frozen=True, slots=True)
class Request:
    """One endpoint's wish for an address on one network: `fixed` from the config, `locked` from
    the lock (None when absent)."""

    endpoint: str
    fixed: IPv4Address | None
    locked: IPv4Address | None


def usable(network: Network) -> bool:
    """Whether the subnet has any host address (/31 and /32 have none in this model)."""
    return network.subnet.prefixlen <= 30


def _hosts(subnet: IPv4Network) -> Iterator[IPv4Address]:
    first, last = int(subnet.network_address) + 1, int(subnet.broadcast_address) - 1
    for value in range(first, last + 1):
        yield IPv4Address(value)


def assign_addresses(
    name: str, network: Network, requests: Sequence[Request], locate: Locate
) -> tuple[dict[str, IPv4Address], list[Diagnostic]]:
    """Addresses on network `name` for `requests` (in priority order).

    Returns endpoint → address and, when the subnet runs out, one `subnet-exhausted` diagnostic
    (the endpoints left without an address are named in it)."""
    subnet = network.subnet
    taken: set[IPv4Address] = {network.gateway} if network.gateway is not None else set()
    out: dict[str, IPv4Address] = {}
    for req in requests:
        if req.fixed is not None:
            out[req.endpoint] = req.fixed
            taken.add(req.fixed)
    for req in requests:
        ip = req.locked
        if req.endpoint in out or ip is None:
            continue
        edge = ip in (subnet.network_address, subnet.broadcast_address)
        if ip in subnet and ip not in taken and not edge:
            out[req.endpoint] = ip
            taken.add(ip)
    free = _hosts(subnet) if usable(network) else iter(())
    missing: list[str] = []
    for req in requests:
        if req.endpoint in out:
            continue
        ip = next((a for a in free if a not in taken), None)
        if ip is None:
            missing.append(req.endpoint)
            continue
        out[req.endpoint] = ip
    return out, [_exhausted(name, subnet, missing, locate)] if missing else []


def _exhausted(name: str, subnet: IPv4Network, missing: list[str], locate: Locate) -> Diagnostic:
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return Diagnostic(
        Severity.ERROR, "subnet-exhausted",
        f"network {name!r}: subnet {subnet} has no free address left for {shown}",
        locate(("networks", name, "subnet")),
        hint="use a larger subnet or fewer tasks on this network",
    )
