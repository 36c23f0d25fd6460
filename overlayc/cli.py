"""The `overlayc` command line: arguments, calling stages, rendering, exit codes. No logic.

Exit codes (also in `overlayc --help` and the README):
  0 success / no changes · 1 error · 2 changes present (plan/apply --detailed-exitcode)
  3 apply failed and was rolled back · 4 apply failed and rollback is incomplete
  65 invalid configuration · 75 lock busy · 77 needs privileges
"""

from __future__ import annotations

import sys

import typer

from overlayc.errors import OverlaycError

EPILOG = (
    "Exit codes: 0 ok/no changes, 1 error, 2 changes (--detailed-exitcode), 3 apply rolled back, "
    "4 rollback incomplete, 65 invalid config, 75 lock busy, 77 needs privileges."
)

app = typer.Typer(
    name="overlayc",
    help="Declarative compiler from YAML to the kernel state of secure VXLAN overlay networks.\n\n"
    "Example: overlayc validate -f examples/seed/overlay.yaml",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def report(err: OverlaycError) -> int:
    """Print an error the way users read it (no traceback) and return its exit code."""
    typer.echo(f"overlayc: error: {err}", err=True)
    return err.exit_code


def main() -> None:
    try:
        app()
    except OverlaycError as err:  # stages raise, the CLI reports
        sys.exit(report(err))
    except KeyboardInterrupt:
        sys.exit(130)
