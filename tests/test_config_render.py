"""Diagnostic rendering: text with source line and caret, JSON envelope, colour only on request."""

from __future__ import annotations

import json

from overlayc.errors import Diagnostic, Location, Severity
from overlayc.render.diagnostics import render_diagnostics_json, render_diagnostics_text

SOURCES = {"a.yaml": ["version: 1", "networks:", "  web:", "    encrypt: true"]}
UNKNOWN = Diagnostic(Severity.ERROR, "unknown-key", "unknown key 'encrypt' in network 'web'",
                     Location("a.yaml", 4, 5), "did you mean 'encrypted'?")
DUP = Diagnostic(Severity.ERROR, "duplicate-name", "network 'web' is defined in more than one file",
                 Location("b.yaml", 2, 3), related=(("first defined here", Location("a.yaml", 3, 3)),))


def test_text_has_location_code_source_line_caret_and_hint() -> None:
    lines = render_diagnostics_text([UNKNOWN], SOURCES).splitlines()
    assert lines == [
        "a.yaml:4:5: error[unknown-key]: unknown key 'encrypt' in network 'web'",
        "  4 |     encrypt: true",
        "    |     ^ did you mean 'encrypted'?",
        "overlayc: configuration is invalid: 1 error",
    ]


def test_text_related_places_and_missing_sources() -> None:
    text = render_diagnostics_text([DUP], SOURCES)
    assert "b.yaml:2:3: error[duplicate-name]: network 'web' is defined in more than one file\n" in text
    assert "a.yaml:3:3: note: first defined here\n  3 |   web:\n    |   ^\n" in text


def test_whole_file_location_has_no_line_numbers() -> None:
    d = Diagnostic(Severity.ERROR, "x", "bad file", Location("c.yaml"), "fix it")
    assert render_diagnostics_text([d], {}).splitlines()[:2] == ["c.yaml: error[x]: bad file", "   = fix it"]


def test_colour_only_when_asked() -> None:
    assert "\x1b[" not in render_diagnostics_text([UNKNOWN], SOURCES)
    assert "\x1b[1;31m" in render_diagnostics_text([UNKNOWN], SOURCES, colour=True)


def test_json_envelope() -> None:
    doc = json.loads(render_diagnostics_json([UNKNOWN, DUP]))
    assert doc["format_version"] == "1.0" and doc["valid"] is False
    assert (doc["error_count"], doc["warning_count"]) == (2, 0)
    assert doc["diagnostics"][0] == {
        "severity": "error", "code": "unknown-key", "message": "unknown key 'encrypt' in network 'web'",
        "hint": "did you mean 'encrypted'?", "file": "a.yaml", "line": 4, "column": 5, "related": [],
    }
    assert doc["diagnostics"][1]["related"] == [
        {"message": "first defined here", "file": "a.yaml", "line": 3, "column": 3}]


def test_json_of_no_diagnostics_is_valid() -> None:
    doc = json.loads(render_diagnostics_json([]))
    assert doc["valid"] is True and doc["diagnostics"] == []


def test_long_lines_are_cut_around_the_caret() -> None:
    line = "x" * 300 + "BAD" + "y" * 300
    d = Diagnostic(Severity.ERROR, "x", "bad", Location("l.yaml", 1, 301))
    src, caret = render_diagnostics_text([d], {"l.yaml": [line]}).splitlines()[1:3]
    assert len(src) < 140 and src.startswith("  1 | ...") and src.endswith("...")
    assert src[caret.index("^"):].startswith("BAD")
