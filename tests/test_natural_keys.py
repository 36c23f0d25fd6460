"""`naming.natural_keys` (C-level maps over task-shaped names) is `natural_key` of each name, for
every shape of name: numbered tasks, global tasks (`<service>.<node>`), names without a dot or
with an empty part, several dots, and digits `int` reads that are not ASCII."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlayc.compile.naming import natural_key, natural_keys

_NAMES = st.text(alphabet="ab.019٣", max_size=8)  # ٣: ARABIC-INDIC DIGIT THREE, a digit int() reads


@settings(max_examples=300, deadline=None)
@given(st.lists(_NAMES, max_size=30))
def test_natural_keys_is_natural_key_of_each_name(names: list[str]) -> None:
    assert natural_keys(names) == {name: natural_key(name) for name in names}


def test_a_digit_int_does_not_read_raises_as_natural_key_does() -> None:
    with pytest.raises(ValueError):
        natural_key("web.²")
    with pytest.raises(ValueError):
        natural_keys(["web.1", "web.²"])


def test_task_names_and_others_side_by_side() -> None:
    names = ["web.10", "web.2", "db.node7", "probe", ".3", "a.b.4", "x."]
    assert natural_keys(names) == {
        "web.10": ("web", 10, ""), "web.2": ("web", 2, ""), "db.node7": ("db", -1, "node7"),
        "probe": ("probe", -1, ""), ".3": (".3", -1, ""), "a.b.4": ("a.b", 4, ""), "x.": ("x", -1, ""),
    }
