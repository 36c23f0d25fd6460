"""The fast paths of YAML loading agree with the exact ones (issue 13: 200,000 keys in < 10 s).

`yaml_graph_problem` answers a plain tree with one light walk and measures anything else exactly;
the config parser looks ruamel's resolver rules up once per document. Both must give the answers
of the slow paths on the same documents."""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.nodes import Node

from overlayc.config import source
from overlayc.files import bounded
from overlayc.files.limits import LIMITS
from tests.support.yamlnodes import node_tags

DOCUMENTS = [
    "a: 1\nb: [x, y, {c: d}]\n",
    "base: &b {x: 1, y: [1, 2]}\nuse: *b\nagain: *b\n",
    "s: &s word\nl: [*s, *s, *s]\n",
    "r: &r [1, *r]\n",
    "deep: " + "[" * 70 + "]" * 70 + "\n",
    "bomb: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"l{i}: &a{i} [*{'a' if i == 0 else f'a{i - 1}'}, *{'a' if i == 0 else f'a{i - 1}'}, "
              f"*{'a' if i == 0 else f'a{i - 1}'}, *{'a' if i == 0 else f'a{i - 1}'}, "
              f"*{'a' if i == 0 else f'a{i - 1}'}, *{'a' if i == 0 else f'a{i - 1}'}]\n" for i in range(7)),
    "labels:\n" + "".join(f"  k{i}: v{i}\n" for i in range(3000)),
]


def _compose(text: str) -> Node:
    node: Node = YAML(typ="safe", pure=True).compose(text)
    assert node is not None
    return node


def _message(found: tuple[Node, str] | None) -> tuple[int, str] | None:
    return None if found is None else (id(found[0]), found[1])


@pytest.mark.parametrize("text", DOCUMENTS)
def test_graph_check_fast_path_gives_the_exact_answer(text: str) -> None:
    root = _compose(text)
    assert _message(bounded.yaml_graph_problem(root)) == _message(bounded._graph_problem(root))


def test_plain_tree_is_only_claimed_for_trees_within_the_caps() -> None:
    assert bounded._plain_tree(_compose(DOCUMENTS[0]))
    assert bounded._plain_tree(_compose(DOCUMENTS[-1]))
    for text in DOCUMENTS[1:6]:  # aliases, recursion, depth: the exact walk decides
        assert not bounded._plain_tree(_compose(text))


def test_plain_tree_above_the_node_cap_goes_to_the_exact_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    root = _compose(DOCUMENTS[0])
    monkeypatch.setattr(bounded, "LIMITS", type(LIMITS)(yaml_nodes=3))
    assert not bounded._plain_tree(root)
    found = bounded.yaml_graph_problem(root)
    assert found is not None and "more than 3 values" in found[1]



SCALARS = ("a: 1\nb: 0o17\nc: 1.5\nd: true\ne: null\nf: ~\ng: 2026-01-01\nh: '1'\ni: yes\nj: 0x1f\n"
           "k: .inf\nl: -3\nm: ''\nn: [1, two, 3.0, false, !!str 4]\n")


def test_resolver_looked_up_once_tags_like_the_stock_resolver() -> None:
    """The same tags, scalar by scalar, as libyaml's parser with ruamel's own resolver."""
    yaml, fast = source._compose(SCALARS)
    assert yaml.Resolver is source._OneVersionResolver and fast is not None
    stock = YAML(typ="safe").compose(SCALARS)
    assert node_tags(fast) == node_tags(stock)
    assert node_tags(fast) == node_tags(_compose(SCALARS))


CONFIG_LIKE = ("version: 1\ncluster: {name: c, id: c-0001}\nnodes:\n  n1:\n    address: 192.0.2.1\n"
               "    labels: {a: '1', b: !!str 2, c: yes, d: null}\nnetworks:\n  web: &w\n"
               "    subnet: 10.0.0.0/24\n"
               "    gateway: 10.0.0.1\n  db: *w\nlist:\n  - x\n  - [1, 2.5, true, 2026-01-01, 'q']\n"
               "dup: {k: 1, k: 2}\n")


def test_walker_string_shortcut_gives_the_constructors_data_and_map(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strings taken straight from their node: the same data, source map and diagnostics as
    through ruamel's safe constructor."""
    fast_map = source.SourceMap()
    fast = source.parse_yaml("c.yaml", CONFIG_LIKE, fast_map)
    monkeypatch.setattr(source, "_STR", "no tag is this")
    slow_map = source.SourceMap()
    slow = source.parse_yaml("c.yaml", CONFIG_LIKE, slow_map)
    assert fast == slow and fast[0] is not None and fast[1]  # the duplicate key is a diagnostic
    assert fast_map == slow_map
    assert fast[0]["nodes"]["n1"]["labels"] == {"a": "1", "b": "2", "c": "yes", "d": None}
