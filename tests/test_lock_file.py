"""overlayc.files.lock: the lock file format, read by its line parser and by the generic loader."""

from __future__ import annotations

import os
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from overlayc.compile import Lock, Pin, resolve
from overlayc.errors import ConfigError, InputError
from overlayc.files import lock as lock_file
from overlayc.files.lock import dumps_lock, format_lock, parse_lock, read_lock, write_lock
from tests.support.gen import generate_config
from tests.support.locks import IPV6_LOCK, ODD_BULK_LINES, OLD_LOCK

OLD_LOCK_VALUE = Lock(
    vnis={"a": 4096, "yes": 4097},
    tasks={"web.2": "node1", "web.10": "n"},
    endpoints={
        "probe": {"yes": Pin(IPv4Address("10.0.1.2"), "02:42:0a:00:01:02")},
        "web.2": {"a": Pin(IPv4Address("10.0.0.2"), "02:42:0a:00:00:02"),
                  "yes": Pin(IPv4Address("10.0.1.3"), "0e:00:00:00:00:01")},
    },
)


def _generic(text: str) -> Lock:
    return lock_file._parse_generic(text, "<test>")


def test_an_old_lock_reads_by_the_line_parser_and_round_trips_byte_identical(tmp_path: Path) -> None:
    assert lock_file._parse_canonical(OLD_LOCK) == OLD_LOCK_VALUE  # the fast path, not the fallback
    path = tmp_path / "overlayc.lock"
    path.write_text(OLD_LOCK)
    assert read_lock(path) == OLD_LOCK_VALUE
    write_lock(path, read_lock(path))
    assert path.read_text() == OLD_LOCK
    assert os.stat(path).st_mode & 0o777 == 0o644


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_locks_round_trip_and_both_readers_agree(seed: int) -> None:
    _, lock, _ = resolve(generate_config(12, 5, seed), Lock())
    data = format_lock(lock)
    fast = lock_file._parse_canonical(data.decode())
    assert fast == lock == _generic(data.decode())
    assert format_lock(fast) == data


def test_unusual_names_are_quoted_and_read_back_by_both_readers() -> None:
    pin = Pin(IPv4Address("10.0.0.9"), "02:42:0a:00:00:09")
    odd = Lock(vnis={"on": 5000, "Null": 5001, "1net": 5002},
               tasks={"a: b.1": "node #1", "ünï.2": "y", 'q"t.3': "x"},
               endpoints={"a: b.1": {"on": pin}, "ünï.2": {"1net": pin}})
    text = dumps_lock(odd)
    assert '"a: b.1": "node #1"' in text and '"on": {ip' in text
    assert lock_file._parse_canonical(text) == odd == _generic(text)


HAND_EDITED = """\
version: 1
vnis: {yes: 4097, a: 4096}   # a comment and flow style
tasks:
  web.10: "n"
  web.2: node1
endpoints:
  web.2:
    a:
      ip: 10.0.0.2
      mac: 02:42:0A:00:00:02
    "yes": {ip: 10.0.1.3, mac: "0e:00:00:00:00:01"}
  probe: {"yes": {ip: 10.0.1.2, mac: "02:42:0a:00:01:02"}}
"""


def test_any_other_layout_is_read_by_the_generic_loader_with_the_same_result() -> None:
    with pytest.raises(lock_file._NotCanonical):
        lock_file._parse_canonical(HAND_EDITED)
    assert parse_lock(HAND_EDITED.encode(), "x") == OLD_LOCK_VALUE


@pytest.mark.parametrize(
    "line",
    [
        "  web.2: yes",  # YAML reads a boolean: not a task
        "  web.2: 1.5",  # a number
        "  web.2: node1 # comment",
        "   web.2: node1",
        '  web.2: "node1',
    ],
)
def test_a_line_the_writer_would_not_write_leaves_the_fast_path(line: str) -> None:
    text = OLD_LOCK.replace("  web.2: node1", line)
    with pytest.raises(lock_file._NotCanonical):
        lock_file._parse_canonical(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tasks: [1, 2]\n", "not an overlayc lock file: tasks"),
        ("version: 1\ntasks: {web.1: node1}\nextra: 1\n", "not an overlayc lock file: extra"),
        (OLD_LOCK.replace("10.0.0.2", "10.0.0.256"), "not an overlayc lock file"),
    ],
)
def test_bad_lock_files_are_input_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_lock(text.encode(), "overlayc.lock")


@pytest.mark.parametrize(
    ("text", "code"),
    [("version: 1\ntasks: {a: [\n", "yaml-syntax"), ("version: 1\nvnis:\n  a: 1\n  a: 2\n", "duplicate-key")],
)
def test_lock_files_that_are_not_yaml_are_located_diagnostics(text: str, code: str) -> None:
    with pytest.raises(ConfigError) as err:  # the configuration's bounded loader reads them
        parse_lock(text.encode(), "overlayc.lock")
    assert [(d.code, d.location.file) for d in err.value.diagnostics] == [(code, "overlayc.lock")]


def test_unreadable_files(tmp_path: Path) -> None:
    assert read_lock(tmp_path / "none") == Lock()
    (tmp_path / "bin").write_bytes(b"version: 1\n\xff\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_lock(tmp_path / "bin")
    (tmp_path / "link").symlink_to(tmp_path / "bin")
    with pytest.raises(InputError, match="symbolic link"):
        read_lock(tmp_path / "link")



# --- the bulk reader: a subset of the line parser, with the same result -----------------------
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_bulk_reader_reads_generated_locks_as_the_line_parser_does(seed: int) -> None:
    _, lock, _ = resolve(generate_config(30, 6, seed), Lock())
    text = dumps_lock(lock)
    bulk = lock_file._parse_bulk(text)
    assert bulk is not None and bulk == lock == lock_file._parse_lines(text)
    assert dumps_lock(bulk) == text


def test_the_bulk_reader_reads_ipv6_pins_and_empty_sections() -> None:
    text = dumps_lock(IPV6_LOCK)
    assert lock_file._parse_bulk(text) == IPV6_LOCK == lock_file._parse_lines(text)
    sparse = "version: 1\nvnis:\ntasks:\nendpoints:\n"  # sections without lines: empty, as both read it
    assert lock_file._parse_bulk(sparse) == Lock() == lock_file._parse_lines(sparse)


def _outcome(read: Callable[[str], Lock | None], text: str) -> Lock | str | None:
    try:
        return read(text)
    except lock_file._NotCanonical:
        return "not canonical"


@pytest.mark.parametrize(("old", "new"), ODD_BULK_LINES)
def test_a_line_the_bulk_reader_does_not_take_is_left_to_the_line_parser(old: str, new: str) -> None:
    plain = OLD_LOCK.replace('"yes"', "b").replace('"n"', "node2")  # every name plain: the bulk case
    assert lock_file._parse_bulk(plain) == lock_file._parse_lines(plain)
    assert old in plain
    text = plain.replace(old, new, 1)
    expected = _outcome(lock_file._parse_lines, text)
    # None (the line parser decides), or not canonical where the line parser says so too
    allowed = (None, "not canonical") if expected == "not canonical" else (None,)
    assert _outcome(lock_file._parse_bulk, text) in allowed
    assert _outcome(lock_file._parse_canonical, text) == expected
