"""Generate docs/config-reference.md from the configuration's JSON Schema (the pydantic models).

    .venv/bin/python tools/gen_config_reference.py          # rewrite docs/config-reference.md
    .venv/bin/python tools/gen_config_reference.py --check  # exit 1 when it is stale

`make golden` regenerates it too (tests/test_docs_golden.py compares it with assert_golden).
One section per object type: a table of its keys with type, default and description. Types link
to their sections; `name → X` is a mapping whose keys are names (nodes, networks, ...).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "config-reference.md"
HEADER = """\
# Configuration reference

Generated from the JSON Schema (`overlayc schema`, checked in as `schemas/overlayc.schema.json`) by
`tools/gen_config_reference.py`; do not edit by hand (`make golden` regenerates it). Every key not
listed here is an error (`error[unknown-key]`, with a "did you mean" when one is close), and so is a
misspelled Docker `driver_opts` option. Durations are `30s`, `90m`, `12h`, `1d` or seconds.

Types are strict, and the JSON Schema accepts exactly what `overlayc validate` accepts: an integer
is a YAML integer (`replicas: "2"` is an error), a boolean is `true` or `false`, or the strings
`"true"`/`"false"` that Docker's documentation writes (`yes`, `off`, `1` are errors: YAML 1.1 reads
`yes` as true, YAML 1.2 as a string, and a config must not mean two things). Docker's `driver_opts`
values may be strings, as `docker network create --opt` gives them (`"1400"`, `"4097"`, and
`encrypted: ""` meaning on); `version` may be `1` or `"1"`. A subnet needs its prefix length
(`10.88.0.0/24`; `10.88.0.0` alone is an error, not a /32).

A name (of a node, network, service or endpoint) is 1-32 characters: lower-case letters, digits,
`-` and `_`, not at the ends. Every pattern a value must match is listed under
[Patterns](#patterns) at the end.
"""


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _link(name: str) -> str:
    return f"[{name}](#{name.lower()})"


def _bounds(s: dict[str, Any]) -> str:
    lo = s.get("minimum", s.get("exclusiveMinimum"))
    hi = s.get("maximum")
    if lo is None and hi is None:
        return ""
    if "exclusiveMinimum" in s:
        return f" > {lo}"
    return f" {lo if lo is not None else ''}..{hi if hi is not None else ''}"


def _lengths(s: dict[str, Any]) -> str:
    lo, hi = s.get("minLength"), s.get("maxLength")
    if lo is None and hi is None:
        return ""
    return f" of {lo if lo is not None else 0}..{hi if hi is not None else ''} characters"


def named_patterns() -> dict[str, str]:
    """Patterns shown by name in the tables, each spelled out once in "Patterns" below them."""
    sys.path.insert(0, str(ROOT))
    from overlayc.config import model, subnets

    return {f"^{model.NAME_RE.strip('^$')}$": "name", model.IPV4_PATTERN: "IPv4 address",
            subnets.SUBNET4_PATTERN: "IPv4 subnet", subnets.SUBNET6_PATTERN: "IPv6 subnet",
            model.PUBLIC_KEY_PATTERN: "base64 of 32 bytes",
            model.DIGITS_PATTERN: "digits", model.DURATION_PATTERN: "duration"}


def _pattern(s: dict[str, Any]) -> str:
    if "pattern" not in s:
        return ""
    name = named_patterns().get(s["pattern"])
    return f" ({name})" if name else f" matching `{s['pattern']}`"


def patterns_section() -> list[str]:
    lines = ["## Patterns", "", "| pattern | regular expression (JSON Schema `pattern`) |", "|---|---|"]
    lines += [f"| {name} | `{_cell(regex)}` |" for regex, name in named_patterns().items()]
    return [*lines, ""]


def type_of(s: dict[str, Any]) -> str:
    """A short Markdown rendering of a schema's type."""
    if "$ref" in s:
        return _link(_ref_name(s["$ref"]))
    if "anyOf" in s:
        parts = [type_of(x) for x in s["anyOf"] if x.get("type") != "null"]
        text = " or ".join(parts)
        return text + (" or null" if len(parts) < len(s["anyOf"]) else "")
    if "const" in s:
        return f"`{json.dumps(s['const'])}`"
    if "enum" in s:  # JSON spelling: "true" is a string, true a boolean
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in s["enum"])
    kind = s.get("type")
    if kind == "array":
        return f"list of {type_of(s.get('items', {}))}"
    if kind == "object" and "patternProperties" in s:
        ((pattern, inner),) = s["patternProperties"].items()
        key = named_patterns().get(pattern, f"key matching `{pattern}`")
        return f"{key} → {type_of(inner)}"
    if kind == "object" and isinstance(s.get("additionalProperties"), dict):
        return f"mapping → {type_of(s['additionalProperties'])}"
    fmt = f" ({s['format']})" if "format" in s else ""
    return f"{kind or 'any'}{fmt}{_bounds(s)}{_lengths(s)}{_pattern(s)}"


def _default(s: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in s:
        return ""
    value = s["default"]
    return "" if value is None else f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def section(title: str, s: dict[str, Any]) -> list[str]:
    """`## title`, the object's description, and the table of its keys."""
    lines = [f"## {title}", ""]
    if s.get("description"):
        lines += [s["description"], ""]
    required = set(s.get("required", []))
    lines += ["| key | type | default | description |", "|---|---|---|---|"]
    for key, prop in sorted(s.get("properties", {}).items()):
        lines.append(f"| `{key}` | {_cell(type_of(prop))} | {_default(prop, key in required)} | "
                     f"{_cell(prop.get('description', ''))} |")
    return [*lines, ""]


def render_reference(schema: dict[str, Any]) -> str:
    """The whole reference document for `schema` (the top-level object first, then each type)."""
    lines = [HEADER, *section("Top level", {**schema, "description": "One configuration file "
                                                    "(several files or a directory are merged)."})]
    for name, sub in sorted(schema.get("$defs", {}).items()):
        lines += section(name, sub)
    lines += patterns_section()
    return "\n".join(lines).rstrip("\n") + "\n"


def generate() -> str:
    """The reference for the current models."""
    sys.path.insert(0, str(ROOT))
    from overlayc.config.schema import config_json_schema

    return render_reference(config_json_schema())


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        stale = not OUT.exists() or OUT.read_text() != text
        if stale:
            print(f"{OUT.relative_to(ROOT)} is stale: run tools/gen_config_reference.py", file=sys.stderr)
        return 1 if stale else 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
