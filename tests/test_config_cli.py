"""`overlayc validate` and `overlayc schema`: exit codes 0 / 65 / 1, text and JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overlayc.cli import app
from overlayc.config.schema import config_json_schema
from tests.support.host import ROOT

RUNNER = CliRunner()
SEED = "examples/seed/overlay.yaml"


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_valid_config_exits_0() -> None:
    res = RUNNER.invoke(app, ["validate", "-f", SEED])
    assert res.exit_code == 0, res.output
    assert "valid (3 nodes, 2 networks, 1 services, 1 endpoints)" in res.stdout


def test_valid_config_json() -> None:
    res = RUNNER.invoke(app, ["validate", "-f", SEED, "--json"])
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["valid"] is True and doc["error_count"] == 0


def test_invalid_config_exits_65_with_diagnostics_on_stderr() -> None:
    res = RUNNER.invoke(app, ["validate", "-f", "examples/invalid/typo-encrypt.yaml"])
    assert res.exit_code == 65
    assert "examples/invalid/typo-encrypt.yaml:14:5: error[unknown-key]" in res.stderr
    assert "did you mean 'encrypted'?" in res.stderr
    assert "Traceback" not in res.output


def test_invalid_config_json_on_stdout() -> None:
    res = RUNNER.invoke(app, ["validate", "-f", "examples/invalid/subnet-overlap.yaml", "--json"])
    assert res.exit_code == 65
    doc = json.loads(res.stdout)
    assert doc["valid"] is False
    assert [d["code"] for d in doc["diagnostics"]] == ["subnet-overlap"]


def test_several_files_and_a_directory(tmp_path: Path) -> None:
    res = RUNNER.invoke(app, ["validate", "-f", "examples/invalid/duplicate-across-files"])
    assert res.exit_code == 65 and "duplicate-name" in res.stderr
    res = RUNNER.invoke(app, ["validate", "-f", SEED, "-f", "examples/invalid/duplicate-across-files"])
    assert res.exit_code == 65 and "defined in more than one file" in res.stderr


def test_unreadable_input_exits_1_with_a_clear_message() -> None:
    res = RUNNER.invoke(app, ["validate", "-f", "no/such/overlay.yaml"])
    assert res.exit_code == 1
    assert "no/such/overlay.yaml: no such file or directory" in res.stderr
    assert "Traceback" not in res.output


def test_file_option_is_required() -> None:
    res = RUNNER.invoke(app, ["validate"])
    assert res.exit_code == 2


def test_schema_command_prints_the_schema() -> None:
    res = RUNNER.invoke(app, ["schema"])
    assert res.exit_code == 0
    assert json.loads(res.stdout) == config_json_schema()
    assert json.loads((ROOT / "schemas" / "overlayc.schema.json").read_text()) == config_json_schema()
