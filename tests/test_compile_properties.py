"""Properties of resolve + compile_node on generated clusters (tests/support/gen.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from overlayc.compile import Assignment, Lock, resolve
from overlayc.compile.naming import vxlan_name
from overlayc.config.model import Config
from overlayc.kernel.objects import IFNAMSIZ, Bridge, Endpoint, Fdb, Neigh, Vxlan
from overlayc.kernel.state import KernelState
from tests.support.builders import compile_for
from tests.support.gen import config_dict, configs

FAST = settings(max_examples=25, deadline=None)


def resolved(config: Config, lock: Lock | None = None) -> tuple[Assignment, Lock]:
    assignment, new, diags = resolve(config, lock or Lock())
    assert diags == []
    return assignment, new


def states(config: Config, assignment: Assignment) -> dict[str, KernelState]:
    return {n: compile_for(config, n, assignment=assignment) for n in config.nodes}


@FAST
@given(configs())
def test_compile_is_deterministic(config: Config) -> None:
    first, lock1 = resolved(config)
    second, lock2 = resolved(Config.model_validate(config.model_dump()))
    assert lock1 == lock2
    assert {n: s.dumps() for n, s in states(config, first).items()} == {
        n: s.dumps() for n, s in states(config, second).items()
    }


@FAST
@given(configs())
def test_fdb_and_neigh_are_exactly_the_remote_endpoints(config: Config) -> None:
    assignment, _ = resolved(config)
    for node, state in states(config, assignment).items():
        expected_fdb, expected_neigh = set(), set()
        for network in assignment.present(node):
            dev = vxlan_name(assignment.vnis[network])
            for a in assignment.attachments[network]:
                if a.node != node:
                    expected_fdb.add((dev, a.mac, config.nodes[a.node].address))
                    expected_neigh.add((dev, a.ip, a.mac))
        fdb = {(o.dev, o.lladdr, o.dst) for o in state if isinstance(o, Fdb)}
        neigh = {(o.dev, o.dst, o.lladdr) for o in state if isinstance(o, Neigh)}
        assert fdb == expected_fdb
        assert neigh == expected_neigh


@FAST
@given(configs())
def test_no_object_for_an_absent_network(config: Config) -> None:
    assignment, _ = resolved(config)
    for node, state in states(config, assignment).items():
        present_vnis = {assignment.vnis[n] for n in assignment.present(node)}
        bridges = {o.name for o in state if isinstance(o, Bridge)}
        vxlans = {o.name for o in state if isinstance(o, Vxlan)}
        assert bridges == {f"ovb{v}" for v in present_vnis}
        assert vxlans == {f"ovx{v}" for v in present_vnis}
        assert {o.dev for o in state if isinstance(o, Fdb | Neigh)} <= vxlans
        assert {o.bridge for o in state if isinstance(o, Endpoint)} <= bridges


@FAST
@given(configs())
def test_link_names_are_unique_and_fit_ifnamsiz(config: Config) -> None:
    assignment, _ = resolved(config)
    for state in states(config, assignment).values():
        links = [o.name for o in state if isinstance(o, Bridge | Vxlan)]
        links += [o.host for o in state if isinstance(o, Endpoint)]
        assert len(links) == len(set(links))
        assert all(0 < len(name) <= IFNAMSIZ for name in links)
        inside = [(o.netns, o.ifname) for o in state if isinstance(o, Endpoint)]
        assert len(inside) == len(set(inside))


def _pins(assignment: Assignment) -> dict[tuple[str, str], tuple[str, Any, str]]:
    return {
        (a.endpoint, a.network): (a.node, a.ip, a.mac)
        for atts in assignment.attachments.values() for a in atts
    }


@FAST
@given(
    st.integers(1, 5), st.integers(0, 3), st.integers(0, 2**32 - 1),
    st.sampled_from(["replicated", "global"]), st.integers(1, 4), st.booleans(),
)
def test_adding_a_service_or_a_node_keeps_everything_locked(
    n_nodes: int, per_node: int, seed: int, mode: str, replicas: int, add_node: bool
) -> None:
    data = config_dict(n_nodes, per_node, seed)
    before, lock = resolved(Config.model_validate(data))
    networks = sorted(data["networks"])
    new_service: dict[str, Any] = {"networks": networks[:2]}
    new_service.update({"mode": "global"} if mode == "global" else {"replicas": replicas})
    data["services"]["zz-new"] = new_service
    if add_node:
        data["nodes"]["node-extra"] = {"address": "10.200.0.1", "labels": {"zone": "b"}}
    after, _ = resolved(Config.model_validate(data), lock)
    assert {t: after.tasks[t] for t in before.tasks} == dict(before.tasks)
    assert dict(after.vnis) == dict(before.vnis)
    after_pins = _pins(after)
    assert {k: after_pins[k] for k in _pins(before)} == _pins(before)


@FAST
@given(st.integers(2, 5), st.integers(1, 3), st.integers(0, 2**32 - 1), st.data())
def test_removing_a_service_or_a_node_moves_nothing_else(
    n_nodes: int, per_node: int, seed: int, data: st.DataObject
) -> None:
    config = config_dict(n_nodes, per_node, seed)
    before, lock = resolved(Config.model_validate(config))
    gone_service = data.draw(st.sampled_from(sorted(config["services"])))
    gone_node = data.draw(st.sampled_from(sorted(config["nodes"])))
    del config["services"][gone_service]
    del config["nodes"][gone_node]
    for ep in [e for e, v in config["endpoints"].items() if v["node"] == gone_node]:
        del config["endpoints"][ep]
    for service in config["services"].values():  # loosening keeps every locked task eligible
        service["constraints"] = []
    after, _ = resolved(Config.model_validate(config), lock)
    survivors = {
        t: n for t, n in before.tasks.items()
        if n != gone_node and t.rsplit(".", 1)[0] != gone_service
    }
    assert {t: after.tasks[t] for t in survivors} == survivors
    after_pins = _pins(after)
    alive = set(after.tasks) | set(config["endpoints"])
    kept = {k: v for k, v in _pins(before).items() if v[0] != gone_node and k[0] in alive}
    assert kept or not survivors
    assert {k: after_pins[k] for k in kept} == kept
