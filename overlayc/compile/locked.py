"""The lock workflow every compiling command shares: read, resolve, check or update (file I/O).

`assign_with_lock(loaded, locked=...)` is what `render`, `plan` and `apply` call: it reads
`loaded.lock_path`, resolves the config against it, and then either writes the updated lock (when
it changed) or, with `locked=True`, raises `LockOutdated` naming every change and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from overlayc.compile.assign import Assignment, resolve
from overlayc.compile.lock import LockOutdated, lock_changes, read_lock, write_lock
from overlayc.errors import ConfigError, Severity

if TYPE_CHECKING:  # compile needs only the LoadedConfig interface, not the loader
    from overlayc.config.load import LoadedConfig


def assign_with_lock(
    loaded: LoadedConfig, *, locked: bool, why: str = "--locked",
    on_write: Callable[[Path, list[str]], None] | None = None,
) -> Assignment:
    """Resolve `loaded` against its lock file and keep the file in step.

    Raises ConfigError when placement or addressing fails (unsatisfiable constraints, exhausted
    subnet), LockOutdated (its message naming `why`) when `locked` and the lock would change,
    InputError on unreadable files. `on_write(path, changes)` is called after the file is
    written (`changes` empty when it was created)."""
    old = read_lock(loaded.lock_path)
    assignment, new, diags = resolve(loaded.config, old, loaded.locate)
    errors = [d for d in diags if d.severity == Severity.ERROR]
    if errors:
        raise ConfigError(list(diags), loaded.sources)
    changes = lock_changes(old, new)
    if changes and locked:
        raise LockOutdated(loaded.lock_path, changes, why)
    existed = loaded.lock_path.exists()
    if changes or not existed:
        write_lock(loaded.lock_path, new)
        if on_write is not None:
            on_write(loaded.lock_path, changes if existed else [])
    return assignment


def check_with_lock(loaded: LoadedConfig, *, locked: bool = False) -> list[str]:
    """What `plan --state empty` checks before compiling, writing nothing (`overlayc validate`):
    placement (constraints), addressing (subnet exhaustion, fixed addresses) and VNIs, resolved
    against the lock file when there is one (which must parse).

    Returns the changes the lock would need (empty: up to date, or no lock and nothing to pin).
    Raises ConfigError with every diagnostic, LockOutdated when `locked` and the lock would
    change, InputError when the lock file is unreadable."""
    old = read_lock(loaded.lock_path)
    _, new, diags = resolve(loaded.config, old, loaded.locate)
    if any(d.severity == Severity.ERROR for d in diags):
        raise ConfigError(list(diags), loaded.sources)
    changes = lock_changes(old, new)
    if changes and locked:
        raise LockOutdated(loaded.lock_path, changes)
    return changes
