"""Errors as users read them: text on stderr, or one JSON document on stdout under `--json` (pure).

JSON, for an invalid configuration: the diagnostics envelope of `render.diagnostics.render_json`
(`valid: false`, every diagnostic). For any other error:

    {"format_version": "1.0", "error": {"kind": "input", "message": "...", "exit_code": 1}}

`kind` names who must act: `usage` (the command line), `input` (a file or value given),
`environment` (privileges, kernel features, locks), `kernel` (the kernel refused).
"""

from __future__ import annotations

import json

from overlayc.errors import ConfigError, EnvironmentProblem, ExecutionError, OverlaycError
from overlayc.render.diagnostics import FORMAT_VERSION, render_diagnostics_json, render_diagnostics_text


def error_kind(err: OverlaycError) -> str:
    """Who must act on `err` (see the module docstring)."""
    if isinstance(err, EnvironmentProblem):
        return "environment"
    if isinstance(err, ExecutionError):
        return "kernel"
    return "input"


def error_json(kind: str, message: str, exit_code: int) -> str:
    """The JSON document of one error that is not a set of diagnostics."""
    doc = {"format_version": FORMAT_VERSION,
           "error": {"kind": kind, "message": message, "exit_code": exit_code}}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def render_error_text(err: OverlaycError, *, colour: bool) -> str:
    """`err` for stderr: every diagnostic with its source line, or `overlayc: error: ...`."""
    if isinstance(err, ConfigError):
        return render_diagnostics_text(err.diagnostics, err.sources, colour=colour)
    return f"overlayc: error: {err}\n"


def render_error_json(err: OverlaycError) -> str:
    """`err` as the JSON document of the module docstring."""
    if isinstance(err, ConfigError):
        return render_diagnostics_json(err.diagnostics)
    return error_json(error_kind(err), str(err), err.exit_code)
