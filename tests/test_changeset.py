"""Entry changes carried compactly (overlayc.changeset): a plan of many fdb/neighbour creates
holds runs of bytes, not one Change/Fdb/Neigh per entry, and is the per-entry plan in every
view: the changes, JSON, text (grouped and --full), a saved plan, the summary, the digests and
staleness, the journal's intents and the executor's packed messages."""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from overlayc.apply.journal import intents_of
from overlayc.apply.requests import entry_messages, requests_for
from overlayc.changeset import Changes, EntryRun, devices_of, kinds_of, picked
from overlayc.diff import Action, Change, Reason, diff
from overlayc.files.plan_doc import plan_from_json
from overlayc.kernel.objects import Fdb, KernelObject, Neigh
from overlayc.kernel.state import KernelState, Observed
from overlayc.netlink.core import NLM_F_REQUEST, pack_msg
from overlayc.plan import EntryDigests, Plan, dumps, make_plan, object_digest, order, stale_keys
from overlayc.render.groups import group_changes
from overlayc.render.plan import render_plan_text
from tests.support.planobjects import bridge, vxlan

AT = datetime(2026, 1, 1, tzinfo=UTC)
LOCAL = IPv4Address("10.0.0.1")
DEVS = ("vx-a", "vx-b")
IFINDEX = {"vx-a": 7, "vx-b": 9}


def _mac(i: int, first: int = 0x02) -> str:
    return f"{first:02x}:42:0a:00:{i >> 8:02x}:{i & 0xff:02x}"


def _entries(n: int, dev: str, *, v6: bool = False) -> list[Fdb | Neigh]:
    """`n` endpoints behind VTEPs 10.0.0.2..: one fdb and one neighbour entry each, addresses
    whose texts sort otherwise than their bytes (…9 before …10), one MAC behind two VTEPs, and
    (`v6`) IPv6 VTEPs and neighbours."""
    out: list[Fdb | Neigh] = []
    for i in range(n):
        mac = _mac(i)
        six = v6 and i % 3 == 0
        vtep = IPv6Address(f"fd00::{i % 11 + 2}") if six else IPv4Address(f"10.0.0.{i % 11 + 2}")
        six = v6 and i % 4 == 0
        dst = IPv6Address(f"fd00:1::{i:x}") if six else IPv4Address(f"172.16.{i >> 8}.{i & 0xff}")
        out += [Fdb(dev, mac, vtep), Neigh(dev, dst, mac)]
    out.append(Fdb(dev, _mac(1), IPv4Address("10.0.0.99")))  # MAC 1 behind a second VTEP
    return out


def _links() -> list[KernelObject]:
    return [bridge("a"), vxlan("a"), bridge("b"), vxlan("b")]


def _plan(desired: Sequence[KernelObject], live: Sequence[KernelObject]) -> tuple[Plan, Observed]:
    observed = Observed(KernelState(live))
    return make_plan("node1", "ns1", AT, "c0ffee" * 10 + "c0ff", diff(KernelState(desired), observed),
                     observed, LOCAL), observed


def _reference(desired: Sequence[KernelObject], live: Sequence[KernelObject]) -> Plan:
    """The plan as it was made before runs: one Change per entry, ordered one by one, a digest
    per key."""
    want, have = {o.key: o for o in desired}, {o.key: o for o in live}
    changes: list[Change] = []
    for key, obj in want.items():
        if key not in have:
            changes.append(Change(Action.CREATE, key, None, obj, Reason.NOT_IN_KERNEL))
        elif have[key] != obj:
            changes.append(Change(Action.UPDATE, key, have[key], obj, Reason.DRIFT, ("lladdr",)))
    changes += [Change(Action.DELETE, key, obj, None, Reason.NOT_IN_CONFIG) for key, obj in have.items()
                if key not in want]
    ordered = tuple(order(changes, LOCAL))
    assert not any(isinstance(p, EntryRun) for p in order(changes, LOCAL).parts)
    live_state = KernelState(live)
    digests = {c.key: object_digest(live_state.get(c.key)) for c in ordered}
    return Plan("1.0", "node1", "ns1", AT, "c0ffee" * 10 + "c0ff", ordered, digests)


def _scenarios() -> dict[str, tuple[list[KernelObject], list[KernelObject]]]:
    a, b = _entries(300, "vx-a", v6=True), _entries(200, "vx-b")
    moved = [Neigh(o.dev, o.dst, _mac(9000)) for o in a[101:121:2] if isinstance(o, Neigh)]
    return {
        "from empty": ([*_links(), *a, *b], _links()),
        "both ways": ([*_links(), *a[:250], *b[100:]], [*_links(), *a[150:], *b[:300]]),
        # neighbour MACs changed on a device that also gets creates: the run is taken apart there
        "updates inside a run": ([*_links(), *a], [*_links(), *a[100:200:2], *moved]),
    }


SCENARIOS = _scenarios()


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_compact_plan_is_the_per_entry_plan_in_every_view(name: str) -> None:
    desired, live = SCENARIOS[name]
    plan, observed = _plan(desired, live)
    ref = _reference(desired, live)
    assert isinstance(plan.changes, Changes) and any(isinstance(p, EntryRun) for p in plan.changes.parts)
    assert plan.changes == ref.changes and ref.changes == plan.changes
    assert list(plan.changes) == list(ref.changes)
    assert plan.summary() == ref.summary()
    assert dict(plan.live_digests) == dict(ref.live_digests) and plan == ref
    assert dumps(plan) == dumps(ref)
    for full in (False, True):
        assert render_plan_text(plan, full=full) == render_plan_text(ref, full=full)
    assert list(group_changes(plan.changes)) == list(group_changes(ref.changes))
    saved = plan_from_json(json.loads(dumps(plan)))
    assert saved == plan and dumps(saved) == dumps(plan)
    assert stale_keys(plan, observed) == stale_keys(ref, observed) == []
    assert intents_of(plan.changes) == intents_of(ref.changes)


@pytest.mark.parametrize("name", SCENARIOS)
def test_staleness_of_entries_planned_absent_is_exact(name: str) -> None:
    desired, live = SCENARIOS[name]
    plan, _ = _plan(desired, live)
    ref = _reference(desired, live)
    entries = [o for o in desired if isinstance(o, Fdb | Neigh)]
    appeared = [*live, *entries[::37]]  # some planned creates now exist, some with another MAC
    appeared = list({o.key: o for o in appeared}.values())
    now = Observed(KernelState([*appeared, Neigh("vx-b", ip_address("172.16.0.7"), _mac(7777))]
                               if not any(o.key == ("neigh", "vx-b", "172.16.0.7") for o in appeared)
                               else appeared))
    assert stale_keys(plan, now) == stale_keys(ref, now) != []


def test_a_plan_from_empty_holds_no_per_entry_objects_until_asked() -> None:
    n = 2000
    desired = KernelState([*_links(), *_entries(n, "vx-a"), *_entries(n, "vx-b")])
    live = Observed(KernelState(_links()))
    before = _instances()
    plan = make_plan("node1", None, AT, "0" * 64, diff(desired, live), live, LOCAL)
    text = render_plan_text(plan)
    messages = entry_messages(plan.changes, IFINDEX, 1)
    journal = intents_of(plan.changes)
    stale = stale_keys(plan, live)
    made = _instances() - before
    assert made < 20, f"{made} Change/Fdb/Neigh objects for a plan of {len(plan.changes)} entry changes"
    assert isinstance(plan.live_digests, EntryDigests) and not plan.live_digests.explicit
    assert plan.summary()["add"] == len(plan.changes) == 4 * n + 2
    assert f"{n + 1:,} fdb entries on vx-a" in text and messages is not None and len(messages) == 4 * n + 2
    assert journal == [] and stale == []
    assert isinstance(plan.changes, Changes) and [type(p) for p in plan.changes.parts] == [EntryRun] * 4
    assert len(list(plan.changes)) == 4 * n + 2 and _instances() - before >= 2 * (4 * n + 2) - 100  # asked


def _instances() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) in (Change, Fdb, Neigh))


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_sequence_of_runs_indexes_and_slices_as_the_tuple(name: str) -> None:
    desired, live = SCENARIOS[name]
    changes = order(diff(KernelState(desired), Observed(KernelState(live))), LOCAL)
    flat = tuple(changes)
    n = len(flat)
    assert len(changes) == n and [changes[i] for i in range(n)] == list(flat)
    assert changes[-1] == flat[-1] and changes[-n] == flat[0]
    with pytest.raises(IndexError):
        changes[n]
    for start, stop in ((0, n), (1, n - 1), (5, 6), (n // 3, 2 * n // 3), (7, 7), (n - 3, n + 9)):
        assert changes[start:stop] == flat[start:stop] and isinstance(changes[start:stop], Changes)
        assert list(changes[start:stop]) == list(flat[start:stop])
    assert changes[::7] == flat[::7]
    assert kinds_of(changes) == [c.key[0] for c in flat]
    idx = list(range(n // 4, n // 2))
    assert devices_of(changes, idx) == [flat[i].key[1] for i in idx]
    assert list(picked(changes, idx)) == [flat[i] for i in idx]
    assert list(picked(changes, [0, 3])) == [flat[0], flat[3]]
    assert changes.counts() == {a: n for a, n in
                                ((a, sum(c.action is a for c in flat)) for a in Action) if n}


@pytest.mark.parametrize("name", ["from empty", "both ways"])
def test_packed_runs_equal_the_requests_of_each_change(name: str) -> None:
    """Runs of both families are packed; a single IPv6 change takes the general path."""
    desired, live = SCENARIOS[name]
    changes = order(diff(KernelState(desired), Observed(KernelState(live))), LOCAL)
    entries = [i for i, c in enumerate(changes)
               if c.key[0] in ("fdb", "neigh") and c.action is not Action.DELETE]
    part = changes[entries[0]:entries[-1] + 1]
    messages = entry_messages(part, IFINDEX, 100)
    assert messages is not None and len(messages) == len(part)
    expected = [pack_msg(t, f | NLM_F_REQUEST, 100 + n, body)  # without ACK, as batch.send_chunked sends
                for n, c in enumerate(part) for t, f, body in requests_for(c, IFINDEX)]
    assert messages == expected
    assert entry_messages(part, {"vx-b": 9}, 1) is None  # a device missing: the general path
    six = [c for c in part if ":" in c.key[-1]]
    assert six and entry_messages(six[:1], IFINDEX, 1) is None
