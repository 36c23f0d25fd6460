"""The state directory: what one node must remember between runs (DESIGN §4), per target.

`/var/lib/overlayc` by default, `$OVERLAYC_STATE_DIR` or an explicit path to move it; mode 0700,
no key material in it. Each target namespace has its own subdirectory (`host` for the current
namespace, `netns-<name>` for a named one), so that one machine playing several nodes keeps
their state apart.
"""

from __future__ import annotations

import os
from pathlib import Path

from overlayc.files.safe import ensure_dir

DEFAULT_STATE_DIR = Path("/var/lib/overlayc")
STATE_DIR_ENV = "OVERLAYC_STATE_DIR"
ASSIGN_CACHE_NAME = "assignment.cache"  # in the state root: overlayc.files.assign_cache


def state_root(explicit: Path | None = None) -> Path:
    """The state directory to use: `explicit`, else `$OVERLAYC_STATE_DIR`, else the default."""
    if explicit is not None:
        return explicit
    env = os.environ.get(STATE_DIR_ENV)
    return Path(env) if env else DEFAULT_STATE_DIR


def target_state_dir(netns: str | None, explicit: Path | None = None) -> Path:
    """The directory of one target namespace, created 0700 (its parent too) on first use.
    A name `ip netns` would refuse (a path, `..`) is an InputError: it never becomes a path."""
    path = target_state_path(netns, explicit)  # the name is checked before anything is created
    ensure_dir(state_root(explicit), 0o700)
    return ensure_dir(path, 0o700)


def target_state_path(netns: str | None, explicit: Path | None = None) -> Path:
    """Where `target_state_dir` is, without creating anything (for read-only commands). A name
    `ip netns` would refuse (a path, `..`) is an InputError: it never becomes a path."""
    from overlayc.errors import InputError
    from overlayc.options import netns_problem

    if netns is not None and (problem := netns_problem(netns)) is not None:
        raise InputError(problem)
    return state_root(explicit) / (f"netns-{netns}" if netns else "host")
