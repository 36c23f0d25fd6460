"""Resolve a config against its lock: placement, VNIs, addresses → `Assignment` (pure).

`resolve(config, lock) -> (Assignment, new_lock, diagnostics)`. The Assignment holds the indexes
compile needs (per network, per node), built once so that compiling one node of a large cluster
costs dict look-ups and the size of its output, never a scan of every task for every node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from itertools import compress, groupby, repeat
from operator import is_, itemgetter, methodcaller
from types import MappingProxyType
from typing import NamedTuple

from overlayc.compile.addressing import (
    Locate,
    Request,
    assign_addresses,
    assign_vnis,
    mac_clashes,
    mac_from_ip,
    mac_from_ipv6,
    macs_from_ints,
)
from overlayc.compile.bynode import ByNode
from overlayc.compile.lock import LazyPins, Lock, Pin, Pins
from overlayc.compile.naming import natural_key
from overlayc.compile.placement import place
from overlayc.config.model import Config
from overlayc.errors import Diagnostic, Location
from overlayc.gcpause import paused_gc
from overlayc.kernel.objects import IPAddress

NaturalKey = tuple[str, int, str]  # what `natural_key` returns


class Attachment(NamedTuple):
    """Endpoint `endpoint` (a task or a standalone endpoint) on `node`, attached to `network`,
    with an address of each family the network has a subnet of: `ip` (IPv4) and `ip6`.

    Immutable, compared and hashed by value. A named tuple rather than a frozen dataclass: one
    is built per endpoint and network on every resolve (32k for 1,000 nodes, 150k for 5,000),
    and a tuple is built in a third of the time of a frozen dataclass's per-field setattr."""

    endpoint: str
    node: str
    network: str
    ip: IPv4Address | None
    mac: str
    managed: bool
    ip6: IPv6Address | None = None


@dataclass(frozen=True)
class Assignment:
    """Where everything is. `attachments[network]` is sorted by endpoint name (natural order);
    `by_node[node]` lists the attachments of endpoints on that node; `network_nodes[network]` is
    the set of nodes where the network is present (an endpoint there, or `all_nodes`). A
    network's attachments are a tuple, or columns (`compile.columns`, an Assignment read from
    the assignment cache) that compare equal to it."""

    vnis: Mapping[str, int]
    tasks: Mapping[str, str]
    attachments: Mapping[str, Sequence[Attachment]]
    by_node: Mapping[str, tuple[Attachment, ...]] = field(default_factory=dict)
    network_nodes: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def present(self, node: str) -> list[str]:
        """Sorted names of the networks present on `node`."""
        return sorted(n for n, nodes in self.network_nodes.items() if node in nodes)


class _Wish(NamedTuple):  # one per endpoint: a tuple, built faster than a frozen dataclass
    endpoint: str
    node: str
    managed: bool
    fixed: Mapping[str, tuple[IPv4Address | None, str | None]]  # network -> (ip, mac)
    fixed6: Mapping[str, IPv6Address]  # network -> fixed IPv6 address, where one is configured


_NO_FIXED6: Mapping[str, IPv6Address] = MappingProxyType({})  # shared by every task without one
_UNFIXED: tuple[None, None] = (None, None)  # a wish's (ip, mac) on a network where neither is configured
# A named tuple's own `__new__` is a Python function: the per-endpoint tuples below are made by
# `tuple.__new__` over all their fields (defaults included), equal to what the class call makes.
_new_tuple = tuple.__new__
# fields of the named tuples, read a column at a time by C-level maps
_ENDPOINT, _NODE, _MANAGED, _FIXED = (itemgetter(_Wish._fields.index(f))
                                      for f in ("endpoint", "node", "managed", "fixed"))
_FIRST, _SECOND = itemgetter(0), itemgetter(1)
_ATT_ENDPOINT, _ATT_NODE = (itemgetter(Attachment._fields.index(f)) for f in ("endpoint", "node"))
_IP, _MAC, _IP6 = (itemgetter(Pin._fields.index(f)) for f in ("ip", "mac", "ip6"))


def _no_location(path: tuple[str | int, ...]) -> Location:
    return Location("<config>")


def _wishes(config: Config, tasks: Mapping[str, str], keys: Mapping[str, NaturalKey]) -> list[_Wish]:
    """Every endpoint in allocation order: tasks (service, then task order), then standalone.
    `keys`: the `natural_key` of (at least) every task."""
    out: list[_Wish] = []
    for name, members in _by_service(tasks).items():
        service = config.services[name]
        attachments = service.attachments()
        # tasks past the configured addresses share one mapping (50k tasks: 50k dicts fewer)
        unfixed: dict[str, tuple[IPv4Address | None, str | None]] = dict.fromkeys(attachments, _UNFIXED)
        n_fixed = max((len(a.ipv4_addresses) for a in attachments.values()), default=0)
        n_fixed6 = max((len(a.ipv6_addresses) for a in attachments.values()), default=0)
        ordered = sorted(members, key=keys.__getitem__)
        head = max(n_fixed, n_fixed6)
        for i, task in enumerate(ordered[:head]):
            fixed = unfixed if i >= n_fixed else {
                net: (a.ipv4_addresses[i] if i < len(a.ipv4_addresses) else None, None)
                for net, a in attachments.items()
            }
            fixed6 = _NO_FIXED6 if i >= n_fixed6 else {
                net: a.ipv6_addresses[i] for net, a in attachments.items() if i < len(a.ipv6_addresses)}
            out.append(_new_tuple(_Wish, (task, tasks[task], service.managed, fixed, fixed6)))
        rest = ordered[head:]  # the tasks sharing `unfixed`: a column at a time
        n = len(rest)
        rows = zip(rest, map(tasks.__getitem__, rest), repeat(service.managed, n), repeat(unfixed, n),
                   repeat(_NO_FIXED6, n), strict=True)
        out += map(_new_tuple, repeat(_Wish, n), rows)
    for name in sorted(config.endpoints):
        ep = config.endpoints[name]
        pinned = {net: (a.ipv4_address, a.mac_address) for net, a in ep.attachments().items()}
        pinned6 = {net: a.ipv6_address for net, a in ep.attachments().items() if a.ipv6_address is not None}
        out.append(_Wish(name, ep.node, ep.managed, pinned, pinned6))
    return out


def _by_service(tasks: Iterable[str]) -> dict[str, list[str]]:
    """`tasks` (`<service>.<n>`, `<service>.<node>`) by service, in service name order. The
    placement lists a service's tasks together: one group per run of them."""
    services = map(_FIRST, map(str.rsplit, tasks, repeat("."), repeat(1)))
    grouped: dict[str, list[str]] = {}
    for name, run in groupby(zip(services, tasks, strict=True), _FIRST):
        grouped.setdefault(name, []).extend(map(_SECOND, run))
    return {name: grouped[name] for name in sorted(grouped)}


def _members(networks: Iterable[str], wishes: list[_Wish]) -> dict[str, list[_Wish]]:
    """The wishes of each of `networks` (in the order of `wishes`): a run of wishes with equal
    `fixed` mappings (a service's tasks) is on the same networks, added at once."""
    members_of: dict[str, list[_Wish]] = {n: [] for n in networks}
    for fixed, run in groupby(wishes, _FIXED):
        block = list(run)
        for net in fixed:
            if net in members_of:
                members_of[net] += block
    return members_of


@paused_gc()
def resolve(
    config: Config, lock: Lock, locate: Locate = _no_location
) -> tuple[Assignment, Lock, list[Diagnostic]]:
    """Place tasks, number networks and address endpoints, keeping what `lock` pins.

    Returns the Assignment, the lock describing it, and diagnostics (errors: unsatisfiable
    constraints, exhausted subnets; the affected tasks/attachments are left out)."""
    placement = place(config, lock.tasks, locate)
    diags = list(placement.diagnostics)
    vnis = assign_vnis(config, lock.vnis)
    # each endpoint's natural_key once, for every sort it takes part in (it is in several networks)
    keys = {name: natural_key(name) for name in (*placement.tasks, *config.endpoints)}
    wishes = _wishes(config, placement.tasks, keys)
    wishes = list(compress(wishes, map(config.nodes.__contains__, map(_NODE, wishes))))
    per_net: dict[str, list[Attachment]] = {n: [] for n in sorted(config.networks)}
    members_of = _members(per_net, wishes)
    exact: set[str] = set()  # networks whose every attachment is its lock pin, as pinned
    for net, members in members_of.items():
        found, atts, pinned = _address_network(config, lock, net, members, locate)
        diags.extend(found)
        per_net[net].extend(atts)
        if pinned:
            exact.add(net)
    assignment = _index(config, vnis, placement.tasks, per_net, keys)
    return assignment, _to_lock(config, assignment, lock.endpoints, exact), diags


def _address_network(
    config: Config, lock: Lock, net: str, members: list[_Wish], locate: Locate
) -> tuple[list[Diagnostic], list[Attachment], bool]:
    """Addresses of each family of network `net` for `members`, each family on its own (an
    IPv6 subnet added later never moves an IPv4 address), and the attachments of the members
    that got an address of every family; diagnostics: exhausted subnets, clashing MACs. Last,
    True when `lock`'s pins on `net` are known to be exactly these attachments (False: not
    known, `_pinned_by` compares them)."""
    network = config.networks[net]
    if network.ipv6_subnet is None and network.ipv4_subnet is not None:
        kept = _all_locked4(lock, net, network.ipv4_subnet, network.gateway, members)
        if kept is not None:
            return [], kept[0], kept[1]
    diags: list[Diagnostic] = []
    ips: dict[str, IPAddress] = {}
    ips6: dict[str, IPAddress] = {}
    pins = _locked_pins(lock, net, members)
    if network.ipv4_subnet is not None:
        requests = [Request(w.endpoint, w.fixed[net][0], None if p is None else p.ip)
                    for w, p in zip(members, pins, strict=True)]
        ips, found = assign_addresses(net, network, requests, locate)
        diags.extend(found)
    if network.ipv6_subnet is not None:
        requests = [Request(w.endpoint, w.fixed6.get(net), None if p is None else p.ip6)
                    for w, p in zip(members, pins, strict=True)]
        ips6, found = assign_addresses(net, network, requests, locate, version=6)
        diags.extend(found)
    want4, want6 = network.ipv4_subnet is not None, network.ipv6_subnet is not None
    out = _attachments(net, members, ips, ips6, want4) if want6 else _attachments4(net, members, ips)
    if not want4:
        diags.extend(mac_clashes(net, [(a.endpoint, a.mac) for a in out], locate))
    return diags, out, False


def _all_locked4(lock: Lock, net: str, subnet: IPv4Network, gateway: IPv4Address | None,
                 members: list[_Wish]) -> tuple[list[Attachment], bool] | None:
    """The attachments of `members` to the IPv4-only network `net` when each of them has a
    locked address that `assign_addresses` keeps (inside `subnet`, neither its network nor its
    broadcast address nor `gateway`, not taken by an earlier member) and none has a configured
    address or MAC: then addressing the network is exactly keeping them. With them, whether
    the lock's pins are exactly these attachments (each pin's MAC the derived one, no IPv6
    address). None otherwise (the general path decides). The common case of a resolve against
    an up-to-date lock, a column at a time: C-level maps over the members (32k for 1,000
    nodes), one Python call each (`IPv4Address.__int__`) and no Request per member."""
    n = len(members)
    if not n:
        return [], True
    endpoints = list(map(_ENDPOINT, members))
    held = list(map(methodcaller("get", net), map(lock.endpoints.get, endpoints, repeat(_NO_PINS, n))))
    if None in held or list(map(itemgetter(net), map(_FIXED, members))).count(_UNFIXED) != n:
        return None  # a member without a pin, or with a configured address or MAC
    ips = list(map(_IP, held))
    if any(map(is_, ips, repeat(None, n))):
        return None
    values = list(map(IPv4Address.__int__, ips))
    distinct = set(values)
    low, high = int(subnet.network_address), int(subnet.broadcast_address)
    if len(distinct) != n or min(values) <= low or max(values) >= high or (
            gateway is not None and int(gateway) in distinct):
        return None
    macs = macs_from_ints(values)
    exact = macs == list(map(_MAC, held)) and all(map(is_, map(_IP6, held), repeat(None, n)))
    rows = zip(endpoints, map(_NODE, members), repeat(net, n), ips, macs, map(_MANAGED, members),
               repeat(None, n), strict=True)
    return list(map(_new_tuple, repeat(Attachment, n), rows)), exact


def _attachments4(net: str, members: list[_Wish], ips: Mapping[str, IPAddress]) -> list[Attachment]:
    """`_attachments` on a network with an IPv4 subnet only (the common case, one look-up each)."""
    out: list[Attachment] = []
    for w in members:
        ip = ips.get(w.endpoint)
        if isinstance(ip, IPv4Address):  # else named in a subnet-exhausted diagnostic
            out.append(Attachment(w.endpoint, w.node, net, ip, w.fixed[net][1] or mac_from_ip(ip), w.managed))
    return out


def _attachments(net: str, members: list[_Wish], ips: Mapping[str, IPAddress],
                 ips6: Mapping[str, IPAddress], want4: bool) -> list[Attachment]:
    """The attachments of `members` to `net` (which has an IPv6 subnet, and an IPv4 one when
    `want4`) that got an address of each family (`ips`, `ips6`: endpoint -> address)."""
    out: list[Attachment] = []
    for w in members:
        ip, ip6 = ips.get(w.endpoint), ips6.get(w.endpoint)
        if (want4 and ip is None) or ip6 is None:
            continue  # named in a subnet-exhausted diagnostic
        ip4 = ip if isinstance(ip, IPv4Address) else None
        only6 = ip6 if isinstance(ip6, IPv6Address) else None
        mac = w.fixed[net][1] or (mac_from_ip(ip4) if ip4 is not None else
                                  mac_from_ipv6(only6) if only6 is not None else "")
        out.append(Attachment(w.endpoint, w.node, net, ip4, mac, w.managed, only6))
    return out


_NO_PINS: Mapping[str, Pin] = MappingProxyType({})


def _locked_pins(lock: Lock, network: str, members: list[_Wish]) -> list[Pin | None]:
    """The pin `lock` holds for each of `members` on `network` (None where it holds none)."""
    pins = lock.endpoints
    return [pins.get(w.endpoint, _NO_PINS).get(network) for w in members]


def _in_natural_order(atts: list[Attachment], keys: Mapping[str, NaturalKey]) -> tuple[Attachment, ...]:
    """`atts` sorted by endpoint (`keys`: their natural keys), the sort keyed by C-level look-ups
    of the endpoint names when each is there once (one network's attachments: always)."""
    by_endpoint = dict(zip(map(_ATT_ENDPOINT, atts), atts, strict=True))
    if len(by_endpoint) != len(atts):
        return tuple(sorted(atts, key=lambda x: keys[x.endpoint]))
    return tuple(map(by_endpoint.__getitem__, sorted(by_endpoint, key=keys.__getitem__)))


def _index(
    config: Config, vnis: Mapping[str, int], tasks: Mapping[str, str], per_net: dict[str, list[Attachment]],
    keys: Mapping[str, NaturalKey],
) -> Assignment:
    """Build the per-network and per-node indexes of an Assignment (`keys`: the `natural_key`
    of every endpoint)."""
    attachments = {n: _in_natural_order(a, keys) for n, a in per_net.items()}
    all_nodes = frozenset(config.nodes)
    network_nodes = {net: all_nodes if config.networks[net].all_nodes else frozenset(map(_ATT_NODE, atts))
                     for net, atts in attachments.items()}
    return Assignment(
        vnis=dict(vnis), tasks=tasks, attachments=attachments,  # tasks: the placement's own dict
        by_node=ByNode(attachments), network_nodes=network_nodes,
    )


def _to_lock(config: Config, assignment: Assignment, read: Pins, exact: set[str]) -> Lock:
    """The lock pinning `assignment` (auto-assigned VNIs only; fixed ones live in the config);
    its pins are built when first used. `exact`: the networks on which the pins `read` (the
    lock resolved against, never changed after) are exactly the attachments."""
    auto = {n: v for n, v in assignment.vnis.items() if config.networks[n].fixed_vni is None}

    def same(other: Pins) -> bool:
        return _pinned_by(assignment, other, exact if other is read else frozenset())

    return Lock(vnis=auto, tasks=assignment.tasks, endpoints=LazyPins(lambda: _pins(assignment), same))


def _pinned_by(assignment: Assignment, pins: Pins, exact: AbstractSet[str] = frozenset()) -> bool:
    """Whether `pins` (a lock read from its file) holds exactly the attachments' addresses:
    what `_pins(assignment) == pins` answers, without building a Pin per attachment. `exact`:
    networks already known to match attachment for attachment (only counted here)."""
    count = 0
    for net, atts in assignment.attachments.items():
        if net in exact:
            count += len(atts)
            continue
        for a in atts:
            pin = pins.get(a.endpoint, _NO_PINS).get(a.network)
            # a kept address is the pin's own object: `is` answers before IPv4Address.__eq__
            if pin is None or (pin.ip is not a.ip and pin.ip != a.ip) or pin.mac != a.mac \
                    or (pin.ip6 is not a.ip6 and pin.ip6 != a.ip6):
                return False
        count += len(atts)
    return count == sum(map(len, pins.values())) and all(pins.values())


def _pins(assignment: Assignment) -> dict[str, dict[str, Pin]]:
    endpoints: dict[str, dict[str, Pin]] = {}
    for atts in assignment.attachments.values():
        for a in atts:
            endpoints.setdefault(a.endpoint, {})[a.network] = Pin(a.ip, a.mac, a.ip6)
    return endpoints
