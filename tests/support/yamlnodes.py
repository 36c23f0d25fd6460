"""What a composed YAML tree says about each node, for comparing two composers' trees."""

from __future__ import annotations

from typing import Any

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


def node_tags(node: Node, values: bool = False) -> list[Any]:
    """(node type, tag) of every node, depth first (with a scalar's text too when `values`)."""
    here: tuple[Any, ...] = (type(node).__name__, node.tag)
    if values:
        here += (node.value if type(node.value) is str else None,)
    out: list[Any] = [here]
    if isinstance(node, MappingNode):
        for k, v in node.value:
            out += node_tags(k, values) + node_tags(v, values)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            out += node_tags(item, values)
    else:
        assert isinstance(node, ScalarNode)
    return out
