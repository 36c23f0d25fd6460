"""How the `overlayc` command runs as a process: exit codes, errors, colour (the CLI's frame).

`OverlaycGroup` is the Typer group class of the app. It runs every command with the error
handling a pipeline can trust (`overlayc.exitcodes`):

- a usage error (unknown option, missing argument, bad value, no command at all) prints click's
  message and exits 64, never 2 (`--detailed-exitcode`'s "changes present");
- an `OverlaycError` raised by a stage is reported without a traceback and exits with its code;
  with `--json` on the command line it is one JSON document on stdout (`render.errors`);
- end of input at a confirmation prompt is a declined confirmation (5); Ctrl-C exits 130;
- any other exception is a bug: one line saying so and where the traceback went, exit 70.

Colour (`colour_for`) is off when `--no-color` was given, `NO_COLOR` is set to anything
non-empty (no-color.org), `TERM=dumb`, or the stream is not a terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

import typer
from typer._click import exceptions as click_exceptions  # typer >= 0.2x vendors click
from typer.core import TyperGroup
from typer.main import get_command_name

from overlayc.errors import OverlaycError
from overlayc.exitcodes import Exit
from overlayc.render.errors import error_json, render_error_json, render_error_text

_NO_COLOUR_FLAG = {"set": False}


def set_no_colour(flag: bool) -> None:
    """Record `--no-color` for this invocation (the app callback calls this first, every time)."""
    _NO_COLOUR_FLAG["set"] = flag


def colour_for(stream: IO[str], env: dict[str, str] | None = None) -> bool:
    """Whether to colour output written to `stream` (see the module docstring)."""
    environ = os.environ if env is None else env
    if _NO_COLOUR_FLAG["set"] or environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for JSON output (then errors are JSON too)."""
    return "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv


def report(err: OverlaycError, *, json_output: bool = False) -> int:
    """Print `err` the way users read it (never a traceback) and return its exit code."""
    if json_output:
        typer.echo(render_error_json(err), nl=False)
    else:
        typer.echo(render_error_text(err, colour=colour_for(sys.stderr)), nl=False, err=True)
    return err.exit_code


def _usage(err: click_exceptions.UsageError, json_output: bool) -> int:
    if json_output and not isinstance(err, click_exceptions.NoArgsIsHelpError):
        typer.echo(error_json("usage", err.format_message(), Exit.USAGE), nl=False)
    else:
        err.show()
    return Exit.USAGE


@contextlib.contextmanager
def only_command(app: typer.Typer, argv: Sequence[str], environ: Mapping[str, str]) -> Iterator[None]:
    """While in the block, leave registered in `app` only the command (or command group) that
    `argv` runs; every command again afterwards (a process may run the app more than once).

    Typer builds a click command, with all its parameters, for every registered command on every
    start, though a run uses one (valgrind: ~36 M instructions for overlayc's 13, ~4 % of its
    start-up). The command is the first word of `argv` that is not an option (the app's own
    options take no value). `app` is left whole unless only `--no-color` comes before a word
    that names a command: with no command, `--help`/`--version` first, or a misspelt name, click
    lists the commands or suggests one; and when the shell asks for completions (a `_*_COMPLETE`
    variable is set)."""
    saved = app.registered_commands, app.registered_groups
    word = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    completing = any(name.startswith("_") and name.endswith("_COMPLETE") for name in environ)
    if word is not None and not completing and all(a == "--no-color" for a in argv[:word]):
        commands = [c for c in app.registered_commands if c.callback is not None
                    and (c.name or get_command_name(c.callback.__name__)) == argv[word]]
        groups = [g for g in app.registered_groups if g.name == argv[word]]
        if commands or groups:
            app.registered_commands, app.registered_groups = commands, groups
    try:
        yield
    finally:
        app.registered_commands, app.registered_groups = saved


class OverlaycGroup(TyperGroup):
    """The app's group: every invocation ends in a code of `overlayc.exitcodes.Exit`."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None,
        complete_var: str | None = None, standalone_mode: bool = True, **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        code = self._run(argv, prog_name or "overlayc", complete_var, **extra)
        if not standalone_mode:
            return code
        sys.exit(int(code))

    def _run(self, argv: list[str], prog_name: str, complete_var: str | None, **extra: Any) -> int:
        json_output = wants_json(argv)
        try:
            rv = super().main(args=argv, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except click_exceptions.UsageError as err:
            return _usage(err, json_output)
        except typer.Abort:  # end of input at a prompt: nothing was confirmed
            typer.echo("overlayc: no answer at the confirmation prompt: nothing was changed.", err=True)
            return Exit.DECLINED
        except click_exceptions.ClickException as err:
            err.show()
            return err.exit_code
        except OverlaycError as err:  # stages raise, the CLI reports
            return report(err, json_output=json_output)
        except KeyboardInterrupt:
            return Exit.INTERRUPTED
        except Exception as err:  # anything else is a bug: one line, the traceback to a file, exit 70
            from overlayc.apply.interrupt import stopped_exit_code
            from overlayc.lastresort import report_bug

            stopped = stopped_exit_code()  # unless a SIGTERM/SIGINT surfaced wrapped in it
            return stopped if stopped is not None else report_bug(err)
        return rv if isinstance(rv, int) else Exit.OK
