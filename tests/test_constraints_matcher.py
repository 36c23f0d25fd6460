"""config.constraints.NodeMatcher (each distinct constraint tested once per node) agrees with
testing every node against every constraint, in config order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from overlayc.config.constraints import NodeMatcher, eligible, parse_constraint
from overlayc.config.model import Config
from overlayc.config.source import SourceMap
from overlayc.config.validate_placement import unsatisfiable

FIELDS = ["node.hostname", "node.role", "node.labels.zone", "node.labels.rack"]
VALUES = ["node1", "node3", "manager", "worker", "a", "b", "c", "r1"]


@st.composite
def clusters(draw: st.DrawFn) -> Config:
    n = draw(st.integers(1, 12))
    order = draw(st.permutations(range(1, n + 1)))  # config order is not name order
    nodes = {}
    for i in order:
        labels = {"zone": draw(st.sampled_from("abc"))}
        if draw(st.booleans()):
            labels["rack"] = draw(st.sampled_from(["r1", "r2"]))
        nodes[f"node{i}"] = {"address": f"10.0.0.{i}", "labels": labels,
                             "role": draw(st.sampled_from(["manager", "worker"]))}
    constraint = st.builds(lambda f, op, v: f"{f} {op} {v}", st.sampled_from(FIELDS),
                           st.sampled_from(["==", "!="]), st.sampled_from(VALUES))
    services = {f"s{i}": {"constraints": draw(st.lists(constraint, max_size=3))} for i in range(6)}
    return Config.model_validate({"version": 1, "cluster": {"name": "c", "id": "cluster-1"}, "nodes": nodes,
                                  "services": services})


@settings(max_examples=150, deadline=None)
@given(clusters())
def test_the_matcher_agrees_with_testing_every_node(config: Config) -> None:
    matcher = NodeMatcher(config.nodes)  # shared across services, as validation and placement share it
    smap = SourceMap()
    for name, service in config.services.items():
        parsed = [parse_constraint(c) for c in service.constraints]
        assert matcher.eligible(parsed) == eligible(parsed, dict(config.nodes))
        assert matcher.satisfying(parsed) == frozenset(eligible(parsed, dict(config.nodes)))
        for c in parsed:
            assert matcher.matching(c) == frozenset(eligible([c], dict(config.nodes)))
        found = unsatisfiable(config, name, smap.locate, matcher=matcher)
        assert (None if found is None else (found.message, found.hint)) == _unsatisfiable(config, name)


def _unsatisfiable(config: Config, name: str) -> tuple[str, str] | None:
    """The rule `unsatisfiable` implements, without a matcher: constraints in order over the
    nodes left by the ones before, naming the first that leaves none and the candidates then."""
    nodes = dict(config.nodes)
    for i, c in enumerate(parse_constraint(t) for t in config.services[name].constraints):
        left = eligible([c], nodes)
        if not left:
            return (f"service '{name}': no node satisfies constraint '{c}'"
                    + (" (together with the constraints before it)" if i else ""),
                    f"candidates were: {', '.join(nodes)}")
        nodes = {n: nodes[n] for n in left}
    return None
