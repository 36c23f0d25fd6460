"""The inputs edge: what a command is given becomes a `Target`, in one place.

    prepare_target(files, node=, netns=, at=, key_file=, locked=)   config, lock, node, key → Target
    prepare_saved_target(files, plan, key_file=)                   the same for a saved plan
    assign_with_lock(loaded, locked=)                              read, resolve, check/write the lock

The CLI, the reconcile agent and the tests call these and nothing else to turn files and flags
into the inputs of compile (DESIGN.md §1: config, lock, node, time, node key). Reading files
(configuration, `overlayc.lock`, the key file) and finding which node this namespace is (its
local addresses) happen here, so that `compile/` stays pure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from overlayc.compile.assign import Assignment, resolve
from overlayc.compile.epoch import parse_at
from overlayc.compile.lock import Lock, lock_changes
from overlayc.config.load import LoadedConfig, load_config
from overlayc.config.model import Config
from overlayc.errors import ConfigError, InputError, LockOutdated, Severity
from overlayc.files import assign_cache
from overlayc.files.keys import resolve_private_key
from overlayc.files.lock import read_lock, write_lock
from overlayc.files.safe import ensure_dir
from overlayc.files.statedir import state_root
from overlayc.kernel.objects import IPAddress

if TYPE_CHECKING:
    from overlayc.kernel.state import KernelState
    from overlayc.plan import Plan


@dataclass(frozen=True)
class Target:
    """What to compile and apply: the checked config, placement, node, namespace, time and the
    node's private key (None: unavailable, keys then show as such); `state_dir` moves the node's
    state directory (None: $OVERLAYC_STATE_DIR or /var/lib/overlayc, overlayc.files.statedir)."""

    config: Config
    assignment: Assignment
    node: str
    netns: str | None
    at: datetime
    private_key: bytes | None
    state_dir: Path | None = None

    @property
    def address(self) -> IPAddress:
        return self.config.nodes[self.node].address


OnWrite = Callable[[Path, list[str]], None]


def assign_with_lock(loaded: LoadedConfig, *, locked: bool, why: str = "--locked",
                     on_write: OnWrite | None = None, cache: Path | None = None,
                     before_write: Callable[[], None] | None = None, make_cache: bool = False) -> Assignment:
    """Resolve `loaded` against its lock file and keep the file in step: write the updated lock
    when it changed (or does not exist yet), or, with `locked`, raise LockOutdated naming every
    change (and `why` the lock must not change) and write nothing. `on_write(path, changes)` is
    called after the file is written (`changes` empty when it was created); `before_write()`
    before it is, and what it raises leaves the file as it is.

    `cache`: a state directory holding `overlayc.files.assign_cache`'s file. The Assignment
    stored there for this configuration and these lock bytes is returned without reading
    the lock or resolving (it was stored when the lock needed no change); a resolve that leaves
    the lock unchanged stores its result there.

    Raises ConfigError when placement or addressing fails (unsatisfiable constraints, exhausted
    subnet), InputError on unreadable files.

    `make_cache`: a command that makes the state directory anyway (`apply`) makes it here when
    it does not exist yet, once the resolve succeeded, so that its first run stores the cache
    rather than its second (the directory is not made when it cannot be: no cache then)."""
    wanted, cache = cache, _existing(cache)
    key = None if cache is None else assign_cache.cache_key(loaded.config, loaded.lock_path)
    if cache is not None and key is not None and (hit := assign_cache.load(cache, key)) is not None:
        return hit
    assignment, new, changes = _resolve_locked(loaded, locked, why)
    existed = loaded.lock_path.exists()
    if make_cache and cache is None and wanted is not None and existed and not changes:
        cache = _made(wanted)
        key = None if cache is None else assign_cache.cache_key(loaded.config, loaded.lock_path)
    if changes or not existed:
        if before_write is not None:
            before_write()
        write_lock(loaded.lock_path, new)
        if on_write is not None:
            on_write(loaded.lock_path, changes if existed else [])
    elif cache is not None and key == assign_cache.cache_key(loaded.config, loaded.lock_path) and key:
        assign_cache.store(cache, key, assignment)  # the lock read is still the lock on disk
    return assignment


def _made(directory: Path) -> Path | None:
    """`directory`, made 0700 as the state directory is (`overlayc.files.statedir`); None when
    it cannot be (no privileges, a file in its place: the command reports that where it needs it)."""
    try:
        return ensure_dir(directory, 0o700)
    except (OSError, InputError):
        return None


def _existing(cache: Path | None) -> Path | None:
    """`cache` when it is a directory: a state directory that does not exist holds no cache and
    gets none (`assign_cache.store`), so its key (a digest of the configuration and of the
    whole lock file, twice) is not computed at all."""
    return cache if cache is not None and os.path.isdir(cache) else None


def _resolve_locked(loaded: LoadedConfig, locked: bool, why: str) -> tuple[Assignment, Lock, list[str]]:
    """Resolve `loaded` against its lock file: (assignment, the new lock, the lines that change).
    ConfigError when placement or addressing fails; LockOutdated when `locked` and it changes."""
    old = read_lock(loaded.lock_path)
    assignment, new, diags = resolve(loaded.config, old, loaded.locate)
    if any(d.severity == Severity.ERROR for d in diags):
        raise ConfigError(list(diags), loaded.sources)
    changes = lock_changes(old, new)
    if changes and locked:
        raise LockOutdated(loaded.lock_path, changes, why)
    return assignment, new, changes


def check_with_lock(loaded: LoadedConfig, *, locked: bool = False, cache: Path | None = None) -> list[str]:
    """What `plan --state empty` checks before compiling, writing nothing (`overlayc validate`):
    placement (constraints), addressing (subnet exhaustion, fixed addresses) and VNIs, resolved
    against the lock file when there is one (which must parse).

    Returns the changes the lock would need (empty: up to date, or no lock and nothing to pin).
    Raises ConfigError with every diagnostic, LockOutdated when `locked` and the lock would
    change, InputError when the lock file is unreadable. `cache`: a state directory whose
    Assignment cache (read only here) answers for this configuration and these lock bytes: it was
    stored by a resolve without errors that left the lock unchanged."""
    cache = _existing(cache)
    key = None if cache is None else assign_cache.cache_key(loaded.config, loaded.lock_path)
    if cache is not None and key is not None and assign_cache.load(cache, key) is not None:
        return []
    return _resolve_locked(loaded, locked, "--locked")[2]


def choose_node_of(loaded: LoadedConfig, node: str | None, netns: str | None) -> str:
    """`node` when given, else the one configured node whose address is on an interface of
    `netns` (reads the namespace's addresses; InputError when none or several)."""
    if node is not None:
        return node
    from overlayc.observe.addresses import choose_node

    return choose_node({name: n.address for name, n in loaded.config.nodes.items()}, None, netns)


def offline_node(loaded: LoadedConfig, node: str | None, state: str | None,
                 live: KernelState) -> str | None:
    """`--node`; planning offline (`--state`), the node the snapshot `live` was taken on (never
    this machine's); else None (the node is found by its local address)."""
    from overlayc.observe.snapshot import node_of_snapshot

    if node is not None or state is None:
        return node
    return node_of_snapshot({name: n.address for name, n in loaded.config.nodes.items()}, live, state)


def prepare_target(
    files: Sequence[Path] | LoadedConfig,
    *,
    node: str | None = None,
    netns: str | None = None,
    at: datetime | str | None = None,
    key_file: Path | None = None,
    locked: bool = False,
    why: str = "--locked",
    on_write: OnWrite | None = None,
    state_dir: Path | None = None,
    before_write: Callable[[], None] | None = None,
    make_cache: bool = False,
) -> Target:
    """Load the configuration (or take an already loaded one), find the node, resolve the lock
    and read the node's key: the Target of one command or one reconcile round.

    `at` is an instant, an RFC 3339 text (`--at`) or None for now. Raises ConfigError (invalid
    configuration, placement), LockOutdated (`locked` and the lock would change), InputError
    (unreadable files, unknown node, bad `--at`), KeyFileError. `why`, `on_write`,
    `before_write` and `make_cache`: as for `assign_with_lock`."""
    loaded = files if isinstance(files, LoadedConfig) else load_config(list(files))
    when = at if isinstance(at, datetime) else parse_at(at)
    name = choose_node_of(loaded, node, netns)
    assignment = assign_with_lock(loaded, locked=locked, why=why, on_write=on_write,
                                  cache=state_root(state_dir), before_write=before_write,
                                  make_cache=make_cache)
    return Target(loaded.config, assignment, name, netns, when, resolve_private_key(name, key_file),
                  state_dir)


def prepare_saved_target(loaded: LoadedConfig, plan: Plan, *, key_file: Path | None = None,
                         state_dir: Path | None = None) -> Target:
    """The Target a saved plan was made for: its node, namespace and instant, the lock as it is
    (a saved plan never changes the lock: `locked`), and the node's key."""
    return prepare_target(loaded, node=plan.node, netns=plan.netns, at=plan.at, key_file=key_file,
                          locked=True, why="a saved plan is applied with the lock it was made with",
                          state_dir=state_dir)
