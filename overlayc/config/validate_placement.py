"""Semantic checks that depend on where tasks may run: constraints and encryption keys (pure).

Without placement (that is compile's job), a node "may carry" a network when a service on that
network has the node among its eligible nodes (constraints hold, replicas > 0), when a standalone
endpoint on it lives there, or when the network is `all_nodes`.
"""

from __future__ import annotations

from collections.abc import Callable

from overlayc.config.constraints import Constraint, NodeMatcher, eligible, parse_constraint
from overlayc.config.explain import error
from overlayc.config.model import Config, Service
from overlayc.config.sourcemap import SourceMap, YamlPath
from overlayc.errors import ConstraintSyntaxError, Diagnostic, Location

Locate = Callable[[YamlPath], Location]


def parsed_constraints(service: Service) -> list[Constraint] | None:
    """The service's constraints, or None when one of them does not parse."""
    try:
        return [parse_constraint(c) for c in service.constraints]
    except ConstraintSyntaxError:
        return None


# --- the producers of these codes (compile reports the same problems through them) ----------
def bad_constraint(service: str, index: int, err: ConstraintSyntaxError, locate: Locate) -> Diagnostic:
    """`bad-constraint`: constraint `index` of `service` does not parse."""
    return error("bad-constraint", f"service '{service}': {err}",
                 locate(("services", service, "constraints", index)), err.hint)


def constraint_diagnostics(config: Config, service: str, locate: Locate) -> list[Diagnostic]:
    """A `bad-constraint` per constraint of `service` that does not parse."""
    out = []
    for i, text in enumerate(config.services[service].constraints):
        try:
            parse_constraint(text)
        except ConstraintSyntaxError as err:
            out.append(bad_constraint(service, i, err, locate))
    return out


def unsatisfiable(config: Config, service: str, locate: Locate, locate_key: Locate | None = None,
                  matcher: NodeMatcher | None = None) -> Diagnostic | None:
    """`unsatisfiable` when `service` has tasks but no eligible node, naming the constraint that
    leaves no node (constraints are applied in the order written); None when it has a node, no
    tasks, or a constraint that does not parse (that is `bad-constraint`). `matcher`: one over
    `config.nodes`, shared by the calls for every service (None: one for this call)."""
    svc = config.services[service]
    constraints = parsed_constraints(svc)
    if constraints is None or (svc.mode == "replicated" and svc.replicas == 0):
        return None
    if not config.nodes:
        return error("unsatisfiable", f"service '{service}' has tasks but there are no nodes",
                     (locate_key or locate)(("services", service)))
    matcher = matcher or NodeMatcher(config.nodes)
    if matcher.satisfying(constraints):
        return None  # a node satisfies them all (set operations, before the walk that names one)
    nodes = list(config.nodes)
    for i, c in enumerate(constraints):
        satisfying = matcher.matching(c)
        left = [n for n in nodes if n in satisfying]
        if not left:
            return error("unsatisfiable",
                         f"service '{service}': no node satisfies constraint '{c}'"
                         + (" (together with the constraints before it)" if i else ""),
                         locate(("services", service, "constraints", i)),
                         f"candidates were: {', '.join(nodes)}")
        nodes = left
    return None


def missing_public_key(node: str, carried: tuple[str, str] | None, locate_key: Locate) -> Diagnostic:
    """`missing-public-key`: `node` has no key but carries an encrypted network (`carried`: the
    network and who puts it there, as `hosts_of_encrypted` says; None when unknown)."""
    carries = (f"it may carry encrypted network '{carried[0]}' ({carried[1]})" if carried
               else "it shares an encrypted network")
    return error("missing-public-key", f"node '{node}' has no public_key, but {carries}",
                 locate_key(("nodes", node)),
                 f"run `overlayc keys gen --node {node}` on node '{node}' and add the public_key line "
                 "it prints here")


def duplicate_public_key(node: str, first: str, locate: Locate) -> Diagnostic:
    """`duplicate-public-key`: `node` has the public key of `first`."""
    return error("duplicate-public-key", f"node '{node}' has the same public_key as node '{first}'",
                 locate(("nodes", node, "public_key")),
                 f"every node needs its own key pair: run `overlayc keys gen --node {node}` "
                 f"on node '{node}'",
                 related=(("the other node", locate(("nodes", first, "public_key"))),))


# --- the checks -------------------------------------------------------------------------------
def check_constraint_syntax(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """Each constraint reads `node.hostname|node.role|node.labels.<key> ==|!= value`."""
    return [d for sname in config.services for d in constraint_diagnostics(config, sname, smap.locate)]


def check_satisfiable(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """A service with tasks has at least one eligible node."""
    matcher = NodeMatcher(config.nodes)
    found = (unsatisfiable(config, sname, smap.locate, smap.locate_key, matcher) for sname in config.services)
    return [d for d in found if d is not None]


def hosts_of_encrypted(config: Config) -> dict[str, tuple[str, str]]:
    """Node → (encrypted network, who puts it there) for every node that may carry one."""
    out: dict[str, tuple[str, str]] = {}
    encrypted = [n for n, net in config.networks.items() if net.is_encrypted]
    for net in encrypted:
        if config.networks[net].all_nodes:
            for node in config.nodes:
                out.setdefault(node, (net, "all_nodes: true"))
    for sname, svc in config.services.items():
        constraints = parsed_constraints(svc)
        nets = [n for n in svc.attachments() if n in encrypted]
        if not nets or constraints is None or (svc.mode == "replicated" and svc.replicas == 0):
            continue
        for node in eligible(constraints, dict(config.nodes)):
            out.setdefault(node, (nets[0], f"service '{sname}'"))
    for ename, ep in config.endpoints.items():
        nets = [n for n in ep.attachments() if n in encrypted]
        if nets and ep.node in config.nodes:
            out.setdefault(ep.node, (nets[0], f"endpoint '{ename}'"))
    return out


def check_public_keys(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """Every node that may carry an encrypted network has a public key."""
    return [missing_public_key(node, carried, smap.locate_key)
            for node, carried in sorted(hosts_of_encrypted(config).items())
            if config.nodes[node].public_key is None]


def check_public_keys_unique(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """No two nodes share a public key: their pair keys and SPIs with every peer would coincide."""
    seen: dict[str, str] = {}
    out = []
    for name, node in config.nodes.items():
        if node.public_key is None:
            continue
        if node.public_key in seen:
            out.append(duplicate_public_key(name, seen[node.public_key], smap.locate))
        else:
            seen[node.public_key] = name
    return out


PLACEMENT_CHECKS: list[Callable[[Config, SourceMap], list[Diagnostic]]] = [
    check_constraint_syntax, check_satisfiable, check_public_keys, check_public_keys_unique,
]
