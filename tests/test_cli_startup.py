"""What a process builds before its command runs: typer builds only the command the command line
names (`overlayc.cliapp.only_command`), and what users see stays what the whole app shows."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from overlayc.cli import app
from overlayc.cliapp import only_command

ALL = ({"validate", "nodes", "render", "schema", "observe", "plan", "apply", "destroy", "reconcile",
        "status"}, {"keys"})


def _registered() -> tuple[set[str], set[str]]:
    commands = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    return commands, {g.name or "" for g in app.registered_groups}


def test_the_app_registers_the_commands_this_test_expects() -> None:
    assert _registered() == ALL


@pytest.mark.parametrize(("argv", "kept"), [
    (["plan", "-f", "x.yaml"], ({"plan"}, set())),
    (["--no-color", "validate"], ({"validate"}, set())),
    (["keys", "gen", "--node", "n1"], (set(), {"keys"})),
    (["reconcile", "--once"], ({"reconcile"}, set())),
])
def test_only_the_named_command_is_built_then_all_again(argv: list[str],
                                                        kept: tuple[set[str], set[str]]) -> None:
    with only_command(app, argv, {}):
        assert _registered() == kept
    assert _registered() == ALL


@pytest.mark.parametrize(("argv", "environ"), [
    ([], {}),  # no command: click prints the help, which lists every command
    (["--help", "plan"], {}),  # the app's help comes first
    (["-h"], {}),
    (["--version", "plan"], {}),
    (["plna", "-f", "x.yaml"], {}),  # misspelt: click suggests the command it resembles
    (["plan"], {"_OVERLAYC_COMPLETE": "bash_complete"}),  # the shell asks for completions
])
def test_the_whole_app_where_click_needs_every_command(argv: list[str], environ: dict[str, str]) -> None:
    with only_command(app, argv, environ):
        assert _registered() == ALL


@pytest.mark.parametrize("argv", [
    ["plan", "-h"], ["validate", "--bogus"], ["plan"], ["keys", "-h"], ["keys", "gen", "--bogus"],
    ["status", "--help"], ["--no-color", "render", "-h"],
])
def test_help_and_usage_errors_read_as_with_every_command(argv: list[str]) -> None:
    runner = CliRunner()
    whole = runner.invoke(app, argv, prog_name="overlayc")
    with only_command(app, argv, {}):
        alone = runner.invoke(app, argv, prog_name="overlayc")
        assert len(app.registered_commands) + len(app.registered_groups) == 1
    assert (alone.exit_code, alone.stdout, alone.stderr) == (whole.exit_code, whole.stdout, whole.stderr)
    assert whole.stdout or whole.stderr
