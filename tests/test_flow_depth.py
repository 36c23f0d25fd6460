"""`yaml_flow_depth_problem` visits only quotes, comment marks, brackets and line ends: the same
answer (line, column, message) as a step per character, on hostile and ordinary texts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from overlayc.files.bounded import yaml_flow_depth_problem
from overlayc.files.limits import LIMITS


def _per_character(text: str) -> tuple[int, int, str] | None:
    """The reference: the state machine taken one character at a time."""
    depth, line, col, quote = 0, 1, 0, ""
    previous = "\n"
    for ch in text:
        col += 1
        if ch == "\n":
            line, col = line + 1, 0
            if quote == "#":
                quote = ""
        elif quote:
            if ch == quote and quote != "#":
                quote = ""
        elif ch in "'\"" and previous in " \t\n[{,:-?":
            quote = ch
        elif ch == "#" and previous in " \t\n":
            quote = "#"
        elif ch in "[{":
            depth += 1
            if depth > LIMITS.depth:
                return line, col, f"the document nests deeper than {LIMITS.depth} levels"
        elif ch in "]}":
            depth = max(0, depth - 1)
        previous = ch
    return None


MARKS = st.sampled_from(["[", "{", "]", "}", "'", '"', "#", "\n", " ", "\t", ",", ":", "-", "?", "a", "x#",
                         "[" * 30, "{" * 40, "  - "])


@settings(max_examples=400, deadline=None)
@given(st.lists(MARKS, max_size=200).map("".join))
def test_the_same_answer_as_a_step_per_character(text: str) -> None:
    assert yaml_flow_depth_problem(text) == _per_character(text)


def test_too_deep_is_located_where_it_becomes_too_deep() -> None:
    text = "a: 1\nb: '[[['\n# [[[[\nc: x#[\n  " + "[" * (LIMITS.depth + 5)
    found = yaml_flow_depth_problem(text)
    assert found is not None and found == _per_character(text)
    assert found[:2] == (5, 2 + LIMITS.depth)  # `x#[` opened one: `#` after a letter is no comment
    assert yaml_flow_depth_problem(text.replace("  [", "  #[")) is None
