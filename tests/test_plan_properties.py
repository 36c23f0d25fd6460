"""Properties of diff + order over random desired/live pairs, checked on the simulated kernel:
the ordered plan applies cleanly and yields the desired state, the next plan is empty, no
ordering rule is violated, and rollback from a failure at any position restores the live state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlayc.config.load import load_config
from overlayc.diff import Action, Change, Reason, diff
from overlayc.kernel.objects import IPAddress, XfrmPolicy, XfrmState
from overlayc.kernel.state import KernelState, Observed
from overlayc.plan import order
from tests.support.builders import assign_loaded, compile_for
from tests.support.host import ROOT
from tests.support.planobjects import (
    LOCAL,
    PEERS,
    block_policy,
    bridge,
    fdb,
    neigh,
    peer_policy,
    sa,
    vxlan,
)
from tests.support.simkernel import SimError, SimKernel
from tests.support.strategies import MACS, consistent, plan, states


def _policies_without_sa(state: KernelState) -> set[tuple[str, ...]]:
    sas = {(o.src, o.dst) for o in state.of_kind("xfrm-state") if isinstance(o, XfrmState)}
    return {p.key for p in state.of_kind("xfrm-policy")
            if isinstance(p, XfrmPolicy) and p.tmpl is not None and (p.tmpl.src, p.tmpl.dst) not in sas}


def _open_ports(state: KernelState) -> set[tuple[str, int]]:
    """(dir, port) with per-peer allow policies but no block policy: plaintext would pass."""
    pols = [p for p in state.of_kind("xfrm-policy") if isinstance(p, XfrmPolicy)]
    blocked: set[tuple[str, int]] = {(p.dir, p.dport) for p in pols if p.action == "block"}
    allowed: set[tuple[str, int]] = {(p.dir, p.dport) for p in pols if p.action == "allow"}
    return allowed - blocked


def ordering_violations(changes: Sequence[Change], live: KernelState, desired: KernelState) -> list[str]:
    """Make-before-break and fail-closed, step by step: no step may leave a standing policy
    without its SA, or open a port for plaintext, unless the live or the desired state already
    does; link deletes precede every create."""
    out: list[str] = []
    sim = SimKernel.of(live)
    orphans = _policies_without_sa(live) | _policies_without_sa(desired)
    open_ = _open_ports(live) | _open_ports(desired)
    first_create = next((i for i, c in enumerate(changes) if c.action is not Action.DELETE), len(changes))
    for i, change in enumerate(changes):
        if change.action is Action.DELETE and change.kind in ("neigh", "fdb", "endpoint", "netns", "vxlan") \
                and i > first_create:
            out.append(f"{i}: link delete after a create")
        sim.execute_one(change)
        if _policies_without_sa(sim.snapshot()) - orphans:
            out.append(f"{i}: {change.key} leaves a policy without its SA")
        if _open_ports(sim.snapshot()) - open_:
            out.append(f"{i}: {change.key} opens an encrypted port")
    return out


def _same(a: KernelState, b: KernelState) -> bool:
    return not diff(a, Observed(b))


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(states(unknown_keys=True), states(unknown_keys=False))
def test_applying_the_plan_yields_the_desired_state_and_then_nothing_to_do(
        desired: KernelState, live: KernelState) -> None:
    sim = SimKernel.of(live)
    sim.execute(plan(desired, live))
    result = sim.snapshot()
    assert result.keys() == desired.keys()
    assert _same(desired, result)
    assert plan(desired, result) == []


@SETTINGS
@given(states(unknown_keys=False), states(unknown_keys=False))
def test_no_ordering_rule_is_violated(desired: KernelState, live: KernelState) -> None:
    assert ordering_violations(plan(desired, live), live, desired) == []


@SETTINGS
@given(states(unknown_keys=False), states(unknown_keys=False), st.integers(min_value=0))
def test_rollback_from_a_failure_at_any_position_restores_the_live_state(
        desired: KernelState, live: KernelState, k: int) -> None:
    changes = plan(desired, live)
    if not changes:
        return
    fail_at = k % len(changes)
    sim = SimKernel.of(live)
    try:
        sim.execute(changes, fail_at=fail_at)
    except SimError as err:
        assert err.change == changes[fail_at]
    else:
        raise AssertionError("the injected failure did not happen")
    assert len(sim.applied) == fail_at
    sim.rollback()
    assert sim.snapshot() == live


def test_the_plan_is_the_same_whatever_the_input_order() -> None:
    desired = consistent([bridge("a"), vxlan("a"), fdb("a", MACS[0], PEERS[0]), sa(PEERS[0], LOCAL, 0x1000)])
    live = consistent([bridge("b"), vxlan("b"), neigh("b", "10.1.0.2", MACS[1])])
    changes = diff(desired, Observed(live))
    assert order(changes, LOCAL) == order(list(reversed(changes)), LOCAL)
    assert [c.kind for c in order(changes, LOCAL)] == [
        "neigh", "vxlan", "bridge", "vxlan", "fdb", "xfrm-state", "bridge"]


def test_simkernel_refuses_what_the_kernel_refuses() -> None:
    live = consistent([bridge("a"), vxlan("a"), fdb("a", MACS[0], PEERS[0])])
    sim = SimKernel.of(live)
    policy, entry = peer_policy("out", PEERS[0]), fdb("q", MACS[0], PEERS[0])
    twin = vxlan("t", master="ov-a")
    cases = [
        Change(Action.UPDATE, vxlan("a").key, vxlan("a"), vxlan("a", vni=7), Reason.DRIFT),
        Change(Action.DELETE, bridge("a").key, bridge("a"), None, Reason.DRIFT),
        Change(Action.DELETE, vxlan("a").key, vxlan("a"), None, Reason.DRIFT),
        Change(Action.CREATE, bridge("a").key, None, bridge("a"), Reason.DRIFT),
        Change(Action.DELETE, bridge("z").key, bridge("z"), None, Reason.DRIFT),
        Change(Action.CREATE, vxlan("q").key, None, vxlan("q"), Reason.DRIFT),
        Change(Action.CREATE, policy.key, None, policy, Reason.DRIFT),
        Change(Action.CREATE, entry.key, None, entry, Reason.DRIFT),
        Change(Action.CREATE, twin.key, None, twin, Reason.DRIFT),
    ]
    messages = []
    for change in cases:
        try:
            sim.execute_one(change)
        except SimError as err:
            messages.append(str(err).split(": ", 1)[1])
    assert messages == [
        "cannot change vni in place",
        "still in use by vxlan vx-a",
        "still in use by fdb vx-a 02:42:0a:01:00:02 10.0.0.2",
        "File exists",
        "No such object",
        "master bridge ov-q does not exist",
        "no SA for template 10.0.0.1 -> 10.0.0.2",
        "device vx-q does not exist",
        "A VXLAN device with the specified VNI already exists (vx-a)",
    ]
    assert sim.snapshot() == live and sim.applied == []


def test_the_ordering_checker_catches_break_before_make() -> None:
    """The property above is not vacuous: reordering a good plan is caught."""
    desired = consistent([sa(LOCAL, PEERS[0], 0x2000), peer_policy("out", PEERS[0]), block_policy("out")])
    empty = KernelState()
    sa_, block, allow = plan(desired, empty)
    assert ordering_violations([sa_, allow, block], empty, desired) == [
        f"1: {allow.key} opens an encrypted port"]
    p1, p2, sa_delete = plan(empty, desired)
    assert ordering_violations([sa_delete, p1, p2], desired, empty) == [
        f"0: {sa_delete.key} leaves a policy without its SA"]


# --- the compiler's output: the seed on any node, at any time, against any other compiled state
SEED = load_config([ROOT / "examples/seed/overlay.yaml"])
SEED_ASSIGNMENT = assign_loaded(SEED)
BOUNDARY = datetime(2026, 1, 1, 12, tzinfo=UTC)


@st.composite
def compiled(draw: st.DrawFn) -> tuple[KernelState, IPAddress]:
    node = draw(st.sampled_from(sorted(SEED.config.nodes)))
    at = BOUNDARY + timedelta(seconds=draw(st.integers(-2 * 43200, 2 * 43200)))
    state = compile_for(SEED.config, node, at=at, assignment=SEED_ASSIGNMENT)
    return state, SEED.config.nodes[node].address


@settings(max_examples=60, deadline=None)
@given(compiled(), st.one_of(st.just((KernelState(), None)), compiled()), st.integers(min_value=0))
def test_compiled_states_plan_apply_and_roll_back_cleanly(
        desired: tuple[KernelState, IPAddress], live: tuple[KernelState, object], k: int) -> None:
    (want, local), (have, _) = desired, live
    changes = order(diff(want, Observed(have)), local)
    assert ordering_violations(changes, have, want) == []
    sim = SimKernel.of(have)
    sim.execute(changes)
    assert order(diff(want, Observed(sim.snapshot())), local) == []
    if changes:
        sim = SimKernel.of(have)
        with pytest.raises(SimError):
            sim.execute(changes, fail_at=k % len(changes))
        sim.rollback()
        assert sim.snapshot() == have
