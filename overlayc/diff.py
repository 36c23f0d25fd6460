"""Diff: desired × live → unordered Changes (pure). See DESIGN.md §6.

`Change` is the unit every later stage speaks: plan ordering, renderers, the executor and
rollback (whose inverse of a change is another change).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from overlayc.kernel.objects import KernelObject, Key


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"


class Reason(enum.StrEnum):
    NOT_IN_KERNEL = "not_in_kernel"
    NOT_IN_CONFIG = "not_in_config"
    CANNOT_UPDATE = "cannot_update"
    DRIFT = "drift"


@dataclass(frozen=True, slots=True)
class Change:
    """One kernel operation as data. `before` is None for CREATE, `after` is None for DELETE."""

    action: Action
    key: Key
    before: KernelObject | None
    after: KernelObject | None
    reason: Reason
    fields: tuple[str, ...] = ()
    detail: str = ""

    @property
    def kind(self) -> str:
        return self.key[0]

    def inverse(self) -> Change:
        """The change that undoes this one (for rollback)."""
        match self.action:
            case Action.CREATE:
                return Change(Action.DELETE, self.key, self.after, None, Reason.DRIFT)
            case Action.DELETE:
                return Change(Action.CREATE, self.key, None, self.before, Reason.DRIFT)
            case _:
                return Change(self.action, self.key, self.after, self.before, Reason.DRIFT, self.fields)


# Fields the kernel can change in place, per kind; a difference in any other field is a REPLACE.
# vxlan: the kernel refuses changelink of the VNI ("Cannot change VNI") and of the UDP port
# ("Cannot change dst port"); local/learning/proxy are recreated too, to keep one rule.
UPDATABLE: dict[str, frozenset[str]] = {
    "bridge": frozenset({"mtu", "alias", "address"}),
    "vxlan": frozenset({"mtu", "alias", "master"}),
    "fdb": frozenset(),
    "neigh": frozenset({"lladdr"}),
    "netns": frozenset(),
    "endpoint": frozenset({"mtu", "alias", "bridge", "mac", "address"}),
    "xfrm-state": frozenset(),
    "xfrm-policy": frozenset({"priority", "action", "tmpl"}),
}
