"""The CLI in-process, as `main` runs it for the tests that read its exit code and output."""

from __future__ import annotations

from typer.testing import CliRunner

from overlayc.cli import app, report
from overlayc.errors import OverlaycError


def run(*args: str) -> tuple[int, str, str]:
    """Run the CLI the way `main` does: OverlaycErrors become their report and exit code."""
    result = CliRunner().invoke(app, list(args))
    if isinstance(result.exception, OverlaycError):
        return report(result.exception), result.stdout, str(result.exception)
    return result.exit_code, result.stdout, result.stderr
