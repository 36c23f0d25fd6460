"""Builders of compiled states shared by the tests: the instants the goldens and the fixed
expectations were made at, and "resolve then compile" for a config (never with a private key, so
SAs carry no key material). Each exists once; tests of `resolve` itself call it directly."""

from __future__ import annotations

from datetime import UTC, datetime

from overlayc.compile import Assignment, Lock, compile_node, resolve
from overlayc.config.load import LoadedConfig
from overlayc.config.model import Config
from overlayc.files.lock import read_lock
from overlayc.kernel.ownership import OFFLINE_OWNER
from overlayc.kernel.state import KernelState

AT = datetime(2026, 1, 1, tzinfo=UTC)  # the compile goldens' instant
AT_NOON = datetime(2026, 1, 1, 12, tzinfo=UTC)  # the plan goldens' instant
AT_NOV21 = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)  # mid-epoch for the rotation expectations


def cli_at(at: datetime) -> str:
    """`at` as the CLI's `--at` takes it (UTC, "Z")."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def assign(config: Config, lock: Lock | None = None, *, clean: bool = False) -> Assignment:
    """The assignment `resolve` makes for `config` from `lock` (an empty lock by default);
    `clean=True` asserts it reported no diagnostics."""
    assignment, _, diags = resolve(config, lock or Lock())
    assert not clean or diags == [], diags
    return assignment


def assign_loaded(loaded: LoadedConfig) -> Assignment:
    """The assignment of a loaded config from its own lock file, diagnostics located in it."""
    return resolve(loaded.config, read_lock(loaded.lock_path), loaded.locate)[0]


def compile_for(
    config: Config, node: str, *, at: datetime = AT, assignment: Assignment | None = None,
    clean: bool = False, owner: str = OFFLINE_OWNER,
) -> KernelState:
    """`node`'s desired state at `at`: `assignment`, or `assign(config, clean=clean)`, compiled
    without a private key, its sandboxes named for node namespace `owner`."""
    if assignment is None:
        assignment = assign(config, clean=clean)
    return compile_node(config, assignment, node, at=at, private_key=None, owner=owner)


def seed_example(node: str = "node2", at: datetime = AT_NOV21) -> tuple[Config, KernelState]:
    """The seed example's configuration and one node's desired state at `at`."""
    from overlayc.config.load import load_config
    from tests.support.host import EXAMPLES

    config = load_config([EXAMPLES / "seed" / "overlay.yaml"]).config
    return config, compile_for(config, node, at=at)
