"""Diagnostics as text (netplan/rustc style) or JSON (Terraform `validate -json` style); pure.

Text, one block per diagnostic:

    examples/x.yaml:12:5: error[unknown-key]: unknown key 'encrypt' in network 'secure'
       12 |     encrypt: true
          |     ^ did you mean 'encrypted'?
    examples/x.yaml:3:3: note: first defined here
        3 |   ...

JSON: {format_version, valid, error_count, warning_count, diagnostics: [{severity, code, message,
hint, file, line, column, related: [{message, file, line, column}]}]}.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from overlayc.errors import Diagnostic, Location, Severity

FORMAT_VERSION = "1.0"
WIDTH = 120  # longest source excerpt shown
Sources = Mapping[str, Sequence[str]]

_COLOURS = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "note": "\x1b[1;36m", "bold": "\x1b[1m"}
_RESET = "\x1b[0m"


def _paint(text: str, style: str, colour: bool) -> str:
    return f"{_COLOURS[style]}{text}{_RESET}" if colour else text


def _where(loc: Location) -> str:
    if loc.line <= 0:
        return loc.file
    return f"{loc.file}:{loc.line}:{loc.column}"


def _window(text: str, column: int, width: int = WIDTH) -> tuple[str, int]:
    """At most `width` characters of a long source line around `column` (0-based), marked with
    "..." where cut, and the column of the caret within what is shown."""
    if len(text) <= width:
        return text, column
    start = max(0, min(column - width // 2, len(text) - width))
    tail = "..." if start + width < len(text) else ""
    shown = ("..." if start else "") + text[start:start + width] + tail
    return shown, column - start + (3 if start else 0)


def _snippet(loc: Location, sources: Sources, label: str | None, colour: bool) -> list[str]:
    """The source line and a caret under the column (nothing when the line is unknown)."""
    lines = sources.get(loc.file)
    if lines is None or not 1 <= loc.line <= len(lines):
        return [f"   = {label}"] if label else []
    text, column = _window(lines[loc.line - 1].rstrip().expandtabs(1), max(loc.column - 1, 0))
    num = str(loc.line)
    gutter = " " * len(num)
    caret = " " * column + _paint("^", "error", colour)
    tail = f" {label}" if label else ""
    return [f"  {num} | {text}", f"  {gutter} | {caret}{tail}"]


def render_diagnostic_line(d: Diagnostic) -> str:
    """`file:line:col: error[code]: message`: the first line of `render_diagnostic`, uncoloured."""
    return f"{_where(d.location)}: {d.severity.value}[{d.code}]: {d.message}"


def render_diagnostic(d: Diagnostic, sources: Sources, colour: bool = False) -> str:
    """One diagnostic with its source line, caret, hint, and related places."""
    head = _paint(f"{d.severity.value}[{d.code}]", d.severity.value, colour)
    out = [f"{_paint(_where(d.location), 'bold', colour)}: {head}: {d.message}"]
    out += _snippet(d.location, sources, d.hint, colour)
    for message, loc in d.related:
        out.append(f"{_paint(_where(loc), 'bold', colour)}: {_paint('note', 'note', colour)}: {message}")
        out += _snippet(loc, sources, None, colour)
    return "\n".join(out)


def summary(diagnostics: Sequence[Diagnostic]) -> str:
    """`2 errors, 1 warning` style count line."""
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = sum(d.severity is Severity.WARNING for d in diagnostics)
    parts = [f"{errors} error{'s' if errors != 1 else ''}"]
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts)


def render_diagnostics_text(
    diagnostics: Sequence[Diagnostic], sources: Sources, colour: bool = False
) -> str:
    """All diagnostics (in the order given: ConfigError sorts them) and a summary line."""
    blocks = [render_diagnostic(d, sources, colour) for d in diagnostics]
    invalid = any(d.severity is Severity.ERROR for d in diagnostics)
    verdict = "configuration is invalid" if invalid else "configuration is valid"
    return "\n".join([*blocks, f"overlayc: {verdict}: {summary(diagnostics)}"]) + "\n"


def _loc_json(loc: Location) -> dict[str, Any]:
    return {"file": loc.file, "line": loc.line, "column": loc.column}


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    """One diagnostic as a JSON object (stable keys; consumers must ignore unknown ones)."""
    return {
        "severity": d.severity.value,
        "code": d.code,
        "message": d.message,
        "hint": d.hint,
        **_loc_json(d.location),
        "related": [{"message": m, **_loc_json(loc)} for m, loc in d.related],
    }


def render_diagnostics_json(diagnostics: Sequence[Diagnostic]) -> str:
    """The Terraform-like envelope; `valid` is true when there is no error."""
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    doc = {
        "format_version": FORMAT_VERSION,
        "valid": errors == 0,
        "error_count": errors,
        "warning_count": sum(d.severity is Severity.WARNING for d in diagnostics),
        "diagnostics": [diagnostic_json(d) for d in diagnostics],
    }
    return json.dumps(doc, indent=2) + "\n"
