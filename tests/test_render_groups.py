"""Text plan: runs of fdb/neighbour creates and deletes grouped per device, `--full` lists them."""

from __future__ import annotations

import shutil
from ipaddress import IPv4Address
from pathlib import Path

from typer.testing import CliRunner

from overlayc.cli import app
from overlayc.diff import Action, Change, Reason
from overlayc.kernel.objects import Fdb, Neigh
from overlayc.render.groups import GROUP_MIN, EntryGroup, group_changes
from tests.support.golden import GOLDEN

AT = ["--at", "2026-01-01T12:00:00Z"]


def _fdb(i: int, dev: str = "ovx4096") -> Fdb:
    return Fdb(dev, f"02:42:0a:00:{i >> 8:02x}:{i & 255:02x}", IPv4Address("192.0.2.9"))


def _neigh(i: int, dev: str = "ovx4096") -> Neigh:
    return Neigh(dev, IPv4Address(f"10.0.{i >> 8}.{i & 255}"), f"02:42:0a:00:{i >> 8:02x}:{i & 255:02x}")


def _create(obj: Fdb | Neigh) -> Change:
    return Change(Action.CREATE, obj.key, None, obj, Reason.NOT_IN_KERNEL)


def _delete(obj: Fdb | Neigh) -> Change:
    return Change(Action.DELETE, obj.key, obj, None, Reason.NOT_IN_CONFIG)


def test_runs_are_grouped_per_action_kind_and_device_and_counts_add_up() -> None:
    changes = (
        [_delete(_neigh(i)) for i in range(GROUP_MIN)]
        + [_create(_fdb(i)) for i in range(25)]
        + [_create(_fdb(i, "ovx4097")) for i in range(GROUP_MIN - 1)]  # too short: one by one
        + [_create(_neigh(i)) for i in range(30)]
        + [Change(Action.UPDATE, _neigh(1).key, _neigh(1), _neigh(2), Reason.DRIFT, ("lladdr",))]
    )
    out = list(group_changes(changes))
    groups = [g for g in out if isinstance(g, EntryGroup)]
    assert [(g.action, g.kind, g.dev, g.count) for g in groups] == [
        (Action.DELETE, "neigh", "ovx4096", GROUP_MIN),
        (Action.CREATE, "fdb", "ovx4096", 25),
        (Action.CREATE, "neigh", "ovx4096", 30),
    ]
    lone = [c for c in out if isinstance(c, Change)]
    assert lone == changes[GROUP_MIN + 25 : GROUP_MIN + 25 + GROUP_MIN - 1] + changes[-1:]
    assert sum(g.count for g in groups) + len(lone) == len(changes)


def test_plan_groups_unless_full_and_the_summary_is_exact(tmp_path: Path) -> None:
    config = tmp_path / "overlay.yaml"
    shutil.copy(GOLDEN / "plan/entries-grouped/overlay.yaml", config)
    args = ["plan", "-f", str(config), "--node", "node1", "--state", "empty", *AT]
    grouped = CliRunner().invoke(app, args)
    full = CliRunner().invoke(app, [*args, "--full"])
    assert grouped.exit_code == full.exit_code == 0
    assert "+ 15 fdb entries on ovx4096 (remote endpoints of back)" in grouped.stdout
    assert "+ 12 neighbour entries on ovx4097 (remote endpoints of front)" in grouped.stdout
    assert "+ fdb ovx4096" not in grouped.stdout and "+ neigh ovx4097" not in grouped.stdout
    assert "+ fdb ovx4098 02:42:0a:03:00:02 192.0.2.2" in grouped.stdout  # a run of 3: in full
    assert full.stdout.count("+ fdb ovx4096 ") == 15 and full.stdout.count("+ neigh ovx4097 ") == 12
    assert "entries on" not in full.stdout
    summary = "Plan for node1: 69 to add, 0 to change, 0 to replace, 0 to destroy.\n"
    assert grouped.stdout.endswith(summary) and full.stdout.endswith(summary)
