"""Golden diagnostics: every case in examples/invalid renders exactly golden/errors/<case>.{txt,json};
the checked-in JSON Schema equals `overlayc schema`. Regenerate with `make golden` and review."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from overlayc.config.load import load_config
from overlayc.config.schema import render_schema
from overlayc.errors import ConfigError
from overlayc.render.diagnostics import render_diagnostics_json, render_diagnostics_text
from tests.support.golden import GOLDEN, assert_golden
from tests.support.host import ROOT

INVALID = ROOT / "examples" / "invalid"
CASES = sorted(p for p in INVALID.iterdir() if p.is_dir() or p.suffix == ".yaml")


def _case_name(path: Path) -> str:
    return path.stem if path.is_file() else path.name


def _diagnose(case: Path, monkeypatch: pytest.MonkeyPatch) -> ConfigError:
    monkeypatch.chdir(ROOT)  # locations are relative to the repository: goldens are portable
    with pytest.raises(ConfigError) as info:
        load_config([case.relative_to(ROOT)])
    return info.value


def test_there_are_enough_invalid_cases() -> None:
    assert len(CASES) >= 16


@pytest.mark.parametrize("case", CASES, ids=_case_name)
def test_invalid_case_golden_text(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    err = _diagnose(case, monkeypatch)
    assert err.diagnostics, "an invalid case must produce diagnostics"
    text = render_diagnostics_text(err.diagnostics, err.sources)
    assert_golden(GOLDEN / "errors" / f"{_case_name(case)}.txt", text)


@pytest.mark.parametrize("case", CASES, ids=_case_name)
def test_invalid_case_golden_json(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    err = _diagnose(case, monkeypatch)
    text = render_diagnostics_json(err.diagnostics)
    doc = json.loads(text)
    assert doc["valid"] is False and doc["error_count"] == len(err.diagnostics)
    assert_golden(GOLDEN / "errors" / f"{_case_name(case)}.json", text)


def test_schema_golden() -> None:
    """schemas/overlayc.schema.json is what `overlayc schema` prints (fails when stale)."""
    assert_golden(ROOT / "schemas" / "overlayc.schema.json", render_schema())
