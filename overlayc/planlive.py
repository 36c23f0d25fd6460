"""The plan of a node against its live kernel, compiled while the kernel is still being read.

`plan_overlapped` is `plan.plan_node` (compile → diff → order) for a live side that arrives
later (`overlayc.observe.background`): the desired state is compiled before the live state is
waited for, except when the node has an encrypted network, whose outbound SAs are compiled on a
send epoch chosen against the live SAs (`apply.continuity.send_epoch_for`).
"""

from __future__ import annotations

from collections.abc import Callable

from overlayc.compile import compile_node
from overlayc.diff import diff
from overlayc.inputs import Target
from overlayc.kernel.state import Observed
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
