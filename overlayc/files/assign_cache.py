"""A cache of `resolve`'s Assignment under the state directory (issue 13: one node's plan of a
large cluster placed and addressed the whole cluster on every run, ~1 s of CPU per 50k tasks, and
read the whole lock to do it).

    cache_key(config, lock_path)     digest of what `resolve` is a pure function of
    load(root, key)                  the Assignment stored under `key`, or None
    store(root, key, assignment)     keep it (best effort: a cache that cannot be written is skipped)

`resolve(config, lock)` is pure: its Assignment depends on the checked configuration, the lock
file's bytes and overlayc's own placement and addressing code. The key is a sha256 of the
configuration's canonical JSON (`model_dump_json`, as `plan.config_digest`), the lock file's
bytes (or its absence) and the size and modification time of every module of `overlayc.compile`
and `overlayc.config` (another overlayc build never reads this cache). The caller stores only an
Assignment whose lock needed no change, so a hit means: the lock is up to date, nothing to write.

One file, `<state root>/assignment.cache`: a header line with the key, then `marshal` data of
plain values (str, int, bool, lists, dicts) — no objects, no code. The state directory is
root's, mode 0700 (`overlayc.files.statedir`); a file that does not decode into a well-formed
Assignment is a miss, never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv6Address
from itertools import repeat
from pathlib import Path
from typing import Any

from overlayc.compile.assign import Assignment, Attachment
from overlayc.compile.bynode import ByNode
from overlayc.config.model import Config
from overlayc.errors import InputError
from overlayc.files.limits import LIMITS
from overlayc.files.safe import ensure_dir, read_capped, write_atomic
from overlayc.files.statedir import ASSIGN_CACHE_NAME
from overlayc.gcpause import paused_gc

CACHE_NAME = ASSIGN_CACHE_NAME
FORMAT = b"overlayc-assignment-cache 3 "
_CODE_DIRS = ("compile", "config")
# what marshal and `_decode` raise on a file that is not one `store` wrote
_UNDECODABLE = (ValueError, TypeError, EOFError, KeyError, IndexError, AttributeError, OverflowError,
                MemoryError)


def _code_stamp() -> bytes:
    """Name, size and mtime of the modules placement and addressing are made of."""
    root = Path(__file__).resolve().parent.parent
    parts: list[str] = []
    for sub in _CODE_DIRS:
        for entry in sorted(os.scandir(root / sub), key=lambda e: e.name):
            if entry.name.endswith(".py"):
                info = entry.stat()
                parts.append(f"{sub}/{entry.name}:{info.st_size}:{info.st_mtime_ns}")
    return "\n".join(parts).encode()


def cache_key(config: Config, lock_path: Path) -> str | None:
    """The key of `resolve`'s result for `config` and the lock file at `lock_path`; None when
    the lock cannot be read (no caching then)."""
    digest = hashlib.sha256(FORMAT + _code_stamp() + b"\0config\0")
    digest.update(config.model_dump_json().encode())  # ~12 ms for 1,000 nodes
    if not os.path.lexists(lock_path):
        digest.update(b"\0no lock")
    else:
        try:
            digest.update(b"\0lock\0" + read_capped(lock_path, LIMITS.lock_bytes))
        except InputError:
            return None
    return digest.hexdigest()


@paused_gc()  # marshal and the decode make 250k small objects per 50k attachments, no cycles
def load(root: Path, key: str) -> Assignment | None:
    """The Assignment stored under `key` in the state directory `root`; None when there is none,
    it is stored under another key, or it does not decode."""
    path = root / CACHE_NAME
    try:
        data = read_capped(path, 4 * LIMITS.lock_bytes)
    except InputError:
        return None
    head, _, body = data.partition(b"\n")
    if head != FORMAT + key.encode():
        return None
    try:
        return _decode(marshal.loads(body))
    except _UNDECODABLE:
        return None


def store(root: Path, key: str, assignment: Assignment) -> None:
    """Keep `assignment` under `key` in `root` (replacing any other). Only into a state
    directory that exists already (made by an apply or the agent): a plan on a machine that
    never applied creates nothing. Skipped silently when it cannot be written (a plan by a user
    without access to the state) or is not a directory of this user or root."""
    if not os.path.isdir(root):
        return
    body = marshal.dumps(_encode(assignment))
    with contextlib.suppress(InputError, OSError):
        ensure_dir(root, 0o700)  # exists: only checks that it is a directory of ours, no link
        write_atomic(root / CACHE_NAME, FORMAT + key.encode() + b"\n" + body, 0o600)


def _encode(a: Assignment) -> tuple[Any, ...]:
    """Plain values: VNIs, tasks, per network its attachments in order as columns (endpoints,
    nodes, IPv4 addresses as ints, MACs, managed flags, IPv6 addresses packed; an absent
    address: None), and the nodes each network is present on. Columns, not a tuple per
    attachment: they decode with one C-level `map` per column (FORMAT 3; 2 held rows)."""
    attachments = [
        (net, [x.endpoint for x in atts], [x.node for x in atts],
         [None if x.ip is None else int(x.ip) for x in atts], [x.mac for x in atts],
         [x.managed for x in atts], [None if x.ip6 is None else x.ip6.packed for x in atts])
        for net, atts in a.attachments.items()
    ]
    nodes = {net: sorted(here) for net, here in a.network_nodes.items()}
    return (dict(a.vnis), dict(a.tasks), attachments, nodes)


def _decode(data: Any) -> Assignment:
    """The Assignment `_encode` describes; by_node is rebuilt as `resolve` builds it (per node,
    in network order, then in each network's order, as each node is asked for). Raises on a
    malformed value."""
    vnis, tasks, attachments, nodes = data
    if not (isinstance(vnis, dict) and isinstance(tasks, dict) and isinstance(nodes, dict)):
        raise TypeError("not an assignment")
    per_net: dict[str, tuple[Attachment, ...]] = {}
    for net, *columns in attachments:
        if type(net) is not str or not _well_typed(columns):
            raise TypeError("not a network's attachments")
        endpoints, on, ips, macs, managed, ips6 = columns
        atts = _attachments(len(endpoints), {
            "endpoint": endpoints, "node": on, "network": repeat(net, len(endpoints)),
            "ip": _addresses(IPv4Address, ips), "mac": macs, "managed": managed,
            "ip6": _addresses(IPv6Address, ips6)})
        per_net[net] = atts
    return Assignment(
        vnis=vnis, tasks=tasks, attachments=per_net, by_node=ByNode(per_net),
        network_nodes={net: frozenset(_strings(here)) for net, here in nodes.items()},
    )


def _attachments(count: int, values: dict[str, Iterable[Any]]) -> tuple[Attachment, ...]:
    """`count` Attachments, field `f` of each taking the next value of `values[f]`. Attachment is
    a named tuple: each is made by `tuple.__new__` over one row of the columns (mapped at C
    speed), without its Python-level `__new__`; equal to what `Attachment(...)` makes
    (tests/test_assign_cache.py compares with `resolve`'s Assignment)."""
    rows = zip(*(values[name] for name in Attachment._fields), strict=True)
    return tuple(map(tuple.__new__, repeat(Attachment, count), rows))


def _addresses(make: Callable[[Any], Any], column: list[Any]) -> Iterable[Any]:
    """The address objects of a column of ints or packed bytes, None kept (in bulk when none is)."""
    if None not in column:
        return map(make, column)
    return [None if value is None else make(value) for value in column]


# endpoint, node, ip (None: no IPv4 address), mac, managed, ip6 (packed; None: no IPv6 address)
_COLUMN_TYPES: tuple[set[type], ...] = ({str}, {str}, {int, type(None)}, {str}, {bool}, {bytes, type(None)})


def _well_typed(columns: list[Any]) -> bool:
    """Whether `columns` are 6 lists of one length holding the types of `_COLUMN_TYPES`."""
    if len(columns) != len(_COLUMN_TYPES) or not all(type(column) is list for column in columns):
        return False
    if len({len(column) for column in columns}) != 1:
        return False
    return all(set(map(type, column)) <= kinds for column, kinds in zip(columns, _COLUMN_TYPES, strict=True))


def _strings(values: Iterable[Any]) -> list[str]:
    out = list(values)
    if not all(isinstance(v, str) for v in out):
        raise TypeError("not a list of names")
    return out
