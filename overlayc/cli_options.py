"""The options `overlayc` commands share, declared once (typer `Annotated` aliases)."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from overlayc.options import check_key_file, check_lock_timeout, check_netns, check_node, check_state


class RenderFormat(enum.StrEnum):
    json = "json"
    iproute2 = "iproute2"
    dot = "dot"
    svg = "svg"


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
        "--key-file", metavar="PATH", callback=check_key_file,
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
    str | None, typer.Option("--node", help="node to plan for (default: the one whose address is local)",
                             callback=check_node)
]


PlanNetnsOption = Annotated[str | None, typer.Option("--netns", help="named network namespace to plan for",
                                                     callback=check_netns)]


PlanOutOption = Annotated[
    Path | None, typer.Option("-o", "--out", metavar="FILE", help="save the plan (JSON) for `apply FILE`")
]


DetailedExitcodeOption = Annotated[
    bool, typer.Option("--detailed-exitcode", help="exit 0 no changes, 1 error, 2 changes present")
]


FullOption = Annotated[
    bool, typer.Option("--full", help="show every fdb/neighbour entry (default: a count per device)")
]


StateOption = Annotated[
    str | None,
    typer.Option("--state", metavar="SNAPSHOT|empty", callback=check_state,
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
    typer.Option("--lock-timeout", metavar="SECONDS", callback=check_lock_timeout,
                 help="wait this long for another overlayc on the same namespace (then exit 75)"),
]


AllowMissingAddressOption = Annotated[
    bool,
    typer.Option("--allow-missing-address",
                 help="build the node even though its underlay address is on no interface of the "
                 "namespace yet (it is added later)"),
]


ApplyExitcodeOption = Annotated[
    bool,
    typer.Option("--detailed-exitcode",
                 help="exit 0 nothing to do, 2 changed and verified, 3 failed and rolled back, "
                 "4 failed and rollback incomplete"),
]


EventsOption = Annotated[bool, typer.Option("--json", help="a stream of JSON events, one per line, "
                                            "ending in the outcome (like terraform apply -json)")]
