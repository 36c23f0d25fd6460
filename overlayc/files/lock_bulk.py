"""The bulk reader of `overlayc.lock`'s common lines, without the lock's data model.

    sections(text)                       offsets of the `tasks:` and `endpoints:` lines, or None
    bulk_tasks(text, start, end)         the tasks section: task → node, or None
    bulk_endpoints(text, start, pin)     the endpoints section: endpoint → network → pin(...), or None
    ipv4(number)                         an IPv4Address from its integer, without the constructor's checks
    ipv4_all(numbers)                    the same for a list of them

`overlayc.files.lock` reads a file in `format_lock`'s layout with these (its `_parse_bulk`), and
so does the prefetch child (`overlayc.files.prefetch`), which must not import pydantic: hence a
module of its own that imports only the standard library. `pin(ip, mac, ip6)` turns the texts of
one pin line into what the caller keeps (a `Pin`; plain integers in the child, for `marshal`).
A section with any line of another shape gives None: the caller then reads it line by line.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from ipaddress import IPv4Address
from itertools import product, repeat
from typing import TypeVar

T = TypeVar("T")
NAME = r"([A-Za-z][A-Za-z0-9_.\-]*)"
YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n"})
# Every ASCII spelling of those words in any case (`True`, `nULL`, ...): the names the bulk reader
# matches are ASCII, so `_word` holds for one of them exactly when it is in this set, and a whole
# section is checked by one C-level `isdisjoint` instead of a Python call per name.
YAML_WORD_SPELLINGS = frozenset(
    "".join(letters) for word in YAML_WORDS for letters in product(*((c, c.upper()) for c in word)))

_BYTE = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # a decimal 0-255 as inet_ntoa writes it
_BULK_TASK = re.compile(rf"^  {NAME}: {NAME}\n", re.M)
_BULK_ENTRY = re.compile(
    rf"^(?:  {NAME}:|    {NAME}: \{{(?:ip: ((?:{_BYTE}\.){{3}}{_BYTE}), )?"
    r'(?:ip6: "([0-9a-f:.]{2,45})", )?mac: "([0-9a-f]{2}(?::[0-9a-f]{2}){5})"\})\n', re.M)

_new = object.__new__
_SET_IP = vars(IPv4Address)["_ip"].__set__  # the slot's own setter: what `ipv4` assigns


def ipv4(number: int) -> IPv4Address:
    """The IPv4Address of `number` (0 ≤ number < 2**32, the caller's guarantee: it comes from
    four bytes), built without `IPv4Address.__init__`'s type dispatch and range check: a third of
    the constructor's time, 32k times per 1,000-node lock. Equal and hashed as the constructor's."""
    address = _new(IPv4Address)
    address._ip = number  # type: ignore[attr-defined]  # the one slot the class's methods read
    return address


def ipv4_all(numbers: list[int]) -> list[IPv4Address]:
    """`[ipv4(n) for n in numbers]` by C-level maps (no Python call per address)."""
    addresses = list(map(_new, repeat(IPv4Address, len(numbers))))
    deque(map(_SET_IP, addresses, numbers), maxlen=0)
    return addresses


def sections(text: str) -> tuple[int, int] | None:
    """Where the `\\ntasks:\\n` and the `\\nendpoints:\\n` after it start in `text`; None when
    either is missing."""
    tasks_at = text.find("\ntasks:\n")
    endpoints_at = text.find("\nendpoints:\n", tasks_at + 1)
    if tasks_at < 0 or endpoints_at < 0:
        return None
    return tasks_at, endpoints_at


def bulk_tasks(text: str, start: int, end: int) -> dict[str, str] | None:
    """The `tasks` lines of `text[start:end]` when every line is `  <name>: <name>`."""
    found = _BULK_TASK.findall(text, start, end)
    if len(found) != text.count("\n", start, end):  # each match is one whole line: all matched
        return None
    nodes: dict[str, str] = {}  # one string per node name, shared by its tasks
    tasks = {task: nodes.setdefault(node, node) for task, node in found}
    if len(tasks) != len(found) or not YAML_WORD_SPELLINGS.isdisjoint(tasks) \
            or not YAML_WORD_SPELLINGS.isdisjoint(nodes):
        return None
    return tasks


def bulk_endpoints(text: str, start: int,
                   pin: Callable[[str | None, str, str | None], T]) -> dict[str, dict[str, T]] | None:
    """The `endpoints` lines from `text[start:]` to the end, when every line is an endpoint's
    plain name or a pin of a plain network name with a canonical IPv4 address; each pin is
    `pin(ip, mac, ip6)` (texts; `ip` or `ip6` None when absent, never both), which checks `ip6`.
    Matches are taken one at a time: a list of them all would hold 150k tuples."""
    endpoints: dict[str, dict[str, T]] = {}
    pins: dict[str, T] | None = None
    lines = count = 0
    for match in _BULK_ENTRY.finditer(text, start):
        lines += 1
        endpoint, net, ip, ip6, mac = match.groups()
        if endpoint is not None:
            if pins is not None and not pins:
                return None
            pins = endpoints[endpoint] = {}
            continue
        if pins is None or not (ip or ip6):
            return None
        pins[net] = pin(ip, mac, ip6)
        count += 1
    if lines != text.count("\n", start) or (pins is not None and not pins) or len(endpoints) + count != lines:
        return None  # a line of another shape, an endpoint without pins, or one twice
    nets = {net for pins_of in endpoints.values() for net in pins_of}
    if count != sum(map(len, endpoints.values())) or not YAML_WORD_SPELLINGS.isdisjoint(endpoints) \
            or not YAML_WORD_SPELLINGS.isdisjoint(nets):
        return None  # a network twice in one endpoint, or a name `_q` quotes
    return endpoints
