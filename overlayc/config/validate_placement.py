"""Semantic checks that depend on where tasks may run: constraints and encryption keys (pure).

Without placement (that is compile's job), a node "may carry" a network when a service on that
network has the node among its eligible nodes (constraints hold, replicas > 0), when a standalone
endpoint on it lives there, or when the network is `all_nodes`.
"""

from __future__ import annotations

from collections.abc import Callable

from overlayc.config.constraints import Constraint, ConstraintSyntaxError, eligible, parse_constraint
from overlayc.config.explain import error
from overlayc.config.model import Config, Service
from overlayc.config.source import SourceMap
from overlayc.errors import Diagnostic


def parsed_constraints(service: Service) -> list[Constraint] | None:
    """The service's constraints, or None when one of them does not parse."""
    try:
        return [parse_constraint(c) for c in service.constraints]
    except ConstraintSyntaxError:
        return None


def check_constraint_syntax(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """Each constraint reads `node.hostname|node.role|node.labels.<key> ==|!= value`."""
    out = []
    for sname, svc in config.services.items():
        for i, text in enumerate(svc.constraints):
            try:
                parse_constraint(text)
            except ConstraintSyntaxError as err:
                out.append(error("bad-constraint", f"service '{sname}': {err}",
                                 smap.locate(("services", sname, "constraints", i)), err.hint))
    return out


def check_satisfiable(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """A service with tasks has at least one eligible node; the error names the constraint that
    leaves no node (constraints are applied in the order written)."""
    out = []
    for sname, svc in config.services.items():
        constraints = parsed_constraints(svc)
        if constraints is None or (svc.mode == "replicated" and svc.replicas == 0):
            continue
        if not config.nodes:
            out.append(error("unsatisfiable", f"service '{sname}' has tasks but there are no nodes",
                             smap.locate_key(("services", sname))))
            continue
        nodes = dict(config.nodes)
        for i, c in enumerate(constraints):
            left = eligible([c], nodes)
            if not left:
                out.append(error("unsatisfiable",
                                 f"service '{sname}': no node satisfies constraint '{c}'"
                                 + (" (together with the constraints before it)" if i else ""),
                                 smap.locate(("services", sname, "constraints", i)),
                                 f"candidates were: {', '.join(nodes)}"))
                break
            nodes = {n: nodes[n] for n in left}
    return out


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
    out = []
    for node, (net, why) in sorted(hosts_of_encrypted(config).items()):
        if config.nodes[node].public_key is None:
            out.append(error("missing-public-key",
                             f"node '{node}' has no public_key, but it may carry encrypted network "
                             f"'{net}' ({why})", smap.locate_key(("nodes", node)),
                             f"run `overlayc keys gen --node {node}` on node '{node}' and add the "
                             "public_key line it prints here"))
    return out


def check_public_keys_unique(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """No two nodes share a public key: their pair keys and SPIs with every peer would coincide."""
    seen: dict[str, str] = {}
    out = []
    for name, node in config.nodes.items():
        if node.public_key is None:
            continue
        if node.public_key in seen:
            first = seen[node.public_key]
            out.append(error("duplicate-public-key",
                             f"node '{name}' has the same public_key as node '{first}'",
                             smap.locate(("nodes", name, "public_key")),
                             f"every node needs its own key pair: run `overlayc keys gen --node {name}` "
                             f"on node '{name}'",
                             related=(("the other node", smap.locate(("nodes", first, "public_key"))),)))
        else:
            seen[node.public_key] = name
    return out


PLACEMENT_CHECKS: list[Callable[[Config, SourceMap], list[Diagnostic]]] = [
    check_constraint_syntax, check_satisfiable, check_public_keys, check_public_keys_unique,
]
