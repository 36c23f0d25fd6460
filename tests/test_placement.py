"""Placement: constraints, spread, global services, and stability under a lock."""

from __future__ import annotations

from typing import Any

import pytest

from overlayc.compile import place
from overlayc.config.model import Config


def cfg(services: dict[str, Any], nodes: dict[str, Any] | None = None) -> Config:
    nodes = nodes or {
        "node1": {"address": "192.0.2.1", "role": "manager", "labels": {"zone": "a"}},
        "node2": {"address": "192.0.2.2", "labels": {"zone": "b"}},
        "node3": {"address": "192.0.2.3", "labels": {"zone": "a"}},
    }
    return Config.model_validate({
        "version": 1, "cluster": {"name": "t", "id": "cluster-test"}, "nodes": nodes,
        "networks": {"n": {"subnet": "10.0.0.0/24"}}, "services": services,
    })


def test_replicas_spread_fewest_tasks_first_ties_by_name() -> None:
    placement = place(cfg({"web": {"replicas": 5, "networks": ["n"]}}), {})
    assert dict(placement.tasks) == {
        "web.1": "node1", "web.2": "node2", "web.3": "node3", "web.4": "node1", "web.5": "node2",
    }
    assert placement.diagnostics == ()


def test_default_replicas_is_one_and_zero_means_none() -> None:
    placement = place(cfg({"a": {"networks": ["n"]}, "b": {"replicas": 0}}), {})
    assert dict(placement.tasks) == {"a.1": "node1"}


def test_spread_accounts_for_tasks_of_other_services() -> None:
    placement = place(cfg({"a": {"replicas": 2}, "b": {"replicas": 1}}), {})
    assert placement.tasks["b.1"] == "node3"


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("node.hostname != node1", {"node2", "node3"}),
        ("node.hostname==node2", {"node2"}),
        ("node.role == manager", {"node1"}),
        ("node.role != manager", {"node2", "node3"}),
        ("node.labels.zone == a", {"node1", "node3"}),
        ("node.labels.zone != a", {"node2"}),
        ("node.labels.missing != x", {"node1", "node2", "node3"}),
        ("node.labels.missing == x", set()),
    ],
)
def test_constraints_select_nodes_for_global_services(constraint: str, expected: set[str]) -> None:
    placement = place(cfg({"g": {"mode": "global", "constraints": [constraint]}}), {})
    assert set(placement.tasks.values()) == expected
    assert set(placement.tasks) == {f"g.{n}" for n in expected}


def test_invalid_constraint_is_a_diagnostic_not_a_crash() -> None:
    placement = place(cfg({"web": {"replicas": 2, "constraints": ["node.colour == red"]}}), {})
    assert dict(placement.tasks) == {}
    # one diagnostic, from the config stage's producer (a constraint that does not parse is not
    # also reported as unsatisfiable, as validation does not)
    (diag,) = placement.diagnostics
    assert diag.code == "bad-constraint"
    assert diag.message == "service 'web': constraint 'node.colour == red': unknown field 'node.colour'"
    assert diag.hint == "did you mean 'node.role'?"


def test_unsatisfiable_constraint_is_reported() -> None:
    placement = place(cfg({"web": {"replicas": 1, "constraints": ["node.hostname == nowhere"]}}), {})
    assert [d.code for d in placement.diagnostics] == ["unsatisfiable"]
    expected = "service 'web': no node satisfies constraint 'node.hostname == nowhere'"
    assert placement.diagnostics[0].message == expected


def test_locked_task_stays_while_constraints_hold() -> None:
    config = cfg({"web": {"replicas": 3}})
    placement = place(config, {"web.1": "node3", "web.2": "node3"})
    assert placement.tasks["web.1"] == "node3" and placement.tasks["web.2"] == "node3"
    assert placement.tasks["web.3"] == "node1"


def test_locked_task_moves_when_constraint_no_longer_holds_or_node_is_gone() -> None:
    config = cfg({"web": {"replicas": 2, "constraints": ["node.hostname != node3"]}})
    placement = place(config, {"web.1": "node3", "web.2": "node9"})
    assert set(placement.tasks.values()) <= {"node1", "node2"}
    assert placement.tasks["web.1"] != placement.tasks["web.2"]


def test_scale_down_removes_highest_numbered_tasks() -> None:
    locked = {"web.1": "node2", "web.2": "node3", "web.3": "node1"}
    placement = place(cfg({"web": {"replicas": 2}}), locked)
    assert dict(placement.tasks) == {"web.1": "node2", "web.2": "node3"}


def test_adding_a_service_moves_no_existing_task() -> None:
    before = place(cfg({"web": {"replicas": 4}}), {})
    after = place(cfg({"web": {"replicas": 4}, "api": {"replicas": 3}}), before.tasks)
    assert {t: after.tasks[t] for t in before.tasks} == dict(before.tasks)


def test_global_tasks_count_as_load_for_replicated_services() -> None:
    placement = place(cfg({"agent": {"mode": "global", "constraints": ["node.hostname == node1"]},
                           "web": {"replicas": 1}}), {})
    assert placement.tasks == {"agent.node1": "node1", "web.1": "node2"}
