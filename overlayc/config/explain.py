"""pydantic ValidationError entries → overlayc diagnostics in our own words, at the source location.

pydantic's raw text never reaches the user: each error type is explained here, located through the
source map, and unknown keys get a "did you mean …?" from the fields the model accepts at that spot.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from overlayc.config.model import IP_ADDRESS_ERROR, NAME_RE, Config
from overlayc.config.sourcemap import SourceMap, YamlPath
from overlayc.config.subnets import IPV6_ADDRESS_ERROR, SUBNET_ERROR, SUBNET_MISSING
from overlayc.errors import Diagnostic, Location, Severity

KINDS = {"nodes": "node", "networks": "network", "services": "service", "endpoints": "endpoint"}
NAME_HINT = "use 1-32 characters: lower-case letters, digits, '-' and '_' (not at the ends)"
_KEY = "[key]"  # pydantic's loc marker for an error in a mapping key

_TYPE_WORDS = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "bool_type": "true or false", "bool_parsing": "true or false", "string_type": "a string",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "list_type": "a list", "none_required": "nothing",
}
_VALUE_WORDS = {
    "ip_v4_address": ("invalid-address", "expected an IPv4 address such as 192.0.2.1"),
    "ip_v4_network": ("invalid-address", "expected an IPv4 subnet such as 10.0.1.0/24 (host bits zero)"),
    IP_ADDRESS_ERROR: ("invalid-address",
                       "expected an IPv4 or IPv6 address such as 192.0.2.1 or 2001:db8::1"),
    SUBNET_ERROR: ("invalid-address", "expected an IPv4 or IPv6 subnet such as 10.0.1.0/24 or fd00:1::/64 "
                   "(host bits zero)"),
    IPV6_ADDRESS_ERROR: ("invalid-address", "expected an IPv6 address such as fd00:1::5"),
}
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"), "greater_than": ("gt", "greater than"),
    "less_than_equal": ("le", "at most"), "less_than": ("lt", "less than"),
    "string_too_short": ("min_length", "a string of at least N characters"),
    "string_too_long": ("max_length", "a string of at most N characters"),
}


def error(code: str, message: str, at: Location, hint: str | None = None,
          related: Iterable[tuple[str, Location]] = ()) -> Diagnostic:
    """An error diagnostic (shorthand used by every check)."""
    return Diagnostic(Severity.ERROR, code, message, at, hint, tuple(related))


def attachment_path(kind: str, owner: str, network: str, names: list[str], smap: SourceMap) -> YamlPath:
    """YAML path of `network` in the `networks:` of a service/endpoint, list or mapping form."""
    as_key: YamlPath = (kind, owner, "networks", network)
    if as_key in smap.keys:
        return as_key
    return (kind, owner, "networks", names.index(network))


def path_words(path: YamlPath) -> str:
    """`("networks", "web", "driver_opts")` → `network 'web' (driver_opts)`; `()` → `the top level`."""
    if len(path) >= 2 and path[0] in KINDS:
        base, rest = f"{KINDS[str(path[0])]} '{path[1]}'", path[2:]
    else:
        base, rest = "", path
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest).lstrip(".")
    if base and dotted:
        return f"{base} ({dotted})"
    return base or dotted or "the top level"


def show(value: Any) -> str:
    """A YAML value as the user wrote it, for messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """A "did you mean …?" hint when `word` is close to one of `choices`."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _unwrap(tp: Any) -> Any:
    """`X | None` → X (the only unions in the model are nullable ones)."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _model_at(path: YamlPath) -> type[BaseModel] | None:
    """The model class that parses the mapping at `path`, if any."""
    tp: Any = Config
    i = 0
    while i < len(path):
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {f.alias or n: f for n, f in tp.model_fields.items()}
            if path[i] not in fields:
                return None
            tp = fields[str(path[i])].annotation
        elif get_origin(tp) in (dict, list):
            tp = get_args(tp)[-1]
        else:
            return None
        i += 1
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _fields(path: YamlPath) -> list[str]:
    model = _model_at(path)
    return [] if model is None else [f.alias or n for n, f in model.model_fields.items()]


def _unknown_key(path: YamlPath, smap: SourceMap) -> Diagnostic:
    key, parent = str(path[-1]), path[:-1]
    allowed = _fields(parent)
    hint = did_you_mean(key, allowed) or (f"expected one of: {', '.join(allowed)}" if allowed else None)
    if parent and parent[-1] == "driver_opts":
        return Diagnostic(Severity.ERROR, "unknown-driver-option",
                          f"unknown driver option '{key}' in {path_words(parent[:-1])}",
                          smap.locate_key(path), hint)
    return Diagnostic(Severity.ERROR, "unknown-key", f"unknown key '{key}' in {path_words(parent)}",
                      smap.locate_key(path), hint)


def _missing(path: YamlPath, smap: SourceMap) -> Diagnostic:
    parent = path[:-1]
    loc = smap.locate_key(parent) if parent else smap.locate(())
    return Diagnostic(Severity.ERROR, "missing-key",
                      f"missing required key '{path[-1]}' in {path_words(parent)}", loc)


def _explain(err: ErrorDetails) -> tuple[str, str]:
    """(code, explanation) for an error about a value."""
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind in _TYPE_WORDS:
        return "wrong-type", f"expected {_TYPE_WORDS[kind]}, got {show(value)}"
    if kind in _VALUE_WORDS:
        code, words = _VALUE_WORDS[kind]
        return code, f"{words}, got {show(value)}"
    if kind in _BOUNDS:
        name, words = _BOUNDS[kind]
        limit = ctx.get(name)
        if "N" in words:
            return "invalid-value", f"expected {words.replace('N', str(limit))}, got {show(value)}"
        return "invalid-value", f"must be {words} {limit}, got {show(value)}"
    if kind == "literal_error":
        return "invalid-value", f"expected {ctx.get('expected')}, got {show(value)}"
    if kind == "value_error":
        return "invalid-value", str(ctx.get("error", err["msg"]))
    if kind.startswith("int_"):
        return "invalid-value", f"expected an integer of sensible size, got {show(value)}"
    return "invalid-value", f"invalid value {show(value)}"  # pydantic's own wording never leaks


def _value_error(err: ErrorDetails, smap: SourceMap) -> Diagnostic:
    loc: YamlPath = tuple(err["loc"])
    if loc and loc[-1] == _KEY:
        path = loc[:-1]
        if err["type"] == "string_pattern_mismatch":
            return Diagnostic(Severity.ERROR, "invalid-name",
                              f"'{path[-1]}' is not a valid name in {path_words(path[:-2] or path[:1])}",
                              smap.locate_key(path),
                              NAME_HINT)
        code, words = _explain(err)
        return Diagnostic(Severity.ERROR, code, f"key '{path[-1]}': {words}", smap.locate_key(path))
    if err["type"] == "string_pattern_mismatch" and err["ctx"].get("pattern") == NAME_RE:
        return Diagnostic(Severity.ERROR, "invalid-name",
                          f"{path_words(loc)}: {show(err.get('input'))} is not a valid name",
                          smap.locate(loc),
                          NAME_HINT)
    code, words = _explain(err)
    if loc and loc[-1] == "networks" and err["type"] == "dict_type":
        words = f"expected a list of network names or a mapping, got {show(err.get('input'))}"
    if loc and loc[-1] == "public_key":
        code = "bad-public-key"
    return Diagnostic(Severity.ERROR, code, f"{path_words(loc)}: {words}", smap.locate(loc))


def diagnostics_from_validation(error: ValidationError, smap: SourceMap) -> list[Diagnostic]:
    """One diagnostic per pydantic error entry, worded by overlayc and located via `smap`."""
    out: list[Diagnostic] = []
    for err in error.errors(include_url=False):
        path: YamlPath = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            out.append(_unknown_key(path, smap))
        elif err["type"] == "missing":
            out.append(_missing(path, smap))
        elif err["type"] == SUBNET_MISSING:
            out.append(Diagnostic(Severity.ERROR, "missing-key", f"missing required key 'subnet' in "
                                  f"{path_words(path[:-1])} (or `subnets`, or compose's `ipam`)",
                                  smap.locate_key(path[:-1])))
        else:
            out.append(_value_error(err, smap))
    return out
