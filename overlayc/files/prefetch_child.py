"""What the prefetch child (`overlayc.files.prefetch`) reads and parses, as plain values.

    read_config(file)      (file, sha256, data, where its values and keys are) or None
    read_lock_body(path)   (sha256, tasks, endpoints with their pins flattened) or None

Each reads its file as the parent would (`files.safe.read_input` for a `-f` file,
`read_capped` for the lock) and parses it with the parent's own parser (`parse_yaml`; the
lock's bulk reader), so that what it gives equals what the parent would compute from the same
bytes; as lists of plain values (locations as lines and columns, addresses as integers) that
`marshal` carries and the parent rebuilds by C-level maps (`overlayc.files.prefetch`). None
for anything the parent must handle itself: a file it cannot read, a diagnostic, a lock the
bulk reader does not take, a value `marshal` cannot carry (it raises, and the child gives
nothing). Imports
neither pydantic nor typer (the point of the child is to run while the parent imports them).
"""

from __future__ import annotations

import hashlib
from ipaddress import IPv6Address
from pathlib import Path
from socket import inet_aton
from typing import Any

from overlayc.config.source import SourceMap, parse_yaml
from overlayc.errors import InputError, Location
from overlayc.files.limits import LIMITS
from overlayc.files.lock_bulk import bulk_endpoints, bulk_tasks, sections
from overlayc.files.safe import read_capped, read_input

PlainPin = tuple[int | None, str, int | None]  # ip, mac, ip6


def read_config(file: str) -> tuple[Any, ...] | None:
    """The configuration file `-f file` parsed as `load_config` parses it (the file shown as
    `str(Path(file))`, as there): (file, sha256 of its bytes, *`prefetch.Parsed`); None when it
    is not a readable UTF-8 regular file (a directory of files included) or has any diagnostic."""
    label = str(Path(file))
    try:
        data = read_input(Path(label), LIMITS.config_bytes, "configuration file")
        text = data.decode("utf-8")
    except (InputError, UnicodeDecodeError):
        return None
    smap = SourceMap()
    doc, diagnostics = parse_yaml(label, text, smap)
    if diagnostics or any(loc.file != label for loc in (*smap.values.values(), *smap.keys.values())):
        return None
    return (label, hashlib.sha256(data).digest(), doc, *_places(smap.values), *_places(smap.keys))


def _places(locations: dict[tuple[str | int, ...], Location]) -> tuple[list[Any], list[int], list[int]]:
    """The paths, lines and columns of `locations`, in its order."""
    return (list(locations), [loc.line for loc in locations.values()],
            [loc.column for loc in locations.values()])


def read_lock_body(path: str) -> tuple[Any, ...] | None:
    """The lock file at `path` as the bulk reader reads it: (sha256 of its bytes,
    *`prefetch.PlainBody`); None when there is no such file, it cannot be read, or the bulk
    reader does not take it."""
    try:
        data = read_capped(Path(path), LIMITS.lock_bytes)
        text = data.decode()
    except (InputError, UnicodeDecodeError):
        return None
    found = sections(text)
    if found is None:
        return None
    tasks_at, endpoints_at = found
    tasks = bulk_tasks(text, tasks_at + len("\ntasks:\n"), endpoints_at + 1)
    try:
        endpoints = bulk_endpoints(text, endpoints_at + len("\nendpoints:\n"), _pin)
    except ValueError:  # an IPv6 address the lock reader leaves the bulk path for
        return None
    if tasks is None or endpoints is None:
        return None
    pins = [pin for pins_of in endpoints.values() for pin in pins_of.values()]
    return (hashlib.sha256(data).digest(), tasks, list(endpoints), [len(p) for p in endpoints.values()],
            [net for pins_of in endpoints.values() for net in pins_of],
            [p[0] for p in pins], [p[1] for p in pins], [p[2] for p in pins])


def _pin(ip: str | None, mac: str, ip6: str | None) -> PlainPin:
    """A pin line's addresses as integers; ValueError for an IPv6 address not written as
    IPv6Address prints it, where the lock reader leaves the bulk path."""
    return (None if ip is None else int.from_bytes(inet_aton(ip), "big"), mac,
            None if ip6 is None else _ip6(ip6))


def _ip6(text: str) -> int:
    address = IPv6Address(text)
    if str(address) != text:
        raise ValueError(text)
    return int(address)
