"""`ByNode` (an Assignment's attachments per node, built per node as asked) holds what the index
built attachment by attachment holds: the same tuples per node, the same nodes in the same order,
equal to that dict either way round, asked one node first or walked whole first."""

from __future__ import annotations

import pytest

from overlayc.compile import Lock, resolve
from overlayc.compile.assign import Assignment, Attachment
from overlayc.compile.bynode import ByNode
from tests.support.gen import generate_config


def _eager(assignment: Assignment) -> dict[str, tuple[Attachment, ...]]:
    grouped: dict[str, list[Attachment]] = {}
    for atts in assignment.attachments.values():
        for a in atts:
            grouped.setdefault(a.node, []).append(a)
    return {node: tuple(atts) for node, atts in grouped.items()}


@pytest.mark.parametrize("seed", range(8))
def test_by_node_is_the_index_built_attachment_by_attachment(seed: int) -> None:
    config = generate_config(4 + seed, 1 + seed % 4, seed)
    assignment = resolve(config, Lock())[0]
    eager = _eager(assignment)
    one_first, whole_first = ByNode(assignment.attachments), ByNode(assignment.attachments)
    for node in sorted(config.nodes):  # one node at a time, before anything walks it
        assert one_first.get(node, ()) == eager.get(node, ())
        assert (node in one_first) == (node in eager)
    assert list(whole_first) == list(eager) and len(whole_first) == len(eager)
    assert dict(whole_first.items()) == eager and whole_first == eager and eager == whole_first
    assert one_first == eager and list(one_first.items()) == list(eager.items())
    with pytest.raises(KeyError):
        ByNode(assignment.attachments)["no-such-node"]
    assert isinstance(assignment.by_node, ByNode) and assignment.by_node == eager
