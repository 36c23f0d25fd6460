"""Hostile input to every command (issue 16): each case exits with its documented code, says what
is wrong in one located diagnostic or one line, never shows a traceback, and changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from overlayc.errors import ConfigError, InputError
from overlayc.files.plan_doc import read_plan, read_snapshot
from tests.hostile import (
    BAD_OPTIONS,
    PLAN_BYTES,
    PLAN_MUTATIONS,
    SNAPSHOTS,
    YAML_BOMBS,
    plain_copy,
    run_cli,
    snapshot_bytes,
)

NO_CONFIG = ("destroy", "observe")


@pytest.mark.parametrize(("name", "text", "code", "words"), YAML_BOMBS, ids=[b[0] for b in YAML_BOMBS])
def test_yaml_bombs_and_foreign_yaml_are_located_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, code: str, words: str
) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    got = run_cli(capsys, "validate", "-f", str(path), "--json")
    assert got.code == 65, got
    [diag] = json.loads(got.out)["diagnostics"]
    assert diag["code"] == code and words in diag["message"], diag
    assert diag["file"] == str(path) and diag["line"] >= 1


@pytest.mark.parametrize("where", ["value", "key"])
def test_a_lone_surrogate_escape_is_a_located_diagnostic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    # JSON writes 😀 as the pair "\\ud83d\\ude00"; YAML reads each escape alone, as half a character
    cfg = plain_copy(tmp_path)
    pair = json.dumps("\U0001F600")
    text = cfg.read_text()
    edited = (text.replace("subnet: 10.200.0.0/24", f"subnet: {pair}", 1) if where == "value"
              else text + f"{pair}: 1\n")
    assert edited != text
    cfg.write_text(edited)
    got = run_cli(capsys, "validate", "-f", str(cfg), "--json")
    assert got.code == 65, got
    [diag] = json.loads(got.out)["diagnostics"]
    assert diag["code"] == "yaml-syntax" and "\\ud83d is half of a UTF-16 surrogate pair" in diag["message"]
    line = 14 if where == "value" else len(text.splitlines()) + 1
    assert diag["file"] == str(cfg) and diag["line"] == line, diag


@pytest.mark.parametrize("name", ["int-5000", "billion-laughs-9", "yaml-1.3"])
def test_the_lock_file_goes_through_the_same_bounded_loader(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    cfg = plain_copy(tmp_path)
    lock = cfg.parent / "overlayc.lock"
    [(_, text, code, words)] = [b for b in YAML_BOMBS if b[0] == name]
    lock.write_text(text)
    got = run_cli(capsys, "render", "-f", str(cfg), "--node", "host-a")
    assert got.code == 65 and f"error[{code}]" in got.err and words in got.err, got
    assert str(lock) in got.err and "Traceback" not in got.err
    assert lock.read_text() == text  # refused, not rewritten


def test_a_config_over_the_size_limit_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"version: 1\nx: '" + b"a" * (5 * 1024 * 1024) + b"'\n")
    got = run_cli(capsys, "validate", "-f", str(path))
    assert got.code == 1 and "larger than 4 MiB" in got.err and got.err.count("\n") == 1, got


@pytest.mark.parametrize(("name", "args", "code", "words"), BAD_OPTIONS, ids=[c[0] for c in BAD_OPTIONS])
def test_bad_option_values_are_refused_at_the_edge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, args: list[str], code: int, words: str
) -> None:
    cfg = plain_copy(tmp_path)
    argv = [a.replace("{dir}", str(tmp_path)) for a in args]
    if argv[0] not in NO_CONFIG:
        argv[1:1] = ["-f", str(cfg)]
    lock = (cfg.parent / "overlayc.lock").read_text()
    got = run_cli(capsys, *argv)
    assert got.code == code and words in got.err, got
    assert "Traceback" not in got.err + got.out
    assert (cfg.parent / "overlayc.lock").read_text() == lock
    assert not Path("/tmp/x/victim").exists()


def test_a_metrics_port_in_use_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        got = run_cli(capsys, "reconcile", "-f", str(plain_copy(tmp_path)), "--metrics-port", port)
    assert got.code == 64 and f"port {port}: already in use" in got.err, got


@pytest.mark.parametrize("option", ["-f", "--key-file", "--state"])
def test_a_fifo_never_blocks_a_command(tmp_path: Path, option: str) -> None:
    cfg = plain_copy(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    args = {"-f": ["validate", "-f", str(fifo)],
            "--key-file": ["render", "-f", str(cfg), "--node", "host-a", "--key-file", str(fifo)],
            "--state": ["plan", "-f", str(cfg), "--node", "host-a", "--state", str(fifo)]}[option]
    got = subprocess.run([sys.executable, "-m", "overlayc", *args], capture_output=True, text=True,
                         timeout=60, check=False)
    assert got.returncode in (1, 64) and "a FIFO" in got.stderr and "Traceback" not in got.stderr, got


def _saved_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, dict[str, Any]]:
    cfg = plain_copy(tmp_path)
    out = tmp_path / "p.json"
    got = run_cli(capsys, "plan", "-f", str(cfg), "--node", "host-a", "--state", "empty", "-o", str(out))
    assert got.code == 0, got
    return cfg, json.loads(out.read_text())


@pytest.mark.parametrize(("name", "mutate", "words"), PLAN_MUTATIONS, ids=[m[0] for m in PLAN_MUTATIONS])
def test_a_saved_plan_of_the_wrong_shape_is_never_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, mutate: object, words: str
) -> None:
    cfg, doc = _saved_plan(tmp_path, capsys)
    assert callable(mutate)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(mutate(doc)))
    with pytest.raises(InputError, match="not a valid saved plan") as info:
        read_plan(bad)
    assert words in str(info.value) and "it is not applied" in str(info.value)
    got = run_cli(capsys, "apply", "-f", str(cfg), str(bad), "--yes")
    assert got.code == 1 and words in got.err and "Traceback" not in got.err, got


@pytest.mark.parametrize(("name", "data", "words"), PLAN_BYTES, ids=[p[0] for p in PLAN_BYTES])
def test_unreadable_saved_plans_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, data: bytes, words: str
) -> None:
    cfg = plain_copy(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_bytes(data)
    got = run_cli(capsys, "apply", "-f", str(cfg), str(bad), "--yes")
    assert got.code == 1 and words in got.err and got.err.count("\n") == 1, got


@pytest.mark.parametrize(("name", "data", "words"), SNAPSHOTS, ids=[s[0] for s in SNAPSHOTS])
def test_snapshots_are_validated_like_configs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, data: object, words: str
) -> None:
    cfg = plain_copy(tmp_path)
    bad = tmp_path / "state.json"
    bad.write_bytes(snapshot_bytes(data))
    with pytest.raises(InputError) as info:
        read_snapshot(bad)
    assert words in str(info.value), info.value
    got = run_cli(capsys, "plan", "-f", str(cfg), "--node", "host-a", "--state", str(bad))
    assert got.code == 1 and words in got.err and "Traceback" not in got.err, got


def test_a_valid_snapshot_and_plan_still_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, doc = _saved_plan(tmp_path, capsys)
    assert read_plan(tmp_path / "p.json").node == "host-a"
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"format": 1, "objects": [c["after"] for c in doc["changes"]]}))
    assert len(read_snapshot(state)) == len(doc["changes"])
    got = run_cli(capsys, "plan", "-f", str(cfg), "--node", "host-a", "--state", str(state),
                  "--detailed-exitcode")
    assert got.code == 0, got


def test_config_errors_in_the_lock_name_the_lock(tmp_path: Path) -> None:
    from overlayc.files.lock import read_lock

    lock = tmp_path / "overlayc.lock"
    lock.write_text("version: 1\nvnis: {a: " + "1" * 30 + "}\n")
    with pytest.raises(ConfigError) as info:
        read_lock(lock)
    [diag] = info.value.diagnostics
    assert diag.location.file == str(lock) and diag.location.line == 2 and diag.code == "yaml-limit"
