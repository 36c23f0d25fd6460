"""Where a configuration's `overlayc.lock` lives: `lock_dir(paths) / LOCK_NAME`.

A module of its own, importing only the standard library, so that the prefetch child
(`overlayc.files.prefetch`) finds the same file as `load_config` without importing the model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

LOCK_NAME = "overlayc.lock"


def lock_dir(paths: Sequence[Path]) -> Path:
    """Where `overlayc.lock` lives: the deepest directory holding every `-f` given (a directory
    given counts as itself), so that it does not depend on the order of the `-f` options."""
    dirs = [str(p.resolve() if p.is_dir() else p.resolve().parent) for p in paths]
    common = Path(os.path.commonpath(dirs))
    try:  # shown relative when under the working directory, as the user wrote it
        return common.relative_to(Path.cwd().resolve())
    except ValueError:
        return common
