"""One apply or destroy on one namespace: preflight, plan, confirmation hook, execute, verify.

The CLI passes in what is interactive (confirmation, progress, output); everything that
decides lives here. Side effects go through `KernelHandle` and the read-only observers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from overlayc.apply import interrupt, journal, preflight
from overlayc.apply.continuity import CounterKeeper, keep_counters
from overlayc.apply.kernel import KernelHandle
from overlayc.apply.lock import apply_lock
from overlayc.apply.run import ApplyResult, Outcome, Progress, apply_changes
from overlayc.changeset import singles_of
from overlayc.compile import compile_node
from overlayc.compile.node import check_node
from overlayc.diff import Change, diff
from overlayc.errors import EnvironmentProblem, InputError
from overlayc.files.statedir import target_state_dir
from overlayc.inputs import Target
from overlayc.kernel.objects import XfrmState
from overlayc.kernel.ownership import key_text
from overlayc.kernel.state import KernelState, Observed
from overlayc.netlink.netns import Namespace, namespace_id, opened
from overlayc.observe.addresses import underlay_device
from overlayc.observe.background import in_background
from overlayc.observe.sysctl import fail_closed_sysctls, kernel_config, loadable_modules, read_sysctls
from overlayc.plan import Plan, config_digest, make_plan, stale_keys

Confirm = Callable[[Plan], bool]


@dataclass(frozen=True)
class Applied:
    """The plan that was (or would have been) executed, its outcome, the desired state it
    was made for (empty for destroy), and notes for the user (about the saved SA counters)."""

    plan: Plan
    result: ApplyResult
    desired: KernelState = dataclasses.field(default_factory=KernelState)
    repaired: tuple[str, ...] = ()  # what an interrupted earlier run had left half-made, removed
    notes: tuple[str, ...] = ()  # about the saved SA counters, for the user


def check_fail_closed(target: Target, desired: KernelState, ns: Namespace | None = None) -> None:
    """Refuse when a sysctl would let the XFRM policies fail open (only with encrypted networks).
    Reads through `ns` (None: a handle opened on `target.netns` for this check)."""
    if not desired.of_kind("xfrm-policy"):
        return
    with opened(ns if ns is not None else target.netns) as handle:
        device = underlay_device(handle, target.address)
        if device is None:
            raise EnvironmentProblem(
                f"node {target.node}: its address {target.address} is on no interface"
                + (f" of network namespace {target.netns}" if target.netns else "")
                + "; encrypted networks need it (the XFRM policies protect that address)"
            )
        names = fail_closed_sysctls(device, ipv6=target.address.version == 6)
        preflight.check_sysctls(read_sysctls(handle, names))


def check_underlay(target: Target, ns: Namespace) -> None:
    """Refuse to build a node whose underlay address is on no interface of the target namespace
    (read through `ns`): a wrong --node or --netns would otherwise build another node's objects."""
    if underlay_device(ns, target.address) is None:
        where = f"network namespace {target.netns}" if target.netns else "this network namespace"
        raise EnvironmentProblem(
            f"node {target.node}: its underlay address {target.address} is on no interface of {where}; "
            "refusing to build it there (a wrong --node or --netns?). If the address is added "
            "later, pass --allow-missing-address"
        )


def check_keys(target: Target, changes: Sequence[Change]) -> None:
    """Refuse a plan that installs SAs whose key material is unavailable (no private key)."""
    if any(isinstance(c.after, XfrmState) and c.after.secret is None for c in changes):
        raise InputError(
            f"node {target.node}: the plan installs IPsec SAs but the node's private key is "
            "unavailable; pass --key-file PATH (made by `overlayc keys gen`)"
        )


def _preflight(ns: Namespace, target: Target, desired: KernelState, changes: Sequence[Change]) -> None:
    check_keys(target, changes)
    if any(isinstance(c.after, XfrmState) for c in changes):
        preflight.check_esp(desired, kernel_config(), loadable_modules())
    check_fail_closed(target, desired, ns)


def rehydrate(plan: Plan, desired: KernelState, live: Observed) -> list[Change]:
    """The saved plan's changes with objects that carry their secrets again: `after` from the
    fresh compile, `before` from the live kernel (a saved plan holds fingerprints only)."""
    out = []
    for change in plan.changes:
        after = desired.get(change.key) if change.after is not None else None
        before = live.owned.get(change.key) if change.before is not None else None
        if (change.after is not None and after != change.after) or (
            change.before is not None and before != change.before
        ):
            raise InputError(f"the saved plan does not match the configuration for {key_text(change.key)}")
        out.append(dataclasses.replace(change, after=after, before=before))
    return out


def apply_target(
    target: Target,
    *,
    confirm: Confirm,
    saved: Plan | None = None,
    lock_timeout: float = 0.0,
    progress: Callable[[int], Progress | None] = lambda n: None,
    allow_missing_address: bool = False,
) -> Applied:
    """Plan (or take `saved`) and apply it on `target` under the namespace lock.

    First what an interrupted earlier run left half-made is repaired (the intent journal);
    then the node's underlay address must be on an interface of the namespace (unless
    `allow_missing_address`). `confirm(plan)` is asked before anything changes (not for an
    empty plan); returning False applies nothing. `progress(total)` may return a callback that
    receives the count done. Raises InputError for a stale or mismatching saved plan (listing
    what drifted), EnvironmentProblem for a missing underlay address.
    """
    preflight.check_privileges("apply")
    check_node(target.config, target.node)
    owner = namespace_id(target.netns)
    with apply_lock(target.netns, lock_timeout, "apply"), Namespace(target.netns) as ns, \
            KernelHandle(ns, target.config.cluster.name, watch=True) as kernel:
        if not allow_missing_address:
            check_underlay(target, ns)
        journal_dir = target_state_dir(target.netns, target.state_dir)
        repaired = tuple(journal.replay(journal_dir, kernel.links))
        desired, live = _compile_observing(target, owner, kernel)
        desired, keeper = _keep_counters(target, desired, live, kernel)
        if saved is None:
            plan = make_plan(target.node, target.netns, target.at, config_digest(target.config),
                             diff(desired, live), live, target.address)
            changes: Sequence[Change] = plan.changes  # entry runs stay compact (overlayc.changeset)
        else:
            plan = saved
            _check_saved(saved, target, live)
            changes = rehydrate(saved, desired, live)
        if not changes:
            _record(keeper, desired, kernel)  # a round with nothing to do still saves the counters
            return Applied(plan, ApplyResult(Outcome.NOTHING), desired, repaired, _notes(keeper))
        _preflight(ns, target, desired, singles_of(changes))  # it looks at SAs alone
        if not confirm(plan):
            return Applied(plan, ApplyResult(Outcome.NOTHING), desired, repaired, _notes(keeper))
        _record(keeper, desired, kernel)  # before anything changes: SAs known before they exist
        journal.record(journal_dir, journal.intents_of(changes))
        with interrupt.armed():
            result = apply_changes(kernel, desired, changes, progress=progress(len(changes)),
                                   after_execute=lambda: check_fail_closed(target, desired, ns),
                                   prior=live.owned)
        if result.outcome is not Outcome.ROLLBACK_INCOMPLETE:
            journal.clear(journal_dir)
        if result.outcome is Outcome.CHANGED:
            _record(keeper, desired, kernel)  # the SAs just created, at their starting counters
        elif keeper is not None:  # rolled back (or partly): the file describes the prior SAs again
            keeper.undo(kernel.xs)
    return Applied(plan, result, desired, repaired, _notes(keeper))


def _compile_observing(target: Target, owner: str, kernel: KernelHandle) -> tuple[KernelState, Observed]:
    """The desired state of `target` (sandboxes named for `owner`) and the live state of
    `kernel`'s namespace, observed on a worker thread while compiling (overlayc.observe.background:
    the kernel's share of a big dump hides behind the compile). Errors of the compile come first,
    as when it ran before the observe."""
    with in_background(kernel.observe, worker_first=False) as live:
        desired = compile_node(target.config, target.assignment, target.node, at=target.at,
                               private_key=target.private_key, owner=owner)
        return desired, live.result()


def _keep_counters(target: Target, desired: KernelState, live: Observed,
                   kernel: KernelHandle) -> tuple[KernelState, CounterKeeper | None]:
    """Counters that survive restarts (overlayc.apply.continuity): the desired state on the right
    send epoch, and SAs created through `kernel` starting where their saved counters stood. Nothing
    is saved yet (`_record`): a plan that is declined or refused leaves the file as it was."""
    desired, keeper = keep_counters(
        target.config, target.at, target.address,
        (target.netns, target.state_dir), desired, live.owned,
        lambda send: compile_node(target.config, target.assignment, target.node, at=target.at,
                                  private_key=target.private_key, send_epoch=send,
                                  owner=namespace_id(target.netns)))
    if keeper is not None:
        kernel.starts = keeper.start_of
    return desired, keeper


def _record(keeper: CounterKeeper | None, desired: KernelState, kernel: KernelHandle) -> None:
    if keeper is not None:
        keeper.record(desired, kernel.xs)


def _notes(keeper: CounterKeeper | None) -> tuple[str, ...]:
    return () if keeper is None else tuple(keeper.notes)


def save_counters(target: Target, *, lock_timeout: float = 0.0) -> tuple[str, ...]:
    """Read the SA counters of `target`'s kernel and save them, changing nothing in the kernel
    (what `reconcile` does when it stops). Returns the notes for the user."""
    desired = compile_node(target.config, target.assignment, target.node, at=target.at,
                           private_key=target.private_key, owner=namespace_id(target.netns))
    with apply_lock(target.netns, lock_timeout, "apply"), Namespace(target.netns) as ns, \
            KernelHandle(ns, target.config.cluster.name) as kernel:
        desired, keeper = _keep_counters(target, desired, kernel.observe(), kernel)
        _record(keeper, desired, kernel)
    return _notes(keeper)


def _check_saved(saved: Plan, target: Target, live: Observed) -> None:
    if saved.node != target.node or saved.netns != target.netns:
        raise InputError(f"the saved plan is for node {saved.node} (netns {saved.netns or '-'}), "
                         f"not node {target.node} (netns {target.netns or '-'})")
    if saved.config_digest != config_digest(target.config):
        raise InputError("the configuration changed since the plan was made; make a new plan")
    drift = stale_keys(saved, live)
    if drift:
        listed = "\n".join(f"  {key_text(k)}: {what}" for k, what in drift)
        raise InputError(f"the saved plan is stale: the kernel changed since it was made:\n{listed}\n"
                         "Make a new plan.")


def destroy_netns(
    netns: str | None, cluster: str | None, *, confirm: Confirm, lock_timeout: float = 0.0,
) -> Applied:
    """Remove every object overlayc owns in `netns` (of `cluster`, or of any cluster), nothing else.

    XFRM objects and endpoint namespaces are deleted through the plan; owned links go in one
    request by their link group (their FDB/neighbour entries go with them). What an interrupted
    earlier run left half-made is removed first; SIGTERM/SIGINT do not stop a destroy half-way.
    """
    preflight.check_privileges("destroy")
    with apply_lock(netns, lock_timeout, "destroy"), KernelHandle(netns, cluster) as kernel:
        journal_dir = target_state_dir(netns)
        repaired = tuple(journal.replay(journal_dir, kernel.links))
        live = kernel.observe()
        where = f"netns {netns}" if netns else "this namespace"
        plan = make_plan(where, netns, datetime.now().astimezone(), "-", diff(KernelState(), live), live)
        if plan.empty or not confirm(plan):
            return Applied(plan, ApplyResult(Outcome.NOTHING), repaired=repaired)
        unlinked = [c for c in singles_of(plan.changes)  # entries (runs) go with their links
                    if c.kind in ("xfrm-policy", "xfrm-state", "endpoint", "netns", "gateway", "sandbox")]
        journal.record(journal_dir, journal.intents_of(plan.changes))
        with interrupt.quiet():
            kernel.execute(unlinked)
            kernel.destroy_all(cluster)
        left = kernel.observe().owned
        if not left:
            journal.clear(journal_dir)
    if len(left):
        raise EnvironmentProblem(f"destroy: {len(left)} owned objects are still present: "
                                 + ", ".join(key_text(o.key) for o in list(left)[:5]))
    return Applied(plan, ApplyResult(Outcome.CHANGED, executed=len(plan.changes)), repaired=repaired)
