"""A simulated kernel: applies Changes to a KernelState under the real kernel's rules.

Rules enforced (each violation raises SimError naming the change):
- creating an existing key fails (EEXIST); deleting or updating a missing one fails (ENOENT);
- an update may touch only fields in UPDATABLE[kind] (VNI/port: "Cannot change VNI");
- a vxlan needs its master bridge; an endpoint needs its bridge and its netns;
- fdb/neigh entries need their vxlan device; two vxlans may not share VNI, port and local;
- an allow policy's template needs an SA with the template's src, dst and reqid;
- deleting a bridge with slaves fails. Deleting a vxlan with fdb/neigh entries, or a netns with
  endpoints, also fails here: the kernel would flush them silently, which a plan must never
  rely on (rollback could not restore them).
A REPLACE is delete-then-create at one position. `fail_at=k` makes the k-th change (0-based)
fail before it touches anything, as an injected kernel error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from overlayc.diff import UPDATABLE, Action, Change, differing_fields
from overlayc.kernel.objects import (
    Bridge,
    Endpoint,
    Fdb,
    KernelObject,
    Neigh,
    Netns,
    Vxlan,
    XfrmPolicy,
    XfrmState,
)
from overlayc.kernel.state import KernelState


class SimError(Exception):
    """The simulated kernel refused a change."""

    def __init__(self, change: Change, message: str) -> None:
        self.change = change
        super().__init__(f"{change.action} {' '.join(change.key)}: {message}")


def _missing_dependency(state: dict[tuple[str, ...], KernelObject], obj: KernelObject) -> str | None:
    match obj:
        case Vxlan(master=master) if ("bridge", master) not in state:
            return f"master bridge {master} does not exist"
        case Endpoint(bridge=bridge) if ("bridge", bridge) not in state:
            return f"bridge {bridge} does not exist"
        case Endpoint(netns=ns) if ("netns", ns) not in state:
            return f"netns {ns} does not exist"
        case Fdb(dev=dev) | Neigh(dev=dev) if ("vxlan", dev) not in state:
            return f"device {dev} does not exist"
        case XfrmPolicy(action="allow", tmpl=t) if t is not None and not any(
            isinstance(o, XfrmState) and (o.src, o.dst, o.reqid) == (t.src, t.dst, t.reqid)
            for o in state.values()
        ):
            return f"no SA for template {t.src} -> {t.dst}"
    return None


def _conflict(state: dict[tuple[str, ...], KernelObject], obj: KernelObject) -> str | None:
    """A vxlan may not share VNI, port and local address with another (the kernel: EEXIST)."""
    if isinstance(obj, Vxlan):
        for other in state.values():
            if isinstance(other, Vxlan) and other.key != obj.key and \
                    (other.vni, other.port, other.local) == (obj.vni, obj.port, obj.local):
                return f"A VXLAN device with the specified VNI already exists ({other.name})"
    return None


def _dependents(state: dict[tuple[str, ...], KernelObject], obj: KernelObject) -> list[str]:
    out: list[str] = []
    for other in state.values():
        match obj, other:
            case Bridge(name=n), Vxlan(master=m) if m == n:
                out.append(" ".join(other.key))
            case Bridge(name=n), Endpoint(bridge=b) if b == n:
                out.append(" ".join(other.key))
            case Vxlan(name=n), Fdb(dev=d) | Neigh(dev=d) if d == n:
                out.append(" ".join(other.key))
            case Netns(name=n), Endpoint(netns=ns) if ns == n:
                out.append(" ".join(other.key))
    return out


@dataclass
class SimKernel:
    """Holds a kernel state and applies changes one by one; `applied` lists what succeeded."""

    state: dict[tuple[str, ...], KernelObject]
    applied: list[Change]

    @classmethod
    def of(cls, state: KernelState) -> SimKernel:
        return cls({o.key: o for o in state}, [])

    def snapshot(self) -> KernelState:
        return KernelState(self.state.values())

    def _create(self, change: Change, obj: KernelObject) -> None:
        if obj.key in self.state:
            raise SimError(change, "File exists")
        problem = _missing_dependency(self.state, obj) or _conflict(self.state, obj)
        if problem:
            raise SimError(change, problem)
        self.state[obj.key] = obj

    def _delete(self, change: Change) -> None:
        obj = self.state.get(change.key)
        if obj is None:
            raise SimError(change, "No such object")
        busy = _dependents(self.state, obj)
        if busy:
            raise SimError(change, f"still in use by {', '.join(busy)}")
        del self.state[change.key]

    def _update(self, change: Change, obj: KernelObject) -> None:
        live = self.state.get(change.key)
        if live is None:
            raise SimError(change, "No such object")
        fixed = [f for f in differing_fields(live, obj) if f not in UPDATABLE[obj.kind]]
        if fixed:
            raise SimError(change, f"cannot change {', '.join(fixed)} in place")
        problem = _missing_dependency(self.state, obj)
        if problem:
            raise SimError(change, problem)
        self.state[change.key] = obj

    def execute_one(self, change: Change) -> None:
        """Apply one change atomically (a failed replace leaves the old object in place)."""
        match change.action:
            case Action.CREATE:
                assert change.after is not None
                self._create(change, change.after)
            case Action.DELETE:
                self._delete(change)
            case Action.UPDATE:
                assert change.after is not None
                self._update(change, change.after)
            case Action.REPLACE:
                assert change.after is not None
                saved = dict(self.state)
                try:
                    self._delete(change)
                    self._create(change, change.after)
                except SimError:
                    self.state = saved
                    raise
        self.applied.append(change)

    def execute(self, changes: Sequence[Change], fail_at: int | None = None) -> None:
        """Apply `changes` in order; raises SimError at the first refused (or injected) one."""
        for i, change in enumerate(changes):
            if i == fail_at:
                raise SimError(change, "injected failure")
            self.execute_one(change)

    def rollback(self) -> None:
        """Apply the inverses of the applied changes in reverse order."""
        done, self.applied = self.applied, []
        for change in reversed(done):
            self.execute_one(change.inverse())
        self.applied = []
