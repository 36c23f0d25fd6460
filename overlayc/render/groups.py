"""Grouping of FDB and neighbour entries in the text plan (pure).

A node of a large cluster holds one FDB and one neighbour entry per remote endpoint: tens of
thousands of changes that differ only in their addresses. The text plan shows each run of entry
creates or deletes of one kind on one device, for one reason, of at least GROUP_MIN entries, as
one block with a count (shorter runs are shown entry by entry, as every other change):

      # 19,998 fdb entries on ovx4096 will be created (--full lists them)
      + 19,998 fdb entries on ovx4096 (remote endpoints of net000)

Updates and replaces of entries stay one block each (their changed attributes are the point).
Runs follow the plan's execution order (within a kind, changes are sorted by key, whose first
part is the device), so the blocks stay in execution order. `--full` and `--json` show every
object; the summary line always counts every change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

from overlayc.changeset import Changes, Part, parts_of
from overlayc.compile.naming import vxlan_name
from overlayc.diff import Action, Change, Reason

GROUPED_KINDS = frozenset({"fdb", "neigh"})
GROUP_MIN = 10  # a run this long or longer is one block; a few entries read better one by one
_NOUN = {"fdb": "fdb", "neigh": "neighbour"}


@dataclass(frozen=True, slots=True)
class EntryGroup:
    """`count` consecutive creates or deletes of `kind` entries on device `dev`, for one reason."""

    action: Action
    reason: Reason
    detail: str
    kind: str
    dev: str
    count: int


def _group_key(change: Change) -> tuple[Action, Reason, str, str, str] | None:
    """What a change shares with the others of its group; None for a change shown alone.
    (Called per change of a plan: `key[0]` rather than the `kind` property.)"""
    key, action = change.key, change.action
    if key[0] not in GROUPED_KINDS or (action is not Action.CREATE and action is not Action.DELETE):
        return None
    return (action, change.reason, change.detail, key[0], key[1])


def _part_key(part: Part) -> tuple[Action, Reason, str, str, str] | None:
    """`_group_key` of a change, or of every entry of a run."""
    if isinstance(part, Change):
        return _group_key(part)
    return (part.action, part.reason, "", part.kind, part.dev)


def group_changes(changes: Sequence[Change]) -> Iterator[Change | EntryGroup]:
    """The changes in order, each maximal run of at least GROUP_MIN groupable entries with one
    group key replaced by its EntryGroup. The counts of groups and lone changes add up to
    len(changes). A run of a Changes (overlayc.changeset) is counted without building its
    entries, and is built only when it is too short to be a group."""
    for key, same in groupby(parts_of(changes), key=_part_key):
        if key is None:
            yield from Changes(same)
            continue
        parts = Changes(same)
        if len(parts) < GROUP_MIN:
            yield from parts
        else:
            action, reason, detail, kind, dev = key
            yield EntryGroup(action, reason, detail, kind, dev, len(parts))


def describe_group(group: EntryGroup) -> str:
    """`19,998 fdb entries on ovx4096 will be created` and the like (as `describe` words it)."""
    what = f"{group.count:,} {_noun(group)} on {group.dev}"
    if group.action is Action.CREATE:
        verb = "will be created again: " + group.detail if group.reason is Reason.DEVICE_REPLACED else (
            "will be created")
    elif group.reason is Reason.DEVICE_REPLACED:
        verb = f"will be destroyed: {group.detail}"
    else:
        verb = "will be destroyed: no longer in the desired state"
    return f"{what} {verb} (--full lists them)"


def device_networks(vnis: Mapping[str, int]) -> dict[str, str]:
    """vxlan device → network name, from the VNIs of an Assignment (for `group_head`)."""
    return {vxlan_name(vni): network for network, vni in vnis.items()}


def group_head(group: EntryGroup, networks: Mapping[str, str]) -> str:
    """`19,998 fdb entries on ovx4096 (remote endpoints of net000)`; the network is named when
    `networks` (vxlan device → network) knows the device."""
    network = networks.get(group.dev)
    of = f" (remote endpoints of {network})" if network else ""
    return f"{group.count:,} {_noun(group)} on {group.dev}{of}"


def _noun(group: EntryGroup) -> str:
    return f"{_NOUN[group.kind]} entries"
