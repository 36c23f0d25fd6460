"""Resolve a config against its lock: placement, VNIs, addresses → `Assignment` (pure).

`resolve(config, lock) -> (Assignment, new_lock, diagnostics)`. The Assignment holds the indexes
compile needs (per network, per node), built once so that compiling one node of a large cluster
costs dict look-ups and the size of its output, never a scan of every task for every node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from overlayc.compile.addressing import Locate, Request, assign_addresses, assign_vnis, mac_from_ip
from overlayc.compile.lock import LazyPins, Lock, Pin
from overlayc.compile.naming import natural_key
from overlayc.compile.placement import place
from overlayc.config.model import Config
from overlayc.errors import Diagnostic, Location
from overlayc.gcpause import paused_gc


@dataclass(frozen=True, slots=True)
class Attachment:
    """Endpoint `endpoint` (a task or a standalone endpoint) on `node`, attached to `network`."""

    endpoint: str
    node: str
    network: str
    ip: IPv4Address
    mac: str
    managed: bool


@dataclass(frozen=True)
class Assignment:
    """Where everything is. `attachments[network]` is sorted by endpoint name (natural order);
    `by_node[node]` lists the attachments of endpoints on that node; `network_nodes[network]` is
    the set of nodes where the network is present (an endpoint there, or `all_nodes`)."""

    vnis: Mapping[str, int]
    tasks: Mapping[str, str]
    attachments: Mapping[str, tuple[Attachment, ...]]
    by_node: Mapping[str, tuple[Attachment, ...]] = field(default_factory=dict)
    network_nodes: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def present(self, node: str) -> list[str]:
        """Sorted names of the networks present on `node`."""
        return sorted(n for n, nodes in self.network_nodes.items() if node in nodes)


@dataclass(frozen=True, slots=True)
class _Wish:
    endpoint: str
    node: str
    managed: bool
    fixed: Mapping[str, tuple[IPv4Address | None, str | None]]  # network -> (ip, mac)


def _no_location(path: tuple[str | int, ...]) -> Location:
    return Location("<config>")


def _wishes(config: Config, tasks: Mapping[str, str]) -> list[_Wish]:
    """Every endpoint in allocation order: tasks (service, then task order), then standalone."""
    out: list[_Wish] = []
    by_service: dict[str, list[str]] = {}
    for task in tasks:
        by_service.setdefault(task.rsplit(".", 1)[0], []).append(task)
    for name in sorted(by_service):
        service = config.services[name]
        attachments = service.attachments()
        # tasks past the configured addresses share one mapping (50k tasks: 50k dicts fewer)
        unfixed: dict[str, tuple[IPv4Address | None, str | None]] = dict.fromkeys(attachments, (None, None))
        n_fixed = max((len(a.ipv4_addresses) for a in attachments.values()), default=0)
        for i, task in enumerate(sorted(by_service[name], key=natural_key)):
            fixed = unfixed if i >= n_fixed else {
                net: (a.ipv4_addresses[i] if i < len(a.ipv4_addresses) else None, None)
                for net, a in attachments.items()
            }
            out.append(_Wish(task, tasks[task], service.managed, fixed))
    for name in sorted(config.endpoints):
        ep = config.endpoints[name]
        pinned = {net: (a.ipv4_address, a.mac_address) for net, a in ep.attachments().items()}
        out.append(_Wish(name, ep.node, ep.managed, pinned))
    return out


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
    wishes = [w for w in _wishes(config, placement.tasks) if w.node in config.nodes]
    per_net: dict[str, list[Attachment]] = {n: [] for n in sorted(config.networks)}
    members_of: dict[str, list[_Wish]] = {n: [] for n in per_net}
    for w in wishes:
        for net in w.fixed:
            if net in members_of:
                members_of[net].append(w)
    for net, members in members_of.items():
        requests = [Request(w.endpoint, w.fixed[net][0], _locked_ip(lock, w.endpoint, net)) for w in members]
        ips, found = assign_addresses(net, config.networks[net], requests, locate)
        diags.extend(found)
        for w in members:
            if w.endpoint in ips:
                ip = ips[w.endpoint]
                mac = w.fixed[net][1] or mac_from_ip(ip)
                per_net[net].append(Attachment(w.endpoint, w.node, net, ip, mac, w.managed))
    assignment = _index(config, vnis, placement.tasks, per_net)
    return assignment, _to_lock(config, assignment), diags


def _locked_ip(lock: Lock, endpoint: str, network: str) -> IPv4Address | None:
    pin = lock.endpoints.get(endpoint, {}).get(network)
    return None if pin is None else pin.ip


def _index(
    config: Config, vnis: Mapping[str, int], tasks: Mapping[str, str], per_net: dict[str, list[Attachment]]
) -> Assignment:
    """Build the per-network and per-node indexes of an Assignment."""
    attachments = {n: tuple(sorted(a, key=lambda x: natural_key(x.endpoint))) for n, a in per_net.items()}
    by_node: dict[str, list[Attachment]] = {}
    network_nodes: dict[str, frozenset[str]] = {}
    all_nodes = frozenset(config.nodes)
    for net, atts in attachments.items():
        for a in atts:
            by_node.setdefault(a.node, []).append(a)
        here = all_nodes if config.networks[net].all_nodes else frozenset(a.node for a in atts)
        network_nodes[net] = here
    return Assignment(
        vnis=dict(vnis), tasks=tasks, attachments=attachments,  # tasks: the placement's own dict
        by_node={n: tuple(a) for n, a in by_node.items()}, network_nodes=network_nodes,
    )


def _to_lock(config: Config, assignment: Assignment) -> Lock:
    """The lock pinning `assignment` (auto-assigned VNIs only; fixed ones live in the config);
    its pins are built when first used."""
    auto = {n: v for n, v in assignment.vnis.items() if config.networks[n].fixed_vni is None}
    return Lock(vnis=auto, tasks=assignment.tasks,
                endpoints=LazyPins(lambda: _pins(assignment), lambda other: _pinned_by(assignment, other)))


def _pinned_by(assignment: Assignment, pins: Mapping[str, Mapping[str, Pin]]) -> bool:
    """Whether `pins` (a lock read from its file) holds exactly the attachments' addresses:
    what `_pins(assignment) == pins` answers, without building a Pin per attachment."""
    count = 0
    for atts in assignment.attachments.values():
        for a in atts:
            pin = pins.get(a.endpoint, {}).get(a.network)
            if pin is None or pin.ip != a.ip or pin.mac != a.mac:
                return False
        count += len(atts)
    return count == sum(len(p) for p in pins.values()) and all(pins.values())


def _pins(assignment: Assignment) -> dict[str, dict[str, Pin]]:
    endpoints: dict[str, dict[str, Pin]] = {}
    for atts in assignment.attachments.values():
        for a in atts:
            endpoints.setdefault(a.endpoint, {})[a.network] = Pin(a.ip, a.mac)
    return endpoints
