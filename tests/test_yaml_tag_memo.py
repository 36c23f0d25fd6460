"""The config parser's resolver memoises a plain scalar's tag by its text: the same tags, node
for node, as ruamel's stock resolver, for texts that repeat plain, quoted and tagged."""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.resolver import VersionedResolver

from overlayc.config import source
from tests.support.yamlnodes import node_tags

REPEATS = ("true: true\nt: [true, 'true', !!str true, True, true]\n"
           "1: 1\no: [1, '1', !!str 1, 1.0, 1]\nnull: [null, ~, 'null', null, '']\n"
           "yes: [yes, no, on, off, yes]\n2026-01-01: [2026-01-01, '2026-01-01', 2026-01-01]\n"
           "a: {a: a, 'b': 'a', c: a}\n")



def test_memoised_tags_are_the_stock_resolvers() -> None:
    yaml, fast = source._compose(REPEATS)
    assert yaml.Resolver is source._OneVersionResolver and fast is not None
    stock = YAML(typ="safe").compose(REPEATS)
    pure = YAML(typ="safe", pure=True).compose(REPEATS)
    assert node_tags(fast, values=True) == node_tags(stock, values=True) == node_tags(pure, values=True)


def test_memoised_tags_give_the_same_data(monkeypatch: pytest.MonkeyPatch) -> None:
    memo_map, stock_map = source.SourceMap(), source.SourceMap()
    memo = source.parse_yaml("r.yaml", REPEATS, memo_map)
    monkeypatch.setattr(source._OneVersionResolver, "resolve", VersionedResolver.resolve)
    assert memo == source.parse_yaml("r.yaml", REPEATS, stock_map) and memo_map == stock_map
    assert memo[1] == [] and memo[0] is not None
    assert memo[0]["t"] == [True, "true", "true", True, True] and memo[0]["o"] == [1, "1", "1", 1.0, 1]
