"""Commands printed as hints: complete, shell-quoted, and runnable as shown (pure)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from overlayc.config.load import LoadedConfig


def command(*words: str | Path) -> str:
    """`overlayc WORD...`, each word quoted for a POSIX shell when it needs it."""
    return shlex.join(["overlayc", *(str(w) for w in words)])


def config_args(files: Sequence[Path]) -> list[str]:
    """`-f FILE` for every configuration file or directory, in the order given."""
    return [w for f in files for w in ("-f", str(f))]


def apply_saved(files: Sequence[Path], plan_file: Path) -> str:
    """The command that applies a plan saved with `plan -o` (node and namespace come from it)."""
    return command("apply", *config_args(files), plan_file)


def lock_written(path: Path, changes: Sequence[str]) -> str:
    """What `plan`/`render`/`apply` say on stderr when they wrote the lock file."""
    what = f"{len(changes)} change(s)" if changes else "created"
    return f"overlayc: wrote {path} ({what}); commit it with the configuration"


def validated(loaded: LoadedConfig, changes: Sequence[str]) -> str:
    """`overlayc validate`'s line: the files, what they hold, and the lock file's state."""
    c, path = loaded.config, loaded.lock_path
    lock = (f"{path} would change ({len(changes)} entries; plan/apply write it)" if changes
            else f"{path} up to date" if path.exists() else "no lock file yet")
    return (f"{', '.join(str(f) for f in loaded.files)}: valid ({len(c.nodes)} nodes, "
            f"{len(c.networks)} networks, {len(c.services)} services, {len(c.endpoints)} endpoints; "
            f"{lock})")
