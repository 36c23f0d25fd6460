"""Placement's column-wise passes (`placement._kept` and `_all_kept`, C-level maps over a
service's tasks) give the placement of the plain rule they implement, written
as a loop per task: on generated clusters with locks that keep, move, drop and invent tasks,
including locks naming nodes that are gone or no longer eligible."""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest

from overlayc.compile import placement as placement_mod
from overlayc.compile.placement import place
from overlayc.config.model import Config
from tests.support.gen import generate_config


def _plain_kept(config: Config, wanted: Mapping[str, tuple[list[str], list[str]]], locked: Mapping[str, str],
                total: dict[str, int]) -> dict[str, str]:
    """The rule: a locked task of a replicated service stays while its node is eligible; every
    kept task and every global task counts on its node."""
    kept: dict[str, str] = {}
    for name, (tasks, eligible) in wanted.items():
        if config.services[name].mode == "global":
            for host in eligible:
                total[host] += 1
            continue
        for task in tasks:
            node = locked.get(task)
            if node is not None and node in eligible:
                kept[task] = node
                total[node] += 1
    return kept


def _lock(config: Config, seed: int) -> dict[str, str]:
    """A lock of a first placement, then shuffled: some tasks dropped, some moved to another
    node (eligible or not), some on a node that does not exist, some tasks invented."""
    rng = random.Random(seed)
    first = dict(place(config, {}).tasks)
    nodes = sorted(config.nodes)
    out: dict[str, str] = {}
    for task, node in first.items():
        roll = rng.random()
        if roll < 0.15:
            continue
        out[task] = rng.choice(nodes) if roll < 0.3 else "gone-node" if roll < 0.35 else node
    for name in list(config.services)[:2]:
        out[f"{name}.{99}"] = rng.choice(nodes)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_column_wise_placement_is_the_plain_rule(seed: int) -> None:
    config = generate_config(3 + seed % 5, 1 + seed % 4, seed)
    locked = {} if seed % 8 == 0 else _lock(config, seed)
    fast = place(config, locked)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(placement_mod, "_kept", _plain_kept)
        mp.setattr(placement_mod, "_all_kept", lambda *args: None)
        mp.setattr(placement_mod, "_spread_fresh", lambda *args: None)  # `_spread` for every service
        plain = place(config, locked)
    assert list(fast.tasks.items()) == list(plain.tasks.items())
    assert fast.diagnostics == plain.diagnostics


def test_an_up_to_date_lock_keeps_every_task_without_the_pool() -> None:
    config = Config.model_validate({
        "version": 1, "cluster": {"name": "t", "id": "cluster-test"},
        "nodes": {f"node{i}": {"address": f"192.0.2.{i}"} for i in range(1, 4)},
        "services": {"web": {"replicas": 7}, "db": {"replicas": 2}},
    })
    first = dict(place(config, {}).tasks)
    again = place(config, first)
    assert dict(again.tasks) == first and list(again.tasks) == list(first)
