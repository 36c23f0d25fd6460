"""Generators of valid clusters, for property tests and the benchmark.

`generate_config(n_nodes, tasks_per_node, seed)` is a plain, deterministic function (same
arguments, same Config); `configs()` is the hypothesis strategy over it. Generated clusters are
valid by construction: unique names and VNIs, non-overlapping subnets large enough for their
endpoints, satisfiable constraints, standalone endpoints only on attachable networks, no
encrypted networks (those need keys; see `with_encryption`).
"""

from __future__ import annotations

import math
import random
from typing import Any

from hypothesis import strategies as st

from overlayc.config.model import Config

REPLICAS_PER_SERVICE = 10
ZONES = ("a", "b", "c")


def _nodes(rng: random.Random, n_nodes: int) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for i in range(n_nodes):
        v = i + 1
        node: dict[str, Any] = {"address": f"10.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"}
        node["labels"] = {"zone": ZONES[i % len(ZONES)]}
        if i < 3:
            node["role"] = "manager"
        nodes[f"node{i + 1}"] = node
    return nodes


def _networks(rng: random.Random, count: int, prefix: int) -> dict[str, Any]:
    """`count` networks of /`prefix` subnets carved from 172.16.0.0/12 (non-overlapping)."""
    networks: dict[str, Any] = {}
    size = 1 << (32 - prefix)
    base = (172 << 24) | (16 << 16)
    for i in range(count):
        start = base + i * size
        subnet = f"{start >> 24}.{(start >> 16) & 255}.{(start >> 8) & 255}.{start & 255}/{prefix}"
        net: dict[str, Any] = {"subnet": subnet, "attachable": rng.random() < 0.5}
        if rng.random() < 0.3:
            net["gateway"] = f"{start >> 24}.{(start >> 16) & 255}.{(start >> 8) & 255}.{(start & 255) + 1}"
        if rng.random() < 0.2:
            net["vni"] = 5000 + 7 * i
        if rng.random() < 0.15:
            net["all_nodes"] = True
        networks[f"net{i + 1}"] = net
    return networks


def _constraints(rng: random.Random, n_nodes: int) -> list[str]:
    """Constraints every generated cluster satisfies (zones a..c exist once there are 3 nodes)."""
    roll = rng.random()
    if roll < 0.15 and n_nodes >= 3:
        return [f"node.labels.zone == {rng.choice(ZONES)}"]
    if roll < 0.25 and n_nodes >= 2:
        return [f"node.hostname != node{rng.randint(1, n_nodes)}"]
    if roll < 0.3 and n_nodes >= 4:
        return ["node.role == worker"]
    return []


def config_dict(n_nodes: int, tasks_per_node: int, seed: int) -> dict[str, Any]:
    """The YAML-shaped dict of `generate_config` (useful to edit before validating)."""
    rng = random.Random(seed)
    total = n_nodes * tasks_per_node
    n_services = math.ceil(total / REPLICAS_PER_SERVICE)
    n_networks = max(1, min(64, n_services // 4))  # a network per few services, as app stacks do
    per_network = 2 * total + n_nodes + 16  # generous: every task on every network
    prefix = max(8, min(24, 32 - math.ceil(math.log2(per_network + 2))))
    networks = _networks(rng, n_networks, prefix)
    names = sorted(networks)
    services: dict[str, Any] = {}
    left = total
    while left > 0:
        service: dict[str, Any] = {"networks": rng.sample(names, k=min(len(names), rng.randint(1, 2)))}
        if left >= n_nodes and rng.random() < 0.05:
            service["mode"] = "global"  # one task per node: counts n_nodes tasks
            left -= n_nodes
        else:
            service["replicas"] = min(REPLICAS_PER_SERVICE, left)
            left -= service["replicas"]
            service["constraints"] = _constraints(rng, n_nodes)
        service["managed"] = rng.random() < 0.8
        services[f"svc{len(services) + 1}"] = service
    attachable = [n for n in names if networks[n]["attachable"]]
    endpoints: dict[str, Any] = {}
    for i in range(min(3, n_nodes) if attachable else 0):
        endpoints[f"ep{i + 1}"] = {
            "node": f"node{rng.randint(1, n_nodes)}",
            "networks": rng.sample(attachable, k=1),
            "managed": rng.random() < 0.5,
        }
    return {
        "version": 1,
        "cluster": {"name": "gen", "id": f"gen-cluster-{seed}"},
        "nodes": _nodes(rng, n_nodes),
        "networks": networks,
        "services": services,
        "endpoints": endpoints,
    }


def generate_config(n_nodes: int, tasks_per_node: int, seed: int) -> Config:
    """A valid cluster of `n_nodes` nodes and about `n_nodes * tasks_per_node` replicated tasks."""
    return Config.model_validate(config_dict(n_nodes, tasks_per_node, seed))


def configs(max_nodes: int = 6, max_tasks_per_node: int = 4) -> st.SearchStrategy[Config]:
    """Hypothesis strategy of small valid clusters."""
    return st.builds(
        generate_config,
        n_nodes=st.integers(1, max_nodes),
        tasks_per_node=st.integers(0, max_tasks_per_node),
        seed=st.integers(0, 2**32 - 1),
    )
