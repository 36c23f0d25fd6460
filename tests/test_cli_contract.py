"""The command line as pipelines and people meet it: exit codes of the table, usage errors,
errors as JSON, --version/-h, colour, `nodes`, hints that work, saved-plan targets, the lock file's
place, offline node choice, the cluster picture (no kernel needed)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overlayc.cli import app
from overlayc.cliapp import colour_for, set_no_colour
from overlayc.config.load import load_config
from overlayc.exitcodes import TABLE, markdown_table
from tests.support.golden import GOLDEN, assert_golden
from tests.support.host import ROOT

SEED = ROOT / "examples" / "seed" / "overlay.yaml"
AT = ["--at", "2026-01-01T00:00:00Z"]


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "overlay.yaml"
    shutil.copy(SEED, path)
    shutil.copy(SEED.parent / "overlayc.lock", tmp_path / "overlayc.lock")
    return path


# --- exit codes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["plan", "-f", str(SEED), "--detailed-exitcode", "--lokced"],  # the typo of the issue
    ["validate"],  # -f missing
    ["render", "-f", str(SEED), "--format", "png"],
    ["render", "-f", str(SEED), "--format", "iproute2", "--locked"],  # one node needs --node
    ["no-such-command"],
    ["keys"],
])
def test_usage_errors_exit_64_never_0_or_2(args: list[str]) -> None:
    code, _, err = run(*args)
    assert code == 64, err  # Exit.USAGE


def test_bare_overlayc_is_a_usage_error_as_a_process() -> None:
    res = subprocess.run([sys.executable, "-m", "overlayc"], capture_output=True, text=True, check=False)
    assert res.returncode == 64 and "Usage: overlayc" in res.stdout + res.stderr
    res = subprocess.run([sys.executable, "-m", "overlayc", "plan", "--lokced"], capture_output=True,
                         text=True, check=False)
    assert res.returncode == 64 and "No such option" in res.stderr and "Traceback" not in res.stderr


def test_a_usage_error_under_json_is_json() -> None:
    code, out, _ = run("validate", "--json", "--bogus")
    assert code == 64
    assert json.loads(out)["error"]["kind"] == "usage"


def test_invalid_config_is_65_and_unreadable_input_1_both_as_json(tmp_path: Path) -> None:
    code, out, _ = run("validate", "-f", str(tmp_path / "missing.yaml"), "--json")
    doc = json.loads(out)
    assert code == 1 and doc["format_version"] == "1.0"
    assert doc["error"] == {"kind": "input", "exit_code": 1,
                            "message": f"{tmp_path / 'missing.yaml'}: no such file or directory"}
    code, out, _ = run("validate", "-f", str(ROOT / "examples/invalid/typo-key.yaml"), "--json")
    assert code == 65 and json.loads(out)["valid"] is False


def test_the_table_is_in_help_and_in_the_readme() -> None:
    code, out, _ = run("--help", env={"COLUMNS": "300"})
    assert code == 0
    for value, _ in TABLE:
        assert f" {value} " in out.replace("\n", " ")
    for doc in ("README.md", "docs/operations.md"):
        assert markdown_table() in (ROOT / doc).read_text(), doc


def test_version_and_short_help(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run("--version")
    assert (code, out) == (0, "overlayc 0.1.0\n")
    code, out, _ = run("plan", "-h")
    assert code == 0 and "--detailed-exitcode" in out
    # typer finds the shell among this process's ancestors (shellingham): under `make` with a
    # pipe in the recipe that is `sh`, which typer does not support; the user's shell is bash here
    monkeypatch.setattr("shellingham.detect_shell", lambda *a, **k: ("bash", "/bin/bash"))
    code, out, _ = run("--show-completion")
    assert code == 0 and "complete" in out


# --- colour -------------------------------------------------------------------------------------
class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("env", "flag", "expected"), [
    ({}, False, True), ({"NO_COLOR": "1"}, False, False), ({"TERM": "dumb"}, False, False),
    ({}, True, False), ({"NO_COLOR": ""}, False, True),
])
def test_colour_follows_no_color_term_and_the_flag(env: dict[str, str], flag: bool, expected: bool) -> None:
    set_no_colour(flag)
    try:
        assert colour_for(Tty(), env) is expected
        assert colour_for(io.StringIO(), env) is False  # never on a pipe
    finally:
        set_no_colour(False)


# --- nodes --------------------------------------------------------------------------------------
def test_nodes_lists_names_addresses_roles_and_labels() -> None:
    code, out, _ = run("nodes", "-f", str(ROOT / "examples/large/overlay.yaml"))
    assert code == 0
    assert out.splitlines()[0].split() == ["NAME", "ADDRESS", "ROLE", "LABELS"]
    assert "mgr1   172.16.0.1  manager  zone=a" in out
    code, out, _ = run("nodes", "-f", str(SEED), "--json")
    doc = json.loads(out)
    assert doc["format_version"] == "1.0"
    assert [n["name"] for n in doc["nodes"]] == ["node1", "node2", "node3"]
    assert doc["nodes"][1]["address"] == "192.0.2.2" and doc["nodes"][1]["role"] == "worker"


def test_every_json_document_says_format_version(config: Path) -> None:
    for args in (["validate"], ["nodes"], ["render", "--node", "node2"],
                 ["plan", "--node", "node2", "--state", "empty"]):
        json_flag = ["--json"] if args[0] != "render" else []
        code, out, err = run(args[0], "-f", str(config), *args[1:], *json_flag)
        assert code == 0, err
        doc = json.loads(out)
        assert "format_version" in doc and "format" not in doc, args


# --- plan: offline node choice, saved plans, the lock file --------------------------------------
def test_plan_against_empty_state_needs_a_node_and_never_looks_at_the_host(config: Path) -> None:
    code, _, err = run("plan", "-f", str(config), "--state", "empty")
    assert code == 1 and "choose one with --node (node1, node2, node3)" in err


def test_plan_against_a_snapshot_takes_the_node_from_it(config: Path, tmp_path: Path) -> None:
    code, out, _ = run("render", "-f", str(config), "--node", "node2", *AT)
    snapshot = tmp_path / "node2.json"
    snapshot.write_text(out)
    code, out, err = run("plan", "-f", str(config), "--state", str(snapshot), "--detailed-exitcode", *AT)
    assert (code, out) == (0, "No changes. Node node2 matches the configuration.\n"), err


def test_saved_plan_hint_is_a_command_that_names_the_config(config: Path, tmp_path: Path) -> None:
    saved = tmp_path / "p.json"
    code, _, err = run("plan", "-f", str(config), "--node", "node2", "--state", "empty", "-o", str(saved))
    assert code == 0
    assert f"`overlayc apply -f {config} {saved}` applies exactly it" in err


def test_a_saved_plan_refuses_another_node_or_namespace(config: Path, tmp_path: Path) -> None:
    saved = tmp_path / "p.json"
    run("plan", "-f", str(config), "--node", "node2", "--state", "empty", "-o", str(saved))
    for option, value in (("--node", "node1"), ("--netns", "oc14-elsewhere")):
        code, _, err = run("apply", "-f", str(config), str(saved), option, value, "--yes")
        assert code == 1
        assert f"is a plan for node node2 (netns -); {option} {value} names another target" in err
        assert "overlayc plan -f" in err and f"-o {saved}" in err


def test_the_lock_location_does_not_depend_on_the_order_of_f(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    for name in ("10-cluster.yaml", "20-app.yaml"):
        shutil.copy(ROOT / "examples/invalid/duplicate-across-files" / name, conf / name)
    a, b = conf / "10-cluster.yaml", conf / "20-app.yaml"
    (conf / "sub").mkdir()
    moved = b.rename(conf / "sub" / "20-app.yaml")
    for files in ([a, moved], [moved, a]):
        try:
            loaded = load_config(files)
        except Exception:  # the example is invalid on purpose; only the path matters here
            from overlayc.config.load import LOCK_NAME, lock_dir
            assert lock_dir(files) / LOCK_NAME == conf / LOCK_NAME
        else:
            assert loaded.lock_path == conf / "overlayc.lock"


def test_writing_the_lock_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "overlay.yaml"
    shutil.copy(SEED, path)
    code, _, err = run("render", "-f", str(path), "--node", "node1")
    assert code == 0 and f"overlayc: wrote {tmp_path / 'overlayc.lock'} (created)" in err
    code, _, err = run("render", "-f", str(path), "--node", "node1")
    assert code == 0 and "wrote" not in err


# --- the picture --------------------------------------------------------------------------------
def test_dot_picture_of_the_seed_golden() -> None:
    code, out, err = run("render", "-f", str(SEED), "--format", "dot", "--locked", *AT)
    assert code == 0, err
    assert_golden(GOLDEN / "render" / "seed.dot", out)
    assert 'label="ESP epoch 40908\\nnode1→node2 spi 0x80e3a360\\nnode2→node1 spi 0x0b963448"' in out


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz `dot` is not installed (apt-get install graphviz)")
def test_svg_picture() -> None:
    code, out, err = run("render", "-f", str(SEED), "--format", "svg", "--locked", *AT)
    assert code == 0, err
    assert out.startswith("<?xml") and "<svg" in out and "node1→node2 spi 0x80e3a360" in out


def test_a_stale_lock_refusal_names_why_not_a_flag_never_given(config: Path, tmp_path: Path) -> None:
    saved = tmp_path / "p.json"
    run("plan", "-f", str(config), "--node", "node2", "--state", "empty", "-o", str(saved))
    (config.parent / "overlayc.lock").unlink()  # the lock the plan was made with is gone
    code, _, err = run("apply", "-f", str(config), str(saved), "--yes")
    assert code == 1
    assert "is out of date (a saved plan is applied with the lock it was made with)" in err
    assert "--locked" not in err


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz `dot` is not installed (apt-get install graphviz)")
def test_make_demo_writes_the_picture_and_says_where(tmp_path: Path) -> None:
    from lab.demo_picture import write_picture

    target = tmp_path / "seed.svg"
    line = write_picture(target)
    assert line == f"demo: the cluster picture (overlayc render --format svg): {target}"
    assert "<svg" in target.read_text()
