"""`overlayc.lock` on disk: bytes ⇄ `Lock` (the data model is `overlayc.compile.lock`).

Format: YAML in one fixed layout, written by `format_lock` — a header comment, then `version`,
`vnis` (network: VNI), `tasks` (task: node) and `endpoints` (endpoint, then one line per network:
`{ip: …, mac: "…"}`, with `ip6: "…"` after `ip` on a network with an IPv6 subnet and without `ip`
on one without an IPv4 subnet), every section sorted (natural order for tasks and endpoints), one entry per
line. Adding a service adds only the lines of its tasks and pins, so the file diffs well in git.

Reading is linear in the file's size. `parse_lock` reads that layout with a bulk reader (one
regular-expression pass over each of the tasks and endpoints sections, when every line in them has
the common shape: plain names, IPv4 pins) or else a line parser (split, partition, one check per
value), where a generic YAML loader in pure Python took 20 s and 170 MiB for a 1,000-node
cluster's 72k lines. The bulk reader accepts a subset of what the line parser accepts, with the
same result. A file in any other layout — hand-edited,
re-indented, an older writer — is still read, by the generic YAML loader and the lock's pydantic
validator, with the same result; each line the fast path accepts is exactly what `format_lock`
writes for its value, so both paths agree on every file the fast path reads, and a file written by
`format_lock` is read back into an equal Lock and formats to the same bytes.
"""

from __future__ import annotations

import json
import os
import re
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from socket import inet_aton, inet_ntoa

from overlayc.compile.lock import HEADER, LOCK_VERSION, Lock, Pin
from overlayc.compile.naming import natural_key
from overlayc.errors import InputError
from overlayc.files import prefetch
from overlayc.files.limits import LIMITS
from overlayc.files.lock_bulk import NAME as _NAME
from overlayc.files.lock_bulk import YAML_WORDS as _YAML_WORDS
from overlayc.files.lock_bulk import bulk_endpoints, bulk_tasks, ipv4, sections
from overlayc.files.safe import read_capped, write_atomic
from overlayc.gcpause import paused_gc

_PIN = re.compile(r'\{(?:ip: ([0-9.]{7,15}), )?(?:ip6: "([0-9a-f:.]{2,45})", )?'
                  r'mac: "([0-9a-f]{2}(?::[0-9a-f]{2}){5})"\}')
# The common lines in one match each (ASCII names that `_q` writes plain); any line these miss
# goes through `_entry`, which accepts exactly what `_q` writes.
_TASK_LINE = re.compile(rf"  {_NAME}: {_NAME}")
_ENDPOINT_LINE = re.compile(rf"  {_NAME}:")
_PIN_LINE = re.compile(rf"    {_NAME}: {_PIN.pattern}")


class _NotCanonical(Exception):
    """The text is not in `format_lock`'s layout: read it with the generic YAML loader."""


def read_lock(path: Path) -> Lock:
    """The lock at `path`, or an empty Lock when there is no file there.

    Raises InputError when it cannot be read, is larger than LIMITS.lock_bytes (5,000 nodes ×
    20 tasks on two networks take ~15 MiB), is a symbolic link or
    not a regular file, or is not a lock file; ConfigError (located diagnostics) when a lock in
    another layout holds YAML the bounded loader refuses (bombs, directives, tags, huge values)."""
    if not os.path.lexists(path):
        return Lock()
    data = read_capped(path, LIMITS.lock_bytes)
    ahead = _read_ahead(data, str(path))
    return ahead if ahead is not None else parse_lock(data, str(path))


@paused_gc()  # as parse_lock
def _read_ahead(data: bytes, where: str) -> Lock | None:
    """`parse_lock(data, where)` from the sections the prefetch child read of these same bytes
    (`overlayc.files.prefetch`), when it read them and `parse_lock` would take the bulk path;
    None otherwise (parse it)."""
    body = prefetch.lock_body(where, data)
    if body is None:
        return None
    try:
        return _parse_bulk(data.decode(), body)
    except (UnicodeDecodeError, _NotCanonical):  # as parse_lock would find it: let it say so
        return None


def write_lock(path: Path, lock: Lock) -> None:
    """Replace the file at `path` with `lock` atomically (mode 0644). Raises InputError."""
    write_atomic(path, format_lock(lock), 0o644)


@paused_gc()  # tens of thousands of pins, no cycles among them (overlayc.gcpause)
def parse_lock(data: bytes, where: str) -> Lock:
    """The Lock in `data` (the bytes of a lock file named `where` in messages).

    Raises InputError when `data` is not UTF-8, not YAML, or not a lock file."""
    try:
        text = data.decode()
    except UnicodeDecodeError as err:
        raise InputError(f"{where}: cannot read: not UTF-8 text ({err.reason})") from None
    try:
        return _parse_canonical(text)
    except _NotCanonical:
        return _parse_generic(text, where)


def format_lock(lock: Lock) -> bytes:
    """The lock file's bytes: keys in natural order (web.2 before web.10), header comment first."""
    return dumps_lock(lock).encode()


def dumps_lock(lock: Lock) -> str:
    """The lock as YAML text (see the module docstring for the layout)."""
    lines = [HEADER.rstrip("\n"), f"version: {lock.version}"]
    lines.append("vnis:" + ("" if lock.vnis else " {}"))
    lines += [f"  {_q(n)}: {lock.vnis[n]}" for n in sorted(lock.vnis)]
    lines.append("tasks:" + ("" if lock.tasks else " {}"))
    lines += [f"  {_q(t)}: {_q(lock.tasks[t])}" for t in sorted(lock.tasks, key=natural_key)]
    lines.append("endpoints:" + ("" if lock.endpoints else " {}"))
    for ep in sorted(lock.endpoints, key=natural_key):
        lines.append(f"  {_q(ep)}:")
        for net, pin in sorted(lock.endpoints[ep].items()):
            lines.append(f"    {_q(net)}: {{{_pin_addresses(pin)}mac: {_q(pin.mac)}}}")
    return "\n".join(lines) + "\n"


def _pin_addresses(pin: Pin) -> str:
    """`ip: A, ` and/or `ip6: "B", ` (quoted: an IPv6 address may end in a colon)."""
    return ("" if pin.ip is None else f"ip: {pin.ip}, ") + ("" if pin.ip6 is None else f'ip6: "{pin.ip6}", ')


def _plain(text: str) -> bool:
    """Whether `text` is written unquoted: a name YAML reads back as that same string."""
    return (
        text.replace("-", "").replace("_", "").replace(".", "").isalnum()
        and not text[0].isdigit()
        and text.lower() not in _YAML_WORDS
    )


def _word(text: str) -> bool:
    """Whether plain `text` would be read by YAML as a boolean or null (so `_q` quotes it)."""
    return len(text) <= 5 and text.lower() in _YAML_WORDS


def _q(text: str) -> str:
    """A YAML scalar for `text`: JSON-quoted (valid YAML) unless it is a plain safe name."""
    return text if _plain(text) else json.dumps(text)


# --- the fast path: format_lock's own layout --------------------------------------------------
def _scalar(token: str) -> str:
    """The string `token` stands for, when `token` is exactly how `_q` writes it."""
    if token[:1] == '"':
        try:
            value = json.loads(token)
        except ValueError:
            raise _NotCanonical from None
        if not isinstance(value, str) or not value or _q(value) != token:
            raise _NotCanonical
        return value
    if not token or not _plain(token):
        raise _NotCanonical
    return token


def _entry(line: str, indent: str) -> tuple[str, str]:
    """`<indent><key>: <value>` → (key, value text); `<indent><key>:` → (key, "")."""
    if not line.startswith(indent) or line[len(indent) : len(indent) + 1] in (" ", "#", "-", ""):
        raise _NotCanonical
    body = line[len(indent) :]
    if body[0] == '"':
        try:
            key, end = json.JSONDecoder().raw_decode(body)
        except ValueError:
            raise _NotCanonical from None
        rest = body[end:]
        if not isinstance(key, str) or _q(key) != body[:end]:
            raise _NotCanonical
    else:
        raw, colon, after = body.partition(":")
        key, rest = _scalar(raw), colon + after
    if rest == ":":
        return key, ""
    if not rest.startswith(": ") or rest[2:3] in (" ", ""):
        raise _NotCanonical
    return key, rest[2:]


def _section(lines: list[str], at: int, name: str) -> tuple[int, bool]:
    """Index after the `<name>:` line at `at`, and whether the section is `{}` (empty)."""
    if at >= len(lines):
        raise _NotCanonical
    if lines[at] == f"{name}: {{}}":
        return at + 1, True
    if lines[at] != f"{name}:":
        raise _NotCanonical
    return at + 1, False


def _ip(text: str) -> IPv4Address:
    """A dotted quad written as IPv4Address prints it (inet_aton alone accepts `10.1`)."""
    try:
        packed = inet_aton(text)
    except OSError:
        raise _NotCanonical from None
    if inet_ntoa(packed) != text:
        raise _NotCanonical
    return IPv4Address(packed)


def _ip6(text: str) -> IPv6Address:
    """An IPv6 address written as IPv6Address prints it (compressed, lower case)."""
    try:
        ip = IPv6Address(text)
    except ValueError:
        raise _NotCanonical from None
    if str(ip) != text:
        raise _NotCanonical
    return ip


def _parse_canonical(text: str) -> Lock:
    """The Lock of a file in `format_lock`'s layout; _NotCanonical for anything else.

    `_parse_bulk` answers for a file whose tasks and endpoints lines all have the common shape;
    any other file is read one line at a time (`_parse_lines`)."""
    fast = _parse_bulk(text)
    return fast if fast is not None else _parse_lines(text)


def _parse_head(lines: list[str]) -> tuple[int, dict[str, int]]:
    """The header comment, `version` and `vnis` of `lines`: (index of the next line, vnis)."""
    at = 0
    while at < len(lines) and lines[at].startswith("#"):
        at += 1
    if at >= len(lines) or lines[at] != f"version: {LOCK_VERSION}":
        raise _NotCanonical
    at, empty = _section(lines, at + 1, "vnis")
    vnis: dict[str, int] = {}
    while not empty and at < len(lines) and lines[at][:1] == " ":
        net, value = _entry(lines[at], "  ")
        if not value.isdigit() or str(int(value)) != value or net in vnis:
            raise _NotCanonical
        vnis[net] = int(value)
        at += 1
    return at, vnis


def _parse_lines(text: str) -> Lock:
    """`_parse_canonical` one line at a time: every line `format_lock` can write."""
    lines = text.split("\n")
    if lines[-1] != "":
        raise _NotCanonical
    lines.pop()
    at, vnis = _parse_head(lines)
    at, empty = _section(lines, at, "tasks")
    tasks: dict[str, str] = {}
    nodes: dict[str, str] = {}  # one string per node name, shared by its tasks
    while not empty and at < len(lines) and lines[at][:1] == " ":
        m = _TASK_LINE.fullmatch(lines[at])
        if m is not None and not _word(m[1]) and not _word(m[2]):
            task, node = m[1], m[2]
        else:
            task, value = _entry(lines[at], "  ")
            node = _scalar(value)
        if task in tasks:
            raise _NotCanonical
        tasks[task] = nodes.setdefault(node, node)
        at += 1
    at, empty = _section(lines, at, "endpoints")
    endpoints = _parse_endpoints(lines, at, empty)
    return Lock(version=LOCK_VERSION, vnis=vnis, tasks=tasks, endpoints=endpoints)


def _parse_endpoints(lines: list[str], at: int, empty: bool) -> dict[str, dict[str, Pin]]:
    """The `endpoints` section from line `at` to the end of the file."""
    endpoints: dict[str, dict[str, Pin]] = {}
    pins: dict[str, Pin] | None = None
    for line in lines[at:]:
        if empty:
            raise _NotCanonical
        if line.startswith("    "):
            m = _PIN_LINE.fullmatch(line)
            if m is not None and not _word(m[1]):
                net, ip, ip6, mac = m[1], m[2], m[3], m[4]
            else:
                net, value = _entry(line, "    ")
                m = _PIN.fullmatch(value)
                if m is None:
                    raise _NotCanonical
                ip, ip6, mac = m[1], m[2], m[3]
            if pins is None or net in pins or (ip is None and ip6 is None):
                raise _NotCanonical
            pins[net] = Pin(None if ip is None else _ip(ip), mac, None if ip6 is None else _ip6(ip6))
            continue
        m = _ENDPOINT_LINE.fullmatch(line)
        endpoint, value = (m[1], "") if m is not None and not _word(m[1]) else _entry(line, "  ")
        if value or endpoint in endpoints or (pins is not None and not pins):
            raise _NotCanonical
        pins = endpoints[endpoint] = {}
    if pins is not None and not pins:
        raise _NotCanonical
    return endpoints


# --- the bulk reader: the common lines, matched a whole section at once (overlayc.files.lock_bulk)
# a Pin from its three fields by `tuple.__new__`, without the named tuple's Python-level `__new__`
_new_pin = tuple.__new__
Body = tuple[dict[str, str], dict[str, dict[str, Pin]]]  # the tasks and endpoints sections


def _pin(ip: str | None, mac: str, ip6: str | None) -> Pin:
    """The Pin of one bulk-matched pin line (`ip` canonical already, `ip6` checked here)."""
    return _new_pin(Pin, (None if ip is None else ipv4(int.from_bytes(inet_aton(ip), "big")), mac,
                          _ip6(ip6) if ip6 else None))


def _parse_bulk(text: str, body: Body | None = None) -> Lock | None:
    """The Lock of `text` when its tasks and endpoints sections hold only the common lines
    (plain names, IPv4 addresses as IPv4Address prints them), each section matched by one
    regular expression pass instead of a Python step per line; None for any other text.
    `body`: those two sections as the bulk reader reads them from this same text (read ahead
    by the prefetch child), not matched again.

    Accepts a subset of what `_parse_lines` accepts, with the same result; raises _NotCanonical
    only where `_parse_lines` would. The sections are matched in place (no copy of the text)."""
    found = sections(text)
    if found is None:
        return None
    tasks_at, endpoints_at = found
    head = text[: tasks_at + 1].split("\n")
    at, vnis = _parse_head(head)
    if at != len(head) - 1:
        return None
    if body is None:
        tasks = bulk_tasks(text, tasks_at + len("\ntasks:\n"), endpoints_at + 1)
        endpoints = bulk_endpoints(text, endpoints_at + len("\nendpoints:\n"), _pin)
    else:
        tasks, endpoints = body
    if tasks is None or endpoints is None:
        return None
    return Lock(version=LOCK_VERSION, vnis=vnis, tasks=tasks, endpoints=endpoints)


# --- any other layout: the generic YAML loader (overlayc.files.lock_doc) ----------------------
def _parse_generic(text: str, where: str) -> Lock:
    """Read `text` with the configuration's bounded YAML loader and validate it as a lock in any
    YAML layout (`overlayc.files.lock_doc.parse_lock_doc`: ConfigError, InputError)."""
    # imported here: ruamel and the validator cost a process that reads a canonical lock 20 ms
    from overlayc.files.lock_doc import parse_lock_doc

    return parse_lock_doc(text, where)
