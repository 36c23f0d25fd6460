"""The FDB watch against real kernels in test namespaces: an observe through a handle with
watches (apply's) reads its FDB entries from the kernel's notifications (its neighbours from a
dump), says what a dump says after overlayc's changes and after anyone else's, dumps again when it
cannot be sure, and lets verify see an entry someone else deleted during an apply."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from ipaddress import IPv4Address

import pytest

from overlayc.apply.kernel import KernelHandle
from overlayc.apply.run import Outcome, apply_changes
from overlayc.diff import diff
from overlayc.kernel.objects import Fdb, KernelObject, Neigh
from overlayc.kernel.state import KernelState
from overlayc.netlink import neigh as nl_neigh
from overlayc.netlink import watch as nl_watch
from overlayc.observe import kernel as obs
from overlayc.plan import order
from tests.support.kernel import bridge, entries, iface, sh, vxlan


def network() -> list[KernelObject]:
    return [bridge(address=iface("10.1.255.1/16")), vxlan()]


@pytest.fixture
def dumps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The families of the entry dumps observe makes (AF_BRIDGE: the FDB's)."""
    made: list[int] = []
    real = obs._neigh_dump

    def counted(rt: object, family: int, parse: object, got: object) -> None:
        made.append(family)
        real(rt, family, parse, got)  # type: ignore[arg-type]

    monkeypatch.setattr(obs, "_neigh_dump", counted)
    yield made


def _apply(h: KernelHandle, desired: KernelState) -> None:
    result = apply_changes(h, desired, order(diff(desired, h.observe())))
    assert result.outcome is Outcome.CHANGED, result.failures


@pytest.mark.kernel
def test_entries_made_after_the_watch_are_read_from_it_and_equal_a_dump(netns: str, dumps: list[int]) -> None:
    desired = KernelState([*network(), *entries(300)])
    with KernelHandle(netns, watch=True) as h:
        assert h.observe().owned == KernelState()  # the watch starts here: no device yet
        _apply(h, desired)  # its verify read the FDB from the watch
        assert dumps == [nl_neigh.AF_UNSPEC]
        assert h.observe().owned == desired == obs.observe(netns).owned
        assert sorted(dumps) == [nl_neigh.AF_UNSPEC, nl_neigh.AF_UNSPEC, nl_neigh.AF_UNSPEC,
                                 nl_neigh.AF_BRIDGE]  # the last observe's, without a watch


@pytest.mark.kernel
def test_changes_by_anyone_else_are_seen_as_a_dump_sees_them(netns: str, dumps: list[int]) -> None:
    with KernelHandle(netns) as h:  # made before the watch: read once, then followed
        _apply(h, KernelState([*network(), *entries(200)]))
    with KernelHandle(netns, watch=True) as h:
        h.observe()
        dumps.clear()
        for line in ("bridge fdb del 02:42:0a:01:00:05 dev ovx1 dst 10.0.1.5 self",
                     "bridge fdb add 02:42:0a:09:00:01 dev ovx1 dst 10.0.9.1 self permanent",
                     "ip neigh replace 10.1.0.7 lladdr 02:42:0a:09:00:07 dev ovx1 nud permanent",
                     "ip neigh del 10.1.0.8 dev ovx1",
                     "ip neigh add 10.1.9.9 lladdr 02:42:0a:09:00:09 dev ovx1 nud permanent",
                     "ip neigh add 10.1.9.10 lladdr 02:42:0a:09:00:0a dev ovx1 nud reachable"):
            sh(netns, line)
        seen = h.observe().owned
        assert dumps == [nl_neigh.AF_UNSPEC]
        truth = obs.observe(netns).owned
        assert seen == truth
        assert Fdb("ovx1", "02:42:0a:09:00:01", IPv4Address("10.0.9.1")) in truth.entries.objects()
        assert Neigh("ovx1", IPv4Address("10.1.0.7"), "02:42:0a:09:00:07") in truth.entries.objects()


@pytest.mark.kernel
def test_a_replaced_fdb_dst_makes_it_dump_again(netns: str, dumps: list[int]) -> None:
    """`bridge fdb replace` notifies the new remote only: the watch cannot tell replace from
    append, so observe reads the FDB again (and says what the kernel holds)."""
    with KernelHandle(netns, watch=True) as h:
        h.observe()
        _apply(h, KernelState([*network(), *entries(50)]))
        sh(netns, "bridge fdb replace 02:42:0a:01:00:03 dev ovx1 dst 10.0.7.7 self permanent")
        dumps.clear()
        seen = h.observe().owned
        assert nl_neigh.AF_BRIDGE in dumps
        assert seen == obs.observe(netns).owned
        assert Fdb("ovx1", "02:42:0a:01:00:03", IPv4Address("10.0.7.7")) in seen.entries.objects()
        assert Fdb("ovx1", "02:42:0a:01:00:03", IPv4Address("10.0.1.3")) not in seen.entries.objects()


@pytest.mark.kernel
def test_verify_sees_an_entry_deleted_by_someone_else_and_rolls_back(netns: str, dumps: list[int]) -> None:
    desired = KernelState([*network(), *entries(100)])
    with KernelHandle(netns, watch=True) as h:
        prior = h.observe().owned
        changes = order(diff(desired, h.observe()))
        result = apply_changes(h, desired, changes, prior=prior, after_execute=lambda: sh(
            netns, "bridge fdb del 02:42:0a:01:00:09 dev ovx1 dst 10.0.1.9 self"))
        assert nl_neigh.AF_BRIDGE not in dumps
    assert result.outcome is Outcome.ROLLED_BACK
    assert result.failures == ["verification: after apply the kernel still needs create fdb ovx1 "
                               "02:42:0a:01:00:09 10.0.1.9"]
    assert obs.observe(netns).owned == prior


@pytest.mark.kernel
def test_a_watch_that_lost_notifications_dumps_again(netns: str, dumps: list[int],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nl_watch, "WATCH_RCVBUF", 0)  # the kernel's smallest queue: a few kB
    with KernelHandle(netns, watch=True) as h:
        h.observe()
        _apply(h, KernelState(network()))
        lines = "".join(f"fdb add 02:42:0a:05:{i >> 8:02x}:{i & 255:02x} dev ovx1 dst 10.0.5.{i & 255} "
                        "self permanent\n" for i in range(300))
        subprocess.run(["ip", "netns", "exec", netns, "bridge", "-batch", "-"], input=lines, text=True,
                       check=True)  # nobody drains the watch meanwhile: its queue overflows
        seen = h.observe().owned
        assert nl_neigh.AF_BRIDGE in dumps
        assert seen == obs.observe(netns).owned
        assert len([o for o in seen.entries.objects() if isinstance(o, Fdb)]) == 300
