"""Offline observation: a saved state snapshot instead of the live kernel (CI planning), and
the node a snapshot belongs to (offline planning never looks at this machine's interfaces)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from overlayc.errors import InputError
from overlayc.kernel.objects import IPAddress, Vxlan
from overlayc.kernel.state import KernelState, Observed

EMPTY = "empty"


def observe_snapshot(source: str) -> Observed:
    """`empty`, or a KernelState JSON file (as printed by `overlayc observe --json`), as Observed.

    A snapshot records owned objects only, so no foreign collision can be detected from it.
    Raises InputError when the file is unreadable or not a state document."""
    if source == EMPTY:
        return Observed(KernelState())
    from overlayc.files.plan_doc import read_snapshot

    return Observed(read_snapshot(Path(source)))


def node_of_snapshot(nodes: Mapping[str, IPAddress], live: KernelState, source: str) -> str:
    """The configured node a snapshot was taken on: the one whose address its VXLAN devices and
    SAs use as their local end (InputError when the snapshot does not tell, e.g. `empty`)."""
    local = {o.local for o in live if isinstance(o, Vxlan)}
    found = sorted(name for name, address in nodes.items() if address in local)
    if len(found) == 1:
        return found[0]
    listed = ", ".join(sorted(nodes)) or "none configured"
    what = "an empty state" if source == EMPTY else f"the snapshot {source}"
    why = f"its devices use the addresses of nodes {', '.join(found)}" if found else \
        "it holds no VXLAN device of a configured node"
    raise InputError(f"cannot tell which node to plan for against {what}: {why}; "
                     f"choose one with --node ({listed})")
