"""Placement of service tasks on nodes (DESIGN.md §3), pure and deterministic.

Constraints use Docker's syntax, parsed and matched by `overlayc.config.constraints` (the same
code validation uses for satisfiability): `node.labels.k != v` holds on a node without label `k`.

Replicated services get tasks `<service>.1 … <service>.<replicas>`; global services one task
`<service>.<node>` per eligible node. A locked task stays on its node while that node exists and
satisfies the constraints. New tasks go, like swarmkit's spread strategy, to the eligible node
with the fewest tasks of the same service, then the fewest tasks overall, then the smallest name.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import compress, filterfalse
from typing import cast

from overlayc.config.constraints import Constraint, NodeMatcher, parse_constraint
from overlayc.config.model import Config, Service
from overlayc.config.validate_placement import constraint_diagnostics, unsatisfiable
from overlayc.errors import ConstraintSyntaxError, Diagnostic, Location

Locate = Callable[[tuple[str | int, ...]], Location]

def _no_location(path: tuple[str | int, ...]) -> Location:
    return Location("<config>")


@dataclass(frozen=True)
class Placement:
    """`tasks` maps every placed task to its node, in service order then task order."""

    tasks: Mapping[str, str]
    diagnostics: tuple[Diagnostic, ...]


def eligible_nodes(
    config: Config, service: str, locate: Locate = _no_location, matcher: NodeMatcher | None = None
) -> tuple[list[str], list[Diagnostic]]:
    """Sorted names of the nodes satisfying every constraint of `service`; `matcher`: one over
    `config.nodes` shared across services (None: one for this call).

    A constraint that does not parse makes no node eligible (the diagnostics say which: the
    config stage's `bad-constraint`)."""
    try:
        parsed: list[Constraint] = [parse_constraint(text) for text in config.services[service].constraints]
    except ConstraintSyntaxError:
        return [], constraint_diagnostics(config, service, locate)
    diags: list[Diagnostic] = []
    nodes = sorted((matcher or NodeMatcher(config.nodes)).eligible(parsed))
    return nodes, diags


def task_names(name: str, service: Service, eligible: list[str]) -> list[str]:
    """The tasks `service` asks for: `<name>.<n>` (n from 1) or, global, `<name>.<node>`."""
    if service.mode == "global":
        return list(map(f"{name}.".__add__, eligible))
    count = 1 if service.replicas is None else service.replicas
    return [f"{name}.{n}" for n in range(1, count + 1)]


def place(config: Config, locked: Mapping[str, str], locate: Locate = _no_location) -> Placement:
    """Place every task of `config`, keeping each locked task whose node is still eligible."""
    diags: list[Diagnostic] = []
    wanted: dict[str, tuple[list[str], list[str]]] = {}  # service -> (tasks, eligible nodes)
    cache: dict[tuple[str, ...], list[str]] = {}
    matcher = NodeMatcher(config.nodes)
    for name in sorted(config.services):
        key = tuple(config.services[name].constraints)
        if key not in cache:
            cache[key], found = eligible_nodes(config, name, locate, matcher)
            diags.extend(found)
        eligible = cache[key]
        wanted[name] = (task_names(name, config.services[name], eligible), eligible)
    total: dict[str, int] = dict.fromkeys(config.nodes, 0)
    kept = _kept(config, wanted, locked, total)
    placed: dict[str, str] = {}
    pools: dict[tuple[str, ...], list[tuple[int, str]]] = {}  # constraints -> heap (total, node)
    for name, (tasks, eligible) in wanted.items():
        if config.services[name].mode == "global":  # `<name>.<node>` on each eligible node
            placed.update(zip(tasks, eligible, strict=True))
            continue
        stay = _all_kept(tasks, kept)
        if stay is not None:
            placed.update(stay)
            continue
        key = tuple(config.services[name].constraints)
        if key not in pools:
            pools[key] = [(total[n], n) for n in eligible]
            heapq.heapify(pools[key])
        fast = _spread_fresh(tasks, len(eligible), kept, total, pools[key])
        if fast is None:
            fast = _spread(config, name, tasks, eligible, kept, total, diags, locate)
        placed.update(fast)
    return Placement(placed, tuple(diags))


def _kept(config: Config, wanted: Mapping[str, tuple[list[str], list[str]]], locked: Mapping[str, str],
          total: dict[str, int]) -> dict[str, str]:
    """The locked tasks of replicated services whose node is still eligible (task -> node),
    counting in `total` (node -> tasks) every task kept and every global task. A service at a
    time, by C-level maps over its tasks (20k for 1,000 nodes), counted by a Counter."""
    kept: dict[str, str] = {}
    counted: Counter[str] = Counter()
    allowed_of: dict[tuple[str, ...], frozenset[str]] = {}  # one set per constraints, not per service
    for name, (tasks, eligible) in wanted.items():
        if config.services[name].mode == "global":  # fixed by their name; they load nodes all the same
            counted.update(eligible)
            continue
        key = tuple(config.services[name].constraints)
        allowed = allowed_of.get(key)
        if allowed is None:
            allowed = allowed_of[key] = frozenset(eligible)
        nodes = cast("list[str]", list(map(locked.get, tasks)))  # None where not locked: never `stays`
        stays = list(map(allowed.__contains__, nodes))  # None (not locked) is no node
        kept.update(compress(zip(tasks, nodes, strict=True), stays))
        counted.update(compress(nodes, stays))
    for node, count in counted.items():
        total[node] += count
    return kept


def _all_kept(tasks: list[str], kept: Mapping[str, str]) -> dict[str, str] | None:
    """The placement of `tasks` when every one of them is kept (an up-to-date lock: no node
    to choose, no pool of nodes to build); None otherwise."""
    if not all(map(kept.__contains__, tasks)):
        return None
    return dict(zip(tasks, map(kept.__getitem__, tasks), strict=True))


def _spread_fresh(
    tasks: list[str], eligible: int, kept: Mapping[str, str], total: dict[str, int],
    pool: list[tuple[int, str]],
) -> dict[str, str] | None:
    """`_spread` for the common case, without a scan of every eligible node: the new tasks are
    no more than the eligible nodes holding no task of the service. `_spread` then gives them,
    in task order, those nodes by (tasks overall, name) — the smallest entries of `pool`, a heap
    of (total, node) over the eligible nodes kept across services. Its entries may be stale
    (totals only grow, so a stale entry is too small): a popped stale entry is pushed again with
    the current total. None when the case does not apply (the caller runs `_spread`)."""
    new = list(filterfalse(kept.__contains__, tasks))
    busy = set(map(kept.__getitem__, filter(kept.__contains__, tasks)))
    if len(new) > eligible - len(busy):
        return None
    chosen: list[str] = []
    aside: list[tuple[int, str]] = []
    while len(chosen) < len(new):
        load, node = heapq.heappop(pool)
        if load != total[node]:
            heapq.heappush(pool, (total[node], node))
        elif node in busy:
            aside.append((load, node))
        else:
            chosen.append(node)
    for node in chosen:
        total[node] += 1
        heapq.heappush(pool, (total[node], node))
    for entry in aside:
        heapq.heappush(pool, entry)
    picks = iter(chosen)
    return {task: kept[task] if task in kept else next(picks) for task in tasks}


def _spread(
    config: Config, name: str, tasks: list[str], eligible: list[str], kept: Mapping[str, str],
    total: dict[str, int], diags: list[Diagnostic], locate: Locate,
) -> dict[str, str]:
    """Tasks of one replicated service: locked ones stay, new ones go to the least loaded node."""
    mine: dict[str, int] = dict.fromkeys(eligible, 0)
    for task in tasks:
        if task in kept:
            mine[kept[task]] += 1
    heap = [(mine[n], total[n], n) for n in eligible]
    heapq.heapify(heap)
    out: dict[str, str] = {}
    for task in tasks:
        if task in kept:
            out[task] = kept[task]
            continue
        if not heap:  # no eligible node (a constraint that does not parse was reported already)
            found = unsatisfiable(config, name, locate)
            diags.extend([found] if found is not None else [])
            return out
        own, overall, node = heapq.heappop(heap)
        out[task] = node
        total[node] += 1
        heapq.heappush(heap, (own + 1, overall + 1, node))
    return out
