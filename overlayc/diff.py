"""Diff: desired × live → unordered Changes (pure). See DESIGN.md §6.

`Change` is the unit every later stage speaks: plan ordering, renderers, the executor and
rollback (whose inverse of a change is another change).
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields

from overlayc.change import Action as Action
from overlayc.change import Change as Change
from overlayc.change import Reason as Reason
from overlayc.changeset import Changes, EntryRun, Part, sort_parts
from overlayc.errors import PlanError
from overlayc.gcpause import paused_gc
from overlayc.kernel.entries import ENTRY_KINDS
from overlayc.kernel.objects import Bridge, Endpoint, Gateway, KernelObject, Vxlan, XfrmState
from overlayc.kernel.ownership import Key
from overlayc.kernel.state import KernelState, Observed, sort_key

# Fields the kernel can change in place, per kind; a difference in any other field is a REPLACE.
# vxlan: the kernel refuses changelink of the VNI ("Cannot change VNI") and of the UDP port
# ("Cannot change dst port"); local/learning/proxy are recreated too, to keep one rule.
# A link's `sandbox` is not updatable: moving a device between namespaces flushes its fdb/neigh
# entries and addresses, so a move (the upgrade from the node-namespace layout) is a REPLACE.
UPDATABLE: dict[str, frozenset[str]] = {
    "sandbox": frozenset({"forwarding", "ipv6"}),
    "gateway": frozenset({"mac", "peer_mac", "mtu", "alias", "address", "ipv6"}),
    "bridge": frozenset({"mac", "mtu", "alias", "address"}),
    "vxlan": frozenset({"mac", "mtu", "alias", "master"}),
    "fdb": frozenset(),
    "neigh": frozenset({"lladdr"}),
    "netns": frozenset(),
    "endpoint": frozenset({"host_mac", "mtu", "alias", "bridge", "mac", "address", "ipv6", "address6"}),
    "xfrm-state": frozenset(),
    "xfrm-policy": frozenset({"priority", "action", "tmpl"}),
}





def _link_name(obj: KernelObject) -> str | None:
    """The link name a desired object occupies in the node's namespace (None for non-links and
    for links in a sandbox, which overlayc owns whole)."""
    if isinstance(obj, Gateway):
        return obj.name
    if getattr(obj, "sandbox", "x") != "":
        return None
    if isinstance(obj, Bridge | Vxlan):
        return obj.name
    if isinstance(obj, Endpoint):
        return obj.host
    return None


def collisions(desired: KernelState, live: Observed) -> list[tuple[Key, str]]:
    """Every desired object that a foreign live object blocks, with the foreign object's description."""
    found: list[tuple[Key, str]] = []
    links, foreign = live.foreign_links, live.foreign
    for key, obj in desired.other_items():
        name = _link_name(obj)
        if name is not None and name in links:
            found.append((key, f"link {name} exists: {links[name]}"))
        elif key in foreign:
            found.append((key, foreign[key]))
    # fdb/neigh entries are no links; a foreign entry with a desired key blocks it
    found += [(key, why) for key, why in foreign.items() if key[0] in ENTRY_KINDS and key in desired]
    return sorted(found, key=lambda kv: sort_key(kv[0]))


def differing_fields(before: KernelObject, after: KernelObject) -> tuple[str, ...]:
    """Compared fields whose values differ, in declaration order.

    A desired `XfrmState.key_fp` of None (planning without the private key) matches any live value.
    """
    out: list[str] = []
    for f in dataclass_fields(after):
        if not f.compare:
            continue
        if f.name == "key_fp" and isinstance(after, XfrmState) and after.key_fp is None:
            continue
        if getattr(before, f.name) != getattr(after, f.name):
            out.append(f.name)
    return tuple(out)


def _compare(live: KernelObject, want: KernelObject) -> Change | None:
    changed = differing_fields(live, want)
    if not changed:
        return None
    fixed = [f for f in changed if f not in UPDATABLE[want.kind]]
    if not fixed:
        return Change(Action.UPDATE, want.key, live, want, Reason.DRIFT, changed)
    detail = f"{', '.join(fixed)} cannot be changed in place"
    return Change(Action.REPLACE, want.key, live, want, Reason.CANNOT_UPDATE, changed, detail)


def _recreate_dependents(changes: list[Part], desired: KernelState, live: KernelState) -> list[Part]:
    """`changes` with every kept fdb/neigh entry on a replaced vxlan device planned as an
    explicit delete and create (dropping its in-place update, if any).

    The kernel flushes a device's fdb and neighbour entries when the device is deleted; planning
    them as a delete (before the replace) and a create (after it) keeps rollback exact.
    """
    replaced = {c.key[1] for c in changes
                if isinstance(c, Change) and c.action is Action.REPLACE and c.kind == "vxlan"}
    if not replaced:
        return changes
    out = [c for c in changes if not (isinstance(c, Change) and c.action is Action.UPDATE
                                      and c.kind in ("fdb", "neigh") and c.key[1] in replaced)]
    for obj in sorted(live.entries.objects(sorted(replaced)), key=lambda o: o.key):
        want = desired.get(obj.key)
        if want is None:
            continue
        detail = f"its device {obj.dev} is replaced"
        out.append(Change(Action.DELETE, obj.key, obj, None, Reason.DEVICE_REPLACED, (), detail))
        out.append(Change(Action.CREATE, obj.key, None, want, Reason.DEVICE_REPLACED, (), detail))
    return out


@paused_gc()
def diff(desired: KernelState, live: Observed) -> Changes:
    """Unordered changes that turn the owned live state into `desired` (pure; see `plan.order`).

    Keyed join: desired only → CREATE (not_in_kernel); owned live only → DELETE (not_in_config);
    both → nothing, UPDATE (every differing field in UPDATABLE) or REPLACE (cannot_update, with
    the fields). Entries on a replaced vxlan device are deleted and recreated around it.
    Entry creates and deletes are held compactly, one run per kind and device (see
    overlayc.changeset). Raises PlanError listing every foreign object that collides with a
    desired one.
    """
    clashes = collisions(desired, live)
    if clashes:
        raise PlanError(clashes)
    owned = live.owned
    changes: list[Part] = []
    for key, want in desired.other_items():  # unsorted walks; only the (few) changes are sorted
        have = owned.get(key)
        if have is None:
            changes.append(Change(Action.CREATE, key, None, want, Reason.NOT_IN_KERNEL))
        elif have != want:  # equal objects have no differing field: skip the field walk
            change = _compare(have, want)
            if change is not None:
                changes.append(change)
    deletes: list[Part] = [Change(Action.DELETE, key, have, None, Reason.NOT_IN_CONFIG)
               for key, have in owned.other_items() if key not in desired]
    # fdb/neigh entries: set differences per device, creates and deletes as runs of their keys;
    # objects only for the neighbours whose MAC differs
    create, delete, changed = desired.entries.difference(owned.entries)
    changes += (EntryRun(Action.CREATE, Reason.NOT_IN_KERNEL, *run) for run in create)
    changes += (c for have, want in changed if (c := _compare(have, want)) is not None)
    deletes += (EntryRun(Action.DELETE, Reason.NOT_IN_CONFIG, *run) for run in delete)
    ordered = sort_parts(changes, _change_order) + sort_parts(deletes, _change_order)
    return Changes(_split_moves(_recreate_dependents(ordered, desired, owned)))


def _split_moves(changes: list[Part]) -> list[Part]:
    """`changes` with every replace that moves a link into another namespace (the upgrade from
    the layout before sandboxes: `sandbox` "" → the network's) planned as a delete where it is and
    a create where it goes. The plan then deletes the old vxlan and endpoints first (a VNI is
    bound once in the node's namespace, an endpoint's interface name once in its own) and the old
    bridge last, and a rollback undoes it in reverse: the old bridge is back before anything is
    enslaved to it again."""
    if not any(isinstance(c, Change) and c.action is Action.REPLACE and "sandbox" in c.fields
               for c in changes):
        return changes  # the common case
    out: list[Part] = []
    for c in changes:
        if not isinstance(c, Change) or c.action is not Action.REPLACE or "sandbox" not in c.fields:
            out.append(c)
            continue
        source, where = (f"sandbox {name}" if (name := getattr(o, "sandbox", "")) else "the node's namespace"
                         for o in (c.before, c.after))
        detail = f"moves from {source} into {where}"
        out.append(Change(Action.DELETE, c.key, c.before, None, Reason.CANNOT_UPDATE, c.fields, detail))
        out.append(Change(Action.CREATE, c.key, None, c.after, Reason.CANNOT_UPDATE, c.fields, detail))
    return out


def _change_order(change: Change) -> tuple[int, Key]:
    return sort_key(change.key)
