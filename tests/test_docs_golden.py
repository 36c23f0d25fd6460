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
