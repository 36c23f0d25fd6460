"""compile/addressing on integers agrees with the rule it implements, written with `ipaddress`
objects (the implementation before addresses were compared as integers)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from hypothesis import given, settings
from hypothesis import strategies as st

from overlayc.compile.addressing import Request, assign_addresses, mac_from_ip, macs_from_ints
from overlayc.config.model import Network
from overlayc.errors import Location
from overlayc.kernel.objects import IPAddress, IPNetwork


def _hosts(subnet: IPNetwork) -> Iterator[IPAddress]:
    if subnet.version == 4 and subnet.prefixlen > 30:
        return
    first, last = int(subnet.network_address) + 1, int(subnet.broadcast_address) - (subnet.version == 4)
    for value in range(first, last + 1):
        yield IPv4Address(value) if subnet.version == 4 else IPv6Address(value)


def _reference(
    network: Network, requests: Sequence[Request], version: int
) -> tuple[dict[str, IPAddress], bool]:
    """Fixed first, then locked ones still valid, then the lowest free host address."""
    subnet = network.ipv4_subnet if version == 4 else network.ipv6_subnet
    assert subnet is not None
    taken: set[IPAddress] = {network.gateway} if network.gateway is not None and version == 4 else set()
    out: dict[str, IPAddress] = {}
    for req in requests:
        if req.fixed is not None:
            out[req.endpoint] = req.fixed
            taken.add(req.fixed)
    edges = {subnet.network_address, subnet.broadcast_address} if version == 4 else {subnet.network_address}
    for req in requests:
        ip = req.locked
        if req.endpoint in out or ip is None:
            continue
        if ip.version == version and ip in subnet and ip not in taken and ip not in edges:
            out[req.endpoint] = ip
            taken.add(ip)
    free = _hosts(subnet)
    missing = False
    for req in requests:
        if req.endpoint not in out:
            got = next((a for a in free if a not in taken), None)
            missing = missing or got is None
            if got is not None:
                out[req.endpoint] = got
    return out, missing


def _locate(path: tuple[str | int, ...]) -> Location:
    return Location("<test>")


V4 = IPv4Network("10.0.0.0/28")
V6 = IPv6Network("fd00::/124")
# addresses around both subnets: inside, the edges, just outside, the other family
ADDRESSES: list[IPAddress] = [*(IPv4Address(int(V4.network_address) + i) for i in range(-1, 18)),
             *(IPv6Address(int(V6.network_address) + i) for i in range(-1, 18)), IPv4Address("10.9.0.1")]


@st.composite
def cases(draw: st.DrawFn) -> tuple[Network, list[Request], int]:
    version = draw(st.sampled_from([4, 6]))
    gateway = draw(st.sampled_from([None, "10.0.0.1", "10.0.0.14"])) if version == 4 else None
    network = Network.model_validate({"subnet": str(V4 if version == 4 else V6), "gateway": gateway})
    family = [a for a in ADDRESSES if a.version == version and a in (V4 if version == 4 else V6)]
    n = draw(st.integers(0, 20))
    fixed = draw(st.lists(st.sampled_from(family), max_size=3, unique=True).filter(
        lambda f: gateway is None or ip_address(gateway) not in f))
    requests = []
    for i in range(n):
        fix = fixed[i] if i < len(fixed) else None
        requests.append(Request(f"e{i}", fix, draw(st.none() | st.sampled_from(ADDRESSES))))
    return network, requests, version


@settings(max_examples=300, deadline=None)
@given(cases())
def test_integer_addressing_agrees_with_the_object_rule(case: tuple[Network, list[Request], int]) -> None:
    network, requests, version = case
    got, diags = assign_addresses("n", network, requests, _locate, version=version)
    want, missing = _reference(network, requests, version)
    assert got == want
    assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in want.items()}
    assert [d.code for d in diags] == (["subnet-exhausted"] if missing else [])
    # a locked address kept is the lock's own object (no new object per endpoint)
    for req in requests:
        if req.fixed is None and req.locked is not None and got.get(req.endpoint) == req.locked:
            assert got[req.endpoint] is req.locked


@given(st.integers(0, 2**32 - 1))
def test_mac_from_ip_is_docker_rule(value: int) -> None:
    ip = IPv4Address(value)
    assert mac_from_ip(ip) == "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


@given(st.lists(st.integers(0, 2**32 - 1), max_size=40))
def test_macs_from_ints_is_mac_from_ip_of_each(values: list[int]) -> None:
    values = [*values, 0, 2**32 - 1]
    assert macs_from_ints(values) == [mac_from_ip(IPv4Address(v)) for v in values]
