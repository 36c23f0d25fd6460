"""The options `overlayc` commands share, declared once (typer `Annotated` aliases)."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer


class RenderFormat(enum.StrEnum):
    json = "json"
    iproute2 = "iproute2"


AtOption = Annotated[
    str | None,
    typer.Option(
        "--at", metavar="RFC3339",
        help="compile for this instant, e.g. 2026-01-01T12:00:00Z (default: now, UTC); "
        "shows a key rotation before it happens",
    ),
]


KeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--key-file", metavar="PATH",
        help="the node's X25519 private key (default: $OVERLAYC_KEY_DIR or /etc/overlayc/keys, "
        "<node>.key; when that is missing, keys show as unavailable)",
    ),
]


FileOption = Annotated[
    list[Path],
    typer.Option(
        "-f", "--file", metavar="FILE|DIR",
        help="configuration file, or a directory of *.yaml files; repeat to merge several",
    ),
]


JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output (JSON)")]


LockedOption = Annotated[
    bool,
    typer.Option("--locked", help="fail (exit 1, listing the changes) instead of updating overlayc.lock"),
]


PlanNodeOption = Annotated[
    str | None, typer.Option("--node", help="node to plan for (default: the one whose address is local)")
]


PlanNetnsOption = Annotated[str | None, typer.Option("--netns", help="named network namespace to plan for")]


PlanOutOption = Annotated[
    Path | None, typer.Option("-o", "--out", metavar="FILE", help="save the plan (JSON) for `apply FILE`")
]


DetailedExitcodeOption = Annotated[
    bool, typer.Option("--detailed-exitcode", help="exit 0 no changes, 1 error, 2 changes present")
]


StateOption = Annotated[
    str | None,
    typer.Option("--state", metavar="SNAPSHOT|empty",
                 help="plan offline against `overlayc observe --json` output, or `empty`"),
]
StateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir", metavar="DIR",
        help="the node's state directory, where SA counters are saved so that they survive "
        "restarts (default: $OVERLAYC_STATE_DIR or /var/lib/overlayc)",
    ),
]


YesOption = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]


LockTimeoutOption = Annotated[
    float,
    typer.Option("--lock-timeout", metavar="SECONDS",
                 help="wait this long for another overlayc on the same namespace (then exit 75)"),
]


ApplyExitcodeOption = Annotated[
    bool,
    typer.Option("--detailed-exitcode",
                 help="exit 0 nothing to do, 2 changed and verified, 3 failed and rolled back, "
                 "4 failed and rollback incomplete"),
]
