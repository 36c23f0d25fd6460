"""compile/assign sorts with each endpoint's natural key computed once: the Assignment's order
is still `natural_key` order, on every network."""

from __future__ import annotations

import random

from overlayc.compile import Lock, resolve
from overlayc.compile.naming import natural_key
from tests.support.gen import generate_config


def test_attachments_are_in_natural_order_on_generated_clusters() -> None:
    for seed in (1, 2, 3):
        config = generate_config(40, 5, seed)
        assignment, _, _ = resolve(config, Lock())
        for atts in assignment.attachments.values():
            names = [a.endpoint for a in atts]
            shuffled = random.Random(seed).sample(names, len(names))
            assert names == sorted(shuffled, key=natural_key)
