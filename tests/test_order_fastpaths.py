"""`KernelState.of_kind` and `plan.order` take shortcuts (sort only one kind; one position per
action and kind outside xfrm); they give exactly the results of the plain definitions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from overlayc.compile import compile_node
from overlayc.compile.assign import resolve
from overlayc.compile.lock import Lock
from overlayc.diff import Action, Change, Reason
from overlayc.kernel.objects import KIND_ORDER, IPAddress
from overlayc.kernel.state import KernelState
from overlayc.plan import _position, order
from tests.support.gen import generate_config

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _states() -> list[tuple[KernelState, IPAddress]]:
    out: list[tuple[KernelState, IPAddress]] = []
    for seed in (1, 2, 3, 4):
        config = generate_config(12, 4, seed)
        assignment, _, _ = resolve(config, Lock())
        for node in list(config.nodes)[:3]:
            state = compile_node(config, assignment, node, at=AT, private_key=b"\1" * 32)
            out.append((state, config.nodes[node].address))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_of_kind_is_the_filtered_iteration(seed: int) -> None:
    state, _ = _states()[seed * 3]
    kinds = {o.kind for o in state}
    assert len(kinds) >= 4
    for kind in [*KIND_ORDER, "nothing"]:
        assert state.of_kind(kind) == [o for o in state if o.kind == kind]


def test_order_is_the_plain_sort_by_position() -> None:
    checked = set()
    for state, local in _states():
        objects = list(state)
        changes = [Change(Action.CREATE, o.key, None, o, Reason.NOT_IN_KERNEL) for o in objects[::2]]
        changes += [Change(Action.DELETE, o.key, o, None, Reason.NOT_IN_CONFIG) for o in objects[1::2]]
        # updates share their kind's position with its creates (a bucket of mixed actions), and a
        # key planned twice in one position is ordered by action
        changes += [Change(Action.UPDATE, o.key, o, o, Reason.DRIFT) for o in objects[1::3]]
        changes += [Change(Action.UPDATE, o.key, o, o, Reason.DRIFT) for o in objects[::5]]
        changes.reverse()
        for given in (changes, changes[::-1]):
            plain = sorted(given, key=lambda c: (_position(c, local), c.key, c.action is Action.CREATE))
            assert order(given, local) == plain
        checked |= {c.kind for c in changes}
    assert {"bridge", "vxlan", "fdb", "neigh", "netns", "endpoint"} <= checked  # xfrm: not cached
