"""docs/config-reference.md is generated from the JSON Schema; `make golden` regenerates it."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tests.support.golden import assert_golden
from tests.support.host import ROOT


def generator() -> ModuleType:
    path = ROOT / "tools" / "gen_config_reference.py"
    spec = importlib.util.spec_from_file_location("gen_config_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_reference_golden() -> None:
    assert_golden(ROOT / "docs" / "config-reference.md", generator().generate())


def test_the_reference_lists_every_key_of_every_type() -> None:
    gen = generator()
    text = gen.generate()
    from overlayc.config.schema import config_json_schema

    schema = config_json_schema()
    for name, sub in schema["$defs"].items():
        assert f"## {name}" in text
        for key in sub.get("properties", {}):
            assert f"| `{key}` |" in text, (name, key)
    assert "| `cluster` | [Cluster](#cluster) | **required** |" in text
    assert "| `networks` | name → [Network](#network) |" in text


def _constraints(node: object, out: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """Every (keyword, value) of a value constraint anywhere in the schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("minimum", "maximum", "exclusiveMinimum", "minLength", "maxLength", "pattern"):
                out.append((key, value))
            elif key == "enum":
                out += [("enum", v) for v in value]
            elif key == "patternProperties":
                out += [("pattern", p) for p in value]
            _constraints(value, out)
    elif isinstance(node, list):
        for item in node:
            _constraints(item, out)
    return out


def test_the_reference_shows_every_constraint_of_the_schema() -> None:
    import json

    from overlayc.config.schema import config_json_schema

    text = generator().generate()
    found = _constraints(config_json_schema(), [])
    assert ("minLength", 8) in found  # cluster.id, which the reference once left out
    for keyword, value in found:
        shown = str(value).replace("|", "\\|") if keyword == "pattern" else json.dumps(value)
        assert (f"`{shown}`" if keyword in ("pattern", "enum") else shown) in text, (keyword, value)
    assert "| `id` | string of 8..128 characters | **required** |" in text
