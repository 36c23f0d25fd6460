"""A plan, for people in Terraform's familiar shape and for programs as the versioned JSON
document (pure).

    # vxlan vx-web must be replaced: vni cannot be changed in place
    -/+ vxlan vx-web
          ~ vni = 4097 -> 4098  # forces replacement

    Plan for node2: 14 to add, 1 to change, 0 to replace, 2 to destroy.

FDB and neighbour creates/deletes are shown grouped per device with a count (`render/groups.py`)
unless `full`; the summary line counts every change.
Attribute differences come from deepdiff over the objects' JSON forms (secrets are never in
them; key material shows as its fingerprint). Colour is the caller's decision (a terminal).
The JSON document is `overlayc.plan.plan_to_json` (consumers must ignore unknown keys; a major
`format_version` bump marks a breaking change).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from overlayc.diff import UPDATABLE, Action, Change, Reason
from overlayc.kernel.objects import to_json
from overlayc.kernel.ownership import key_text
from overlayc.plan import Plan, dumps
from overlayc.render.groups import EntryGroup, describe_group, group_changes, group_head

_SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.REPLACE: "-/+", Action.DELETE: "-"}
_COLOUR = {Action.CREATE: "32", Action.UPDATE: "33", Action.REPLACE: "35", Action.DELETE: "31"}
_LEVELS = ("values_changed", "type_changes", "dictionary_item_added", "dictionary_item_removed")
_HEX = ("spi", "reqid", "priority")  # as `ip xfrm` shows them, and as in the keys
UNKNOWN_KEY = "(unknown without the private key)"


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def _value(name: str, value: Any) -> str:
    if name == "key_fp" and value is None:
        return UNKNOWN_KEY
    if name in _HEX and isinstance(value, int):
        return f"{value:#010x}" if name == "spi" else f"{value:#x}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_value(k, v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def change_headline(change: Change) -> str:
    """`vxlan vx-web must be replaced: vni cannot be changed in place` and the like."""
    what = key_text(change.key)
    match change.action, change.reason:
        case Action.CREATE, Reason.DEVICE_REPLACED:
            return f"{what} will be created again: {change.detail}"
        case Action.CREATE, Reason.CANNOT_UPDATE if change.detail:  # a link that moves namespace
            return f"{what} will be created: {change.detail}"
        case Action.CREATE, _:
            return f"{what} will be created"
        case Action.UPDATE, _:
            return f"{what} will be updated in-place"
        case Action.REPLACE, _:
            return f"{what} must be replaced: {change.detail}"
        case Action.DELETE, Reason.DEVICE_REPLACED | Reason.CANNOT_UPDATE:
            return f"{what} will be destroyed: {change.detail}"
        case _:
            return f"{what} will be destroyed: no longer in the desired state"


def attribute_lines(change: Change) -> list[str]:
    """`+ name = value` for a create, `- name = value` for a delete, `~ name = old -> new` for
    each changed attribute of an update or replace."""
    if change.before is None or change.after is None:
        sign, obj = ("+", change.after) if change.before is None else ("-", change.before)
        assert obj is not None
        attrs = {k: v for k, v in to_json(obj).items() if k != "kind"}
        width = max(len(k) for k in attrs)
        return [f"{sign} {k:<{width}} = {_value(k, v)}" for k, v in attrs.items()]
    # imported here: deepdiff (and the asyncio it imports) cost ~0.15 s of every command's start
    from deepdiff import DeepDiff
    from deepdiff.helper import notpresent

    after, before = to_json(change.after), to_json(change.before)
    lines = []
    tree = DeepDiff(before, after, verbose_level=2).tree
    levels = sorted((lv for name in _LEVELS for lv in tree.get(name, [])), key=lambda lv: lv.path())
    for level in levels:
        path = level.path(output_format="list")
        name = ".".join(str(p) for p in path)
        if path == ["key_fp"] and after["key_fp"] is None:
            continue
        old = _value(str(path[-1]), None if level.t1 is notpresent else level.t1)
        new = _value(str(path[-1]), None if level.t2 is notpresent else level.t2)
        forces = change.action is Action.REPLACE and str(path[0]) not in UPDATABLE[change.kind]
        lines.append(f"~ {name} = {old} -> {new}" + ("  # forces replacement" if forces else ""))
    return lines


def render_change_text(change: Change, color: bool = False) -> str:
    symbol = _SYMBOL[change.action]
    head = _paint(f"{symbol:>3} {key_text(change.key)}", _COLOUR[change.action], color)
    body = "".join(f"\n        {line}" for line in attribute_lines(change))
    return f"  # {change_headline(change)}\n{head}{body}\n"


def render_group(group: EntryGroup, networks: Mapping[str, str], color: bool = False) -> str:
    symbol = _SYMBOL[group.action]
    head = _paint(f"{symbol:>3} {group_head(group, networks)}", _COLOUR[group.action], color)
    return f"  # {describe_group(group)}\n{head}\n"


def summary_line(plan: Plan) -> str:
    """`Plan for node2: 14 to add, 1 to change, 0 to replace, 2 to destroy.` or the no-op line."""
    if plan.empty:
        return f"No changes. Node {plan.node} matches the configuration."
    s = plan.summary()
    return (
        f"Plan for {plan.node}: {s['add']} to add, {s['change']} to change, "
        f"{s['replace']} to replace, {s['destroy']} to destroy."
    )


def render_plan_text(
    plan: Plan, color: bool = False, *, full: bool = False, networks: Mapping[str, str] | None = None
) -> str:
    """The whole human plan: one block per change in execution order (fdb/neigh creates and
    deletes one block per run on a device, unless `full`), then the summary line. `networks`
    (vxlan device → network name) names the network of a group."""
    if plan.empty:
        return summary_line(plan) + "\n"
    where = f" (netns {plan.netns})" if plan.netns else ""
    at = plan.at.isoformat().replace("+00:00", "Z")
    head = f"overlayc will perform these actions on node {plan.node}{where}, as of {at}:\n\n"
    names = networks or {}
    items = plan.changes if full else group_changes(plan.changes)
    blocks = "\n".join(
        render_group(c, names, color) if isinstance(c, EntryGroup) else render_change_text(c, color)
        for c in items
    )
    return f"{head}{blocks}\n{_paint(summary_line(plan), '1', color)}\n"


def render_plan_json(plan: Plan) -> str:
    """The plan document as indented, key-sorted JSON with a trailing newline (no key material)."""
    return dumps(plan)
