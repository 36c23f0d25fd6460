"""A change: one kernel operation as data, the unit every stage after diff speaks (plan
ordering, renderers, the executor and rollback, whose inverse of a change is another change).

Its own module so that `overlayc.changeset` (changes held compactly) can be used by `diff`;
`overlayc.diff` re-exports these names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from overlayc.kernel.objects import KernelObject
from overlayc.kernel.ownership import Key


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
    DEVICE_REPLACED = "device_replaced"  # fdb/neigh recreated because their vxlan is replaced


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
