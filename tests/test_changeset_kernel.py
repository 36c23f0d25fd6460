"""Runs of entry changes (overlayc.changeset) against real kernels in test namespaces: a compact
plan is applied whole, a refused entry in the middle of a run is attributed to its position in
the plan and rolled back exactly, and a verify finds an entry that went missing."""

from __future__ import annotations

import errno
from ipaddress import IPv4Address

import pytest

from overlayc.apply.kernel import KernelHandle
from overlayc.apply.run import Outcome, apply_changes
from overlayc.changeset import Changes, EntryRun
from overlayc.diff import Action, diff
from overlayc.errors import ExecutionError
from overlayc.kernel.objects import Fdb, KernelObject, Neigh
from overlayc.kernel.state import KernelState
from overlayc.netlink import batch
from overlayc.netlink.neigh import FDB_MSG
from overlayc.observe.kernel import observe
from overlayc.plan import order
from tests.support.host import ip_json, run_in
from tests.support.kernel import bridge, create, entries, iface, vxlan

# a multicast MAC (first octet odd): the vxlan driver refuses it (EOPNOTSUPP); 03:… sorts
# between the 02:… and 04:… MACs below, so it sits in the middle of the fdb run
REFUSED = Fdb("ovx1", "03:00:5e:00:00:01", IPv4Address("10.0.9.9"))


def network() -> list[KernelObject]:
    return [bridge(address=iface("10.1.255.1/16")), vxlan()]


def _endpoints() -> list[KernelObject]:
    """40 endpoints' fdb and neighbour entries, half with MACs 02:…, half 04:…."""
    out = entries(20)
    for i in range(20):
        mac = f"04:42:0a:02:00:{i:02x}"
        out += [Fdb("ovx1", mac, IPv4Address(f"10.0.3.{i}")), Neigh("ovx1", IPv4Address(f"10.1.2.{i}"), mac)]
    return out


def _planned(ns: str, desired: KernelState) -> Changes:
    with KernelHandle(ns) as h:
        h.execute([create(o) for o in network()])
    changes = order(diff(desired, observe(ns)))
    assert [(type(p), len(p) if isinstance(p, EntryRun) else 1) for p in changes.parts] == [
        (EntryRun, len([o for o in desired.entries.objects() if isinstance(o, Fdb)])), (EntryRun, 40)]
    return changes


def _kernel_entries(ns: str) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(MAC, dst) of the permanent fdb entries and (dst, MAC) of the neighbours on ovx1, as
    `bridge -j` and `ip -j` show them."""
    fdb = {(e["mac"], e["dst"]) for e in ip_json(ns, "bridge", "fdb", "show", "dev", "ovx1") if "dst" in e}
    neigh = {(e["dst"], e["lladdr"]) for e in ip_json(ns, "neigh", "show", "dev", "ovx1") if "lladdr" in e}
    return fdb, neigh


@pytest.mark.kernel
def test_a_compact_plan_is_applied_whole_and_verify_finds_a_missing_entry(netns: str) -> None:
    objs = _endpoints()
    desired = KernelState([*network(), *objs])
    changes = _planned(netns, desired)
    with KernelHandle(netns) as h:
        assert apply_changes(h, desired, changes).outcome is Outcome.CHANGED
    assert observe(netns).owned == desired
    fdb, neigh = _kernel_entries(netns)
    assert fdb == {(o.lladdr, str(o.dst)) for o in objs if isinstance(o, Fdb)}
    assert neigh == {(str(o.dst), o.lladdr) for o in objs if isinstance(o, Neigh)}
    run_in(netns, "bridge", "fdb", "del", "04:42:0a:02:00:05", "dev", "ovx1", "dst", "10.0.3.5")
    [missing] = diff(desired, observe(netns))
    assert missing.action is Action.CREATE and missing.key == ("fdb", "ovx1", "04:42:0a:02:00:05", "10.0.3.5")


@pytest.mark.kernel
def test_a_refused_entry_inside_a_run_is_named_by_its_position(
        netns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "CHUNK_BYTES", 10 * FDB_MSG.size)  # chunks of 10 entries
    desired = KernelState([*network(), *_endpoints(), REFUSED])
    changes = _planned(netns, desired)
    at = [c.key for c in changes].index(REFUSED.key)
    run = changes.parts[0]
    assert isinstance(run, EntryRun) and 0 < at < len(run) - 1  # inside the fdb run
    with KernelHandle(netns) as h, pytest.raises(ExecutionError) as caught:
        h.execute(changes)
    err = caught.value
    assert [i for i, _ in err.failures] == [at] and err.errnos == {errno.EOPNOTSUPP}
    assert "fdb 03:00:5e:00:00:01" in err.failures[0][1]
    # the fdb run's chunks sent, less the refused entry; the neighbour stream runs beside it
    # (overlayc.apply.streams) and stops at a chunk's end: what it did is in applied too
    in_run = tuple(i for i in err.applied if i < len(run))
    assert in_run == tuple(i for i in range(len(in_run) + 1) if i != at)
    assert all(changes[i].kind == "neigh" for i in err.applied if i >= len(run))
    applied = [changes[i].after for i in err.applied]
    assert observe(netns).owned == KernelState([*network(), *(o for o in applied if o is not None)])


@pytest.mark.kernel
def test_a_refused_entry_inside_a_run_is_rolled_back_exactly(
        netns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "CHUNK_BYTES", 16 * FDB_MSG.size)
    desired = KernelState([*network(), *_endpoints(), REFUSED])
    changes = _planned(netns, desired)
    prior = observe(netns).owned
    with KernelHandle(netns) as h:
        result = apply_changes(h, desired, changes)
    assert result.outcome is Outcome.ROLLED_BACK and result.executed > 0
    assert result.rollback_problems == [] and len(result.failures) == 1
    assert "create fdb ovx1 03:00:5e:00:00:01" in result.failures[0]
    assert observe(netns).owned == prior
    assert _kernel_entries(netns) == (set(), set())
