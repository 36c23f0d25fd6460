"""The bulk lock reader refuses a section holding a name YAML would read as a boolean or null in
any spelling (`True`, `nULL`, `Off`: `_q` quotes those), by one set look-up per section; the line
parser then reads the file, with the same result."""

from __future__ import annotations

from itertools import product

import pytest

from overlayc.files import lock as lock_file
from overlayc.files.lock_bulk import YAML_WORD_SPELLINGS, YAML_WORDS

LOCK = """\
version: 1
vnis: {}
tasks:
  web.1: node1
  web.2: node2
endpoints:
  web.1:
    a: {ip: 10.0.0.2, mac: "02:42:0a:00:00:02"}
"""


def test_the_spellings_are_exactly_the_names_word_refuses() -> None:
    letters = sorted({c for w in YAML_WORDS for c in w + w.upper()} | {"x", "E"})
    names = ["".join(t) for n in range(1, 5) for t in product(letters, repeat=n)]
    names += ["false", "FALSE", "fAlSe", "falsey", "nulls"]
    assert [n for n in names if lock_file._word(n) != (n in YAML_WORD_SPELLINGS)] == []


@pytest.mark.parametrize(("old", "new"), [("web.2: node2", "web.2: Off"), ("  web.2:", "  nULL:"),
                                          ("node1", '"yes"'), ("    a:", "    TRUE:")])
def test_a_word_in_a_section_leaves_the_bulk_reader(old: str, new: str) -> None:
    text = LOCK.replace(old, new, 1)
    assert lock_file._parse_bulk(text) is None
    try:
        expected = lock_file._parse_lines(text)
    except lock_file._NotCanonical:
        expected = None  # not what `_q` writes: the generic loader reads it
    if expected is not None:
        assert lock_file.parse_lock(text.encode(), "<test>") == expected


def test_plain_names_stay_on_the_bulk_reader() -> None:
    bulk = lock_file._parse_bulk(LOCK)
    assert bulk is not None and bulk == lock_file._parse_lines(LOCK)
