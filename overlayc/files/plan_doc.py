"""Saved plans and state snapshots read as strictly as configurations are: a document of the
wrong format, with a field missing, added or of the wrong type, is refused with one line naming
where — never applied, never half-read into a traceback.

    read_plan(path) -> Plan               a plan saved by `plan -o` (format_version exactly 1.0,
                                          every change with a live digest)
    read_snapshot(path) -> KernelState    `observe --json` output (format 1)
    strict_object(data, where)            one kernel object, every field of its declared type
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from overlayc.compile.epoch import parse_at
from overlayc.diff import Action, Change, Reason
from overlayc.errors import InputError
from overlayc.files.bounded import loads_json
from overlayc.files.limits import LIMITS
from overlayc.files.safe import read_input
from overlayc.kernel.objects import KINDS, KernelObject, from_json
from overlayc.kernel.ownership import Key
from overlayc.kernel.state import LEGACY_FORMAT, STATE_FORMAT_VERSION, KernelState
from overlayc.options import netns_problem, node_problem
from overlayc.plan import PLAN_FORMAT_VERSION, Plan

PLAN_KEYS = frozenset({"format_version", "node", "netns", "at", "config_digest", "summary", "changes",
                       "live_digests"})
CHANGE_KEYS = frozenset({"action", "key", "kind", "before", "after", "reason", "fields", "detail"})
_DIGEST = re.compile(r"[0-9a-f]{64}")


class Refused(Exception):
    """Internal: one shape problem, with where it is (turned into an InputError naming the file)."""


SCALARS = (str, int, float, bool, type(None))


def _show(value: object) -> str:
    """A short form of a value for a message; never the repr of a huge structure."""
    return repr(value)[:40] if isinstance(value, SCALARS) else f"a {type(value).__name__}"


def _require(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise Refused(f"{where}: {what}")


def _keys(data: object, where: str, expected: frozenset[str]) -> Mapping[str, Any]:
    _require(isinstance(data, dict), where, "must be an object")
    assert isinstance(data, dict)
    missing, extra = sorted(expected - data.keys()), sorted(data.keys() - expected)
    _require(not missing, where, f"missing field(s) {', '.join(missing)}")
    _require(not extra, where, f"unknown field(s) {', '.join(str(e)[:40] for e in extra[:5])}")
    return data


def _type_ok(value: object, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(hint, type) and isinstance(value, hint)


def strict_object(data: object, where: str) -> KernelObject:
    """One kernel object from its JSON form; Refused when a field is missing, unknown, or not of
    the type its dataclass declares (an fdb `dev` that is a number, an MTU that is text)."""
    _require(isinstance(data, dict) and isinstance(data.get("kind"), str) and data["kind"] in KINDS,
             where, f"not a kernel object (kind must be one of {', '.join(sorted(KINDS))})")
    assert isinstance(data, dict)
    cls = KINDS[data["kind"]]
    _require("secret" not in data, where, "a saved document never holds key material")
    for name, value in data.items():  # before any conversion: no library sees a huge structure
        one = isinstance(value, SCALARS) or (name == "tmpl" and isinstance(value, dict)
                                             and all(isinstance(v, SCALARS) for v in value.values()))
        _require(one, where, f"field {str(name)[:40]} must be one value")
    try:
        obj = from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise Refused(f"{where}: not a valid {cls.kind}: {str(err)[:200]}") from None
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(obj):
        if f.init and f.name != "secret":
            value = getattr(obj, f.name)
            _require(_type_ok(value, hints[f.name]), where, f"field {f.name} has the wrong type")
    return obj


def _key(value: object, where: str) -> Key:
    _require(isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value),
             where, "a key is a non-empty list of strings")
    assert isinstance(value, list)
    return tuple(value)


def _change(data: object, where: str) -> Change:
    d = _keys(data, where, CHANGE_KEYS)
    _require(d["action"] in Action.__members__.values(), where, f"unknown action {_show(d['action'])}")
    _require(d["reason"] in Reason.__members__.values(), where, f"unknown reason {_show(d['reason'])}")
    key = _key(d["key"], f"{where}.key")
    _require(d["kind"] == key[0], where, "kind differs from the key's kind")
    before = None if d["before"] is None else strict_object(d["before"], f"{where}.before")
    after = None if d["after"] is None else strict_object(d["after"], f"{where}.after")
    for obj in (before, after):
        _require(obj is None or obj.key == key, where, "an object's key differs from the change's key")
    action = Action(d["action"])
    _require((before is None) == (action is Action.CREATE) and (after is None) == (action is Action.DELETE),
             where, f"a {action} change must have {'no ' if action is Action.CREATE else ''}before and "
             f"{'no ' if action is Action.DELETE else ''}after")
    _require(isinstance(d["fields"], list) and all(isinstance(f, str) for f in d["fields"]),
             where, "fields must be a list of strings")
    _require(isinstance(d["detail"], str), where, "detail must be a string")
    return Change(action, key, before, after, Reason(d["reason"]), tuple(d["fields"]), d["detail"])


def _digests(data: object, changes: tuple[Change, ...]) -> dict[Key, str | None]:
    _require(isinstance(data, list), "live_digests", "must be a list")
    assert isinstance(data, list)
    out: dict[Key, str | None] = {}
    for n, item in enumerate(data):
        where = f"live_digests[{n}]"
        d = _keys(item, where, frozenset({"key", "digest"}))
        digest = d["digest"]
        _require(digest is None or (isinstance(digest, str) and bool(_DIGEST.fullmatch(digest))),
                 where, "a digest is 64 hex digits or null")
        out[_key(d["key"], f"{where}.key")] = digest
    missing = [c.key for c in changes if c.key not in out]
    _require(not missing, "live_digests", f"no digest for {len(missing)} change(s), e.g. "
             + (" ".join(missing[0]) if missing else "") + ": the staleness check would be skipped")
    return out


def plan_from_document(data: object) -> Plan:
    """The Plan of a parsed plan document; Refused (with where) on any shape problem."""
    d = _keys(data, "plan", PLAN_KEYS)
    version = d["format_version"]
    _require(isinstance(version, str) and version == PLAN_FORMAT_VERSION, "format_version",
             f"{_show(version)} is not a supported plan format (this overlayc reads "
             f"{PLAN_FORMAT_VERSION} only)")
    _require(node_problem(d["node"]) is None, "node", node_problem(d["node"]) or "")
    netns = d["netns"]
    _require(netns is None or netns_problem(netns) is None, "netns", netns_problem(netns) or "")
    _require(isinstance(d["config_digest"], str) and bool(_DIGEST.fullmatch(d["config_digest"])),
             "config_digest", "must be 64 hex digits")
    _require(isinstance(d["at"], str), "at", "must be an RFC 3339 date-time")
    try:
        at: datetime = parse_at(d["at"])
    except InputError as err:
        raise Refused(f"at: {err}") from None
    _require(isinstance(d["summary"], dict), "summary", "must be an object")
    _require(isinstance(d["changes"], list), "changes", "must be a list")
    changes = tuple(_change(c, f"changes[{n}]") for n, c in enumerate(d["changes"]))
    return Plan(version, d["node"], d["netns"], at, d["config_digest"], changes,
                _digests(d["live_digests"], changes))


def read_plan(path: Path) -> Plan:
    """The plan saved at `path`; InputError (one line naming the file and the field) otherwise."""
    data = loads_json(read_input(path, LIMITS.json_bytes, "saved plan"), str(path))
    try:
        return plan_from_document(data)
    except Refused as err:
        raise InputError(f"{path}: not a valid saved plan: {err}; it is not applied") from None


def read_snapshot(path: Path) -> KernelState:
    """The state snapshot at `path` (`overlayc observe --json`); InputError otherwise."""
    data = loads_json(read_input(path, LIMITS.json_bytes, "state snapshot"), str(path))
    try:
        legacy = isinstance(data, dict) and "format" in data  # written before format_version
        d = _keys(data, "snapshot", frozenset({"format" if legacy else "format_version", "objects"}))
        if legacy:
            _require(d["format"] == LEGACY_FORMAT and type(d["format"]) is int, "format",
                     f"must be {LEGACY_FORMAT}")
        else:
            _require(d["format_version"] == STATE_FORMAT_VERSION, "format_version",
                     f"must be {STATE_FORMAT_VERSION!r}")
        _require(isinstance(d["objects"], list), "objects", "must be a list")
        objects = [strict_object(o, f"objects[{n}]") for n, o in enumerate(d["objects"])]
        try:
            return KernelState(objects)
        except ValueError as err:
            raise Refused(f"objects: {err}") from None
    except Refused as err:
        raise InputError(f"{path}: not an overlayc state snapshot: {err}") from None


def plan_from_json(data: Mapping[str, Any]) -> Plan:
    """Inverse of `overlayc.plan.plan_to_json`, strict: InputError for another format version, a
    missing or unknown field, a change without its live digest, a wrong type."""
    try:
        return plan_from_document(data)
    except Refused as err:
        raise InputError(f"not a valid plan document: {err}") from None
