"""The plan of a node against its live kernel, compiled while the kernel is still being read.

`plan_on_kernel` is `overlayc plan` against a namespace: the kernel observed on a worker thread
(`overlayc.observe.background`) while the lock (or its cache) is read and the desired state
compiled. `plan_overlapped` is `plan.plan_node` (compile → diff → order) for a live side that arrives
later (`overlayc.observe.background`): the desired state is compiled before the live state is
waited for, except when the node has an encrypted network, whose outbound SAs are compiled on a
send epoch chosen against the live SAs (`apply.continuity.send_epoch_for`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from overlayc.compile import compile_node
from overlayc.config.load import LoadedConfig
from overlayc.diff import diff
from overlayc.inputs import OnWrite, Target, prepare_target
from overlayc.kernel.state import KernelState, Observed
from overlayc.netlink.netns import namespace_id
from overlayc.observe.background import in_background
from overlayc.observe.kernel import observe
from overlayc.plan import Plan, config_digest, make_plan

SendEpoch = Callable[[Observed], "int | None"]


def needs_live_to_compile(t: Target) -> bool:
    """Whether compiling `t` needs the live state first: an encrypted network is present on the
    node (its send epoch depends on the live SAs and saved counters)."""
    return any(t.config.networks[n].is_encrypted for n in t.assignment.present(t.node))


def plan_overlapped(t: Target, live: Callable[[], Observed], *, owner: str, send_epoch: SendEpoch) -> Plan:
    """The plan that turns `live()` into `t`'s desired state (sandboxes named for the namespace
    `owner`; outbound SAs on `send_epoch(live())`), as `plan_node` makes it. `live()` is called
    once, after compiling when the compile does not depend on it. Raises what `live()` raises,
    InputError (unknown node), PlanError (foreign collisions)."""
    observed = live() if needs_live_to_compile(t) else None
    send = None if observed is None else send_epoch(observed)
    desired = compile_node(t.config, t.assignment, t.node, at=t.at, private_key=t.private_key,
                           send_epoch=send, owner=owner)
    digest = config_digest(t.config)
    if observed is None:
        observed = live()
    return make_plan(t.node, t.netns, t.at, digest, diff(desired, observed), observed,
                     t.config.nodes[t.node].address)


def plan_on_kernel(loaded: LoadedConfig, *, node: str | None, netns: str | None, at: str | None,
                   key_file: Path | None, locked: bool, state_dir: Path | None,
                   on_write: OnWrite | None) -> tuple[Target, Plan]:
    """The target (`prepare_target`'s, `on_write` told of a lock written) and the plan against
    the kernel of `netns`. What observe raises comes first, as when it ran before the lock was
    read, and before the lock file is written (`before_write`)."""
    with in_background(lambda: observe(netns, loaded.config.cluster.name)) as live:
        t = prepare_target(loaded, node=node, netns=netns, at=at, key_file=key_file, locked=locked,
                           on_write=on_write, state_dir=state_dir, before_write=live.check)
        # against this node's kernel: the send epoch its saved counters call for
        plan = plan_overlapped(t, live.result, owner=namespace_id(netns),
                               send_epoch=lambda observed: _send_epoch(t, observed.owned))
    return t, plan


def _send_epoch(t: Target, live: KernelState) -> int | None:
    from overlayc.apply.continuity import send_epoch_for

    return send_epoch_for(t.config, t.assignment, t.node, t.at, (t.netns, t.state_dir), live)
