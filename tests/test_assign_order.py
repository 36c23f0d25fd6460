"""compile/assign's natural ranks sort exactly as `natural_key` does (ties included), so the
Assignment's order is the documented one."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from overlayc.compile import Lock, resolve
from overlayc.compile.assign import _natural_ranks
from overlayc.compile.naming import natural_key
from tests.support.gen import generate_config

NAMES = st.lists(st.from_regex(r"[a-c]{1,2}(\.(0|00|1|01|2|10|x|node1))?", fullmatch=True), max_size=30)


@given(NAMES)
def test_sorting_by_rank_is_sorting_by_natural_key(names: list[str]) -> None:
    rank = _natural_ranks(names)
    assert sorted(names, key=rank.__getitem__) == sorted(names, key=natural_key)  # stable: ties keep order
    for a in names:
        for b in names:
            assert (rank[a] < rank[b]) == (natural_key(a) < natural_key(b))


def test_equal_keys_share_a_rank() -> None:
    rank = _natural_ranks(["web.10", "web.2", "web.02", "web", "web.x", "b.1"])
    assert rank["web.2"] == rank["web.02"] < rank["web.10"]
    assert len(set(rank.values())) == 5


def test_attachments_are_in_natural_order_on_generated_clusters() -> None:
    for seed in (1, 2, 3):
        config = generate_config(40, 5, seed)
        assignment, _, _ = resolve(config, Lock())
        for atts in assignment.attachments.values():
            names = [a.endpoint for a in atts]
            shuffled = random.Random(seed).sample(names, len(names))
            assert names == sorted(shuffled, key=natural_key)
