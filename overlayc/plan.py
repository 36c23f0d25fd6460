"""Plan: the ordered changes for one node, saved plans and their staleness check (pure).

Ordering (DESIGN.md §4, §6). Phases, each deterministic (sorted by key within a kind):

1. policy deletes: per-peer (allow) policies first, fail-closed block policies last;
2. link deletes in reverse dependency order: neigh, fdb, endpoint, netns, gateway, vxlan;
3. creates, updates and replaces in dependency order: sandbox, bridge, vxlan, gateway, netns,
   endpoint, fdb, neigh, then inbound SAs (dst = this node), outbound SAs, then policies — block
   policies before per-peer ones, so an encrypted port is never open;
4. deferred deletes: SAs (outbound, then inbound), then bridges, then sandboxes.

Two kinds of delete are deferred on purpose. An SA is only deleted after its successor exists
(key rotation replaces SPIs: make before break, the kernel picks the newest matching SA), and
after the policies that used it are gone. A bridge is deleted last because a vxlan or endpoint
may only leave it in phase 3 (update of `master`/`bridge`, or a replace); the kernel would
otherwise release the slave silently. Keys are names, so a deferred delete never blocks a create.

A REPLACE is one Change placed at its kind's position in phase 3; the executor performs it as
delete-then-create at that position. Entries on a replaced vxlan are planned by `diff` as an
explicit delete (phase 2) and create (phase 3).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from overlayc.changeset import Changes, EntryRun, Part, counts_of, parts_of, sort_parts
from overlayc.compile import Assignment, compile_node
from overlayc.config.model import Config
from overlayc.diff import Action, Change, diff
from overlayc.kernel.entries import Builder, Entries
from overlayc.kernel.objects import (
    KIND_ORDER,
    IPAddress,
    KernelObject,
    XfrmPolicy,
    XfrmState,
    to_json,
)
from overlayc.kernel.ownership import OFFLINE_OWNER, Key
from overlayc.kernel.state import Observed

PLAN_FORMAT_VERSION = "1.0"
_LINK_DELETE_ORDER = ("neigh", "fdb", "endpoint", "netns", "gateway", "vxlan")


def _is_block(change: Change) -> bool:
    obj = change.after or change.before
    return isinstance(obj, XfrmPolicy) and obj.action == "block"


def _is_inbound(change: Change, local: IPAddress | None) -> bool:
    obj = change.after or change.before
    return isinstance(obj, XfrmState) and obj.dst == local


def _position(change: Change, local: IPAddress | None) -> tuple[int, int, int]:
    """(phase, rank within phase, sub-rank) of a change; ties are broken by key."""
    kind = change.kind
    if change.action is Action.DELETE:
        if kind == "xfrm-policy":
            return (1, 0, int(_is_block(change)))
        if kind in _LINK_DELETE_ORDER:
            return (2, _LINK_DELETE_ORDER.index(kind), 0)
        if kind == "xfrm-state":
            return (4, 0, int(_is_inbound(change, local)))
        return (4, 2, 0) if kind == "sandbox" else (4, 1, 0)  # bridge, then the sandbox it was in
    rank = KIND_ORDER.index(kind)
    if kind == "xfrm-state":
        return (3, rank, 0 if _is_inbound(change, local) else 1)
    if kind == "xfrm-policy":
        return (3, rank, 0 if _is_block(change) else 1)
    return (3, rank, 0)


def order(changes: Iterable[Change], local: IPAddress | None = None) -> Changes:
    """The changes in execution order (see the module docstring). `local` is this node's
    underlay address: SAs with that destination are inbound. Deterministic for any input order.

    The plain sort by (position, key, is a create) done in buckets: one per position (outside
    xfrm a position depends on the action and kind only, computed once each), each sorted by
    key (and creates last on a tie, where a bucket mixes actions), in position order. A run of
    entries (overlayc.changeset) is one member of its bucket: its entries share a position."""
    known: dict[tuple[Action, str], tuple[int, int, int]] = {}
    buckets: dict[tuple[int, int, int], list[Part]] = {}
    for c in parts_of(changes):
        kind = c.key[0] if isinstance(c, Change) else c.kind
        if kind == "xfrm-state" or kind == "xfrm-policy":
            assert isinstance(c, Change)
            pos = _position(c, local)
        else:
            pos = known.get((c.action, kind)) or known.setdefault((c.action, kind), _position_of(c, local))
        bucket = buckets.get(pos)
        if bucket is None:
            buckets[pos] = [c]
        else:
            bucket.append(c)
    out: list[Part] = []
    for pos in sorted(buckets):
        bucket = buckets[pos]
        first = bucket[0].action
        if all(c.action is first for c in bucket):
            out += sort_parts(bucket, _by_key)
        else:
            out += sort_parts(bucket, lambda c: (c.key, c.action is Action.CREATE))
    return Changes(out)


def _position_of(part: Part, local: IPAddress | None) -> tuple[int, int, int]:
    """The position of a change, or of the entries of a run (as of its first)."""
    return _position(part if isinstance(part, Change) else part.change(0, Builder()), local)


def _by_key(change: Change) -> Key:
    return change.key


def object_digest(obj: KernelObject | None) -> str | None:
    """sha256 of an object's canonical JSON (secrets excluded); None for an absent object."""
    if obj is None:
        return None
    canonical = json.dumps(to_json(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class EntryDigests(Mapping[Key, str | None]):
    """A plan's `live_digests` when runs of entries were planned on devices without a live
    entry of their kind: `explicit` digests, and the keys of the `absent` runs' entries, every
    one None. As a mapping it is every key (built when first asked); `present` is the
    staleness check of the absent entries without their keys. The two are disjoint: an entry
    of another change on such a device would have to be live."""

    __slots__ = ("_all", "absent", "explicit")

    def __init__(self, explicit: dict[Key, str | None], absent: Sequence[EntryRun]) -> None:
        self.explicit = explicit
        self.absent = tuple(absent)
        self._all: dict[Key, str | None] | None = None

    def _full(self) -> dict[Key, str | None]:
        if self._all is None:
            build = Builder()
            full: dict[Key, str | None] = {run.obj(i, build).key: None
                                           for run in self.absent for i in range(len(run))}
            full.update(self.explicit)
            self._all = full
        return self._all

    def __getitem__(self, key: Key) -> str | None:
        return self._full()[key]

    def __iter__(self) -> Iterator[Key]:
        return iter(self._full())

    def __len__(self) -> int:
        return len(self._full())

    def present(self, live: Entries) -> list[Key]:
        """The keys of the absent entries that `live` now holds."""
        build = Builder()
        out: list[Key] = []
        for run in self.absent:
            table = (live.fdb if run.kind == "fdb" else live.neigh).get(run.dev)
            if table:
                out += [run.obj(i, build).key for i, k in enumerate(run.keys) if k in table]
        return out


@dataclass(frozen=True)
class Plan:
    """What `apply` will do on one node, and what it assumed about the live objects it touches.

    `live_digests` maps every touched key to `object_digest` of its live object when planned
    (None if absent): a saved plan is refused when any of them has drifted (`stale_keys`).
    """

    format_version: str
    node: str
    netns: str | None
    at: datetime
    config_digest: str
    changes: Sequence[Change]
    live_digests: Mapping[Key, str | None] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.changes

    def summary(self) -> dict[str, int]:
        """Counts by action in Terraform's words: add, change, replace, destroy."""
        count = counts_of(self.changes)
        return {
            "add": count[Action.CREATE],
            "change": count[Action.UPDATE],
            "replace": count[Action.REPLACE],
            "destroy": count[Action.DELETE],
        }


def make_plan(
    node: str, netns: str | None, at: datetime, config_digest: str,
    changes: Iterable[Change], live: Observed, local: IPAddress | None = None,
) -> Plan:
    """Order `changes` and record the digest of every live object they touch."""
    ordered = order(changes, local)
    owned = live.owned
    entries = owned.entries
    digests: dict[Key, str | None] = {}
    absent: list[EntryRun] = []
    # an entry on a device without live entries of its kind is absent (a plan from empty: all);
    # a run of those is kept as the run (EntryDigests), not as one key per entry
    for part in ordered.parts:
        if isinstance(part, EntryRun):
            if part.dev not in (entries.fdb if part.kind == "fdb" else entries.neigh):
                absent.append(part)
                continue
            build = Builder()
            keys = [part.obj(i, build).key for i in range(len(part))]
        else:
            keys = [part.key]
        for key in keys:
            digests[key] = None if (key[0] == "fdb" and key[1] not in entries.fdb) or (
                key[0] == "neigh" and key[1] not in entries.neigh) else object_digest(owned.get(key))
    return Plan(PLAN_FORMAT_VERSION, node, netns, at, config_digest, ordered,
                EntryDigests(digests, absent) if absent else digests)


def config_digest(config: Config) -> str:
    """sha256 of the checked configuration's canonical JSON (what a saved plan was made from)."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()


def plan_node(
    config: Config, assignment: Assignment, node: str, *, at: datetime,
    private_key: bytes | None, live: Observed, netns: str | None = None, send_epoch: int | None = None,
    owner: str = OFFLINE_OWNER,
) -> Plan:
    """compile → diff → order for one node: the plan that turns `live` into the node's desired
    state at `at` (outbound SAs on `send_epoch`, see compile_ipsec; sandboxes named for the node
    namespace `owner`, see compile_node). Raises InputError (unknown
    node) or PlanError (foreign collisions)."""
    desired = compile_node(config, assignment, node, at=at, private_key=private_key, send_epoch=send_epoch,
                           owner=owner)
    changes = diff(desired, live)
    return make_plan(node, netns, at, config_digest(config), changes, live, config.nodes[node].address)


def stale_keys(plan: Plan, observed: Observed) -> list[tuple[Key, str]]:
    """Touched objects whose live state changed since `plan` was made, with what happened."""
    out: list[tuple[Key, str]] = []
    digests = plan.live_digests
    if isinstance(digests, EntryDigests):  # entries planned as absent: those now present appeared
        out += [(key, "appeared since the plan was made") for key in digests.present(observed.owned.entries)]
        digests = digests.explicit
    for key, then in digests.items():
        now = object_digest(observed.owned.get(key))
        if now == then:
            continue
        if then is None:
            what = "appeared since the plan was made"
        elif now is None:
            what = "disappeared since the plan was made"
        else:
            what = "changed since the plan was made"
        out.append((key, what))
    return sorted(out)


# --- JSON ----------------------------------------------------------------------------------------
def change_to_json(change: Change) -> dict[str, Any]:
    return {
        "action": change.action.value,
        "key": list(change.key),
        "kind": change.kind,
        "before": None if change.before is None else to_json(change.before),
        "after": None if change.after is None else to_json(change.after),
        "reason": change.reason.value,
        "fields": list(change.fields),
        "detail": change.detail,
    }


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The versioned plan document (`--json`, `-o FILE`). Never contains key material."""
    return {
        "format_version": plan.format_version,
        "node": plan.node,
        "netns": plan.netns,
        "at": plan.at.isoformat().replace("+00:00", "Z"),
        "config_digest": plan.config_digest,
        "summary": plan.summary(),
        "changes": [change_to_json(c) for c in plan.changes],
        "live_digests": [{"key": list(k), "digest": d} for k, d in sorted(plan.live_digests.items())],
    }


def dumps(plan: Plan) -> str:
    return json.dumps(plan_to_json(plan), indent=2, sort_keys=True) + "\n"
