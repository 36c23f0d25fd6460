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
plain values (str, int, bool, bytes, lists, dicts) — no objects, no code. The state directory is
root's, mode 0700 (`overlayc.files.statedir`); a file that does not decode into a well-formed
Assignment is a miss, never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
from collections.abc import Iterable
from itertools import compress, repeat
from operator import is_not
from pathlib import Path
from typing import Any

from overlayc.compile.assign import Assignment
from overlayc.compile.bynode import ByNode
from overlayc.compile.columns import AttachmentColumns, TaskColumns
from overlayc.config.model import Config
from overlayc.errors import InputError
from overlayc.files.limits import LIMITS
from overlayc.files.safe import ensure_dir, read_capped, write_atomic
from overlayc.files.statedir import ASSIGN_CACHE_NAME
from overlayc.gcpause import paused_gc

CACHE_NAME = ASSIGN_CACHE_NAME
FORMAT = b"overlayc-assignment-cache 4 "
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
            lock = read_capped(lock_path, LIMITS.lock_bytes)
        except InputError:
            return None
        digest.update(b"\0lock\0")
        digest.update(lock)  # megabytes: hashed where they are, not copied behind a prefix
    return digest.hexdigest()


@paused_gc()  # marshal makes 200k small objects per 50k attachments, no cycles
def load(root: Path, key: str) -> Assignment | None:
    """The Assignment stored under `key` in the state directory `root`; None when there is none,
    it is stored under another key, or it does not decode."""
    path = root / CACHE_NAME
    try:
        data = read_capped(path, 4 * LIMITS.lock_bytes)
    except InputError:
        return None
    head = FORMAT + key.encode() + b"\n"
    if not data.startswith(head):
        return None
    try:  # the body read in place, not copied (megabytes)
        return _decode(marshal.loads(memoryview(data)[len(head):]))
    except _UNDECODABLE:
        return None


def store(root: Path, key: str, assignment: Assignment) -> None:
    """Keep `assignment` under `key` in `root` (replacing any other). Only into a state
    directory that exists already (made by an apply or the agent): a plan on a machine that
    never applied creates nothing. Skipped silently when it cannot be written (a plan by a user
    without access to the state) or is not a directory of this user or root."""
    if not os.path.isdir(root):
        return
    try:
        body = marshal.dumps(_encode(assignment))
    except ValueError:  # a MAC the columns cannot hold as it is: every run resolves
        return
    with contextlib.suppress(InputError, OSError):
        ensure_dir(root, 0o700)  # exists: only checks that it is a directory of ours, no link
        write_atomic(root / CACHE_NAME, FORMAT + key.encode() + b"\n" + body, 0o600)


def _encode(a: Assignment) -> tuple[Any, ...]:
    """Plain values: VNIs, the tasks as two columns (names, nodes), per network its attachments
    in order as the columns of `AttachmentColumns` (endpoints, nodes, packed IPv4 addresses,
    packed MACs, managed flags, packed IPv6 addresses; an absent address: None), and the nodes
    each network is present on. FORMAT 4: the columns decode as they are, with neither an
    address object nor an Attachment (FORMAT 3 held addresses as ints and MACs as texts).
    ValueError when a MAC is not the canonical text of its bytes (nothing is stored then)."""
    attachments = []
    for net, atts in a.attachments.items():
        c = AttachmentColumns.of(net, atts)
        if c is not atts and list(map(bytes.hex, c.macs, repeat(":"))) != [x.mac for x in atts]:
            raise ValueError("a MAC not in its canonical text")  # the columns would give another
        attachments.append((net, c.endpoints, c.nodes, c.ips, c.macs, c.managed, c.ips6))
    nodes = {net: sorted(here) for net, here in a.network_nodes.items()}
    return (dict(a.vnis), list(a.tasks), list(a.tasks.values()), attachments, nodes)


def _decode(data: Any) -> Assignment:
    """The Assignment `_encode` describes, its attachments as columns (`AttachmentColumns`, a
    tuple of `Attachment`s when walked) and its tasks as `TaskColumns`; by_node is rebuilt as
    `resolve` builds it (per node, in network order, then in each network's order, as each node
    is asked for). Raises on a malformed value: every column is checked here, so that nothing
    built from them later can fail."""
    vnis, task_names, task_nodes, attachments, nodes = data
    if not (isinstance(vnis, dict) and isinstance(nodes, dict) and _all_of(vnis.keys(), str)
            and _all_of(vnis.values(), int)):
        raise TypeError("not an assignment")
    _check_names(task_names, _length(task_names))
    _check_names(task_nodes, len(task_names))
    per_net: dict[str, AttachmentColumns] = {}
    for net, endpoints, on, ips, macs, managed, ips6 in attachments:
        if type(net) is not str:
            raise TypeError("not a network's name")
        n = _length(endpoints)
        _check_names(endpoints, n)
        _check_names(on, n)
        _check_packed(ips, n, 4, optional=True)
        _check_packed(macs, n, 6, optional=False)
        _check_packed(ips6, n, 16, optional=True)
        if type(managed) is not list or len(managed) != n or not set(map(type, managed)) <= {bool}:
            raise TypeError("not a column of flags")
        per_net[net] = AttachmentColumns(net, endpoints, on, ips, macs, managed, ips6)
    return Assignment(
        vnis=vnis, tasks=TaskColumns(task_names, task_nodes), attachments=per_net, by_node=ByNode(per_net),
        network_nodes={net: frozenset(_strings(here)) for net, here in nodes.items()},
    )


# The checks of the columns raise TypeError (a miss) and are C-level walks of them (50k values).
def _length(column: Any) -> int:
    if type(column) is not list:
        raise TypeError("not a column")
    return len(column)


def _check_names(column: Any, n: int) -> None:
    """`column` is a list of `n` texts (`str.join` raises TypeError on any other value)."""
    if _length(column) != n:
        raise TypeError("columns of different lengths")
    "".join(column)


def _check_packed(column: Any, n: int, size: int, *, optional: bool) -> None:
    """`column` is a list of `n` values of `size` bytes each, or None where `optional`."""
    if _length(column) != n:
        raise TypeError("columns of different lengths")
    absent = column.count(None) if optional else 0  # bytes == None is C: no Python call per value
    if absent == n:  # a network without a subnet of this family (None is None: no compare at all)
        return
    present = list(compress(column, map(is_not, column, repeat(None)))) if absent else column
    # `bytes.join` raises TypeError on anything but bytes; then each is `size` long
    if len(b"".join(present)) != size * len(present) or not set(map(len, present)) <= {size}:
        raise TypeError("not a column of packed values")


def _all_of(values: Iterable[Any], kind: type) -> bool:
    return all(type(v) is kind for v in values)


def _strings(values: Iterable[Any]) -> list[str]:
    out = list(values)
    if not all(isinstance(v, str) for v in out):
        raise TypeError("not a list of names")
    return out
