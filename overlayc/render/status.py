"""`overlayc status` as text (a verdict, one line per network, peers and SAs, counters, the saved
SA counters, drift) and as the versioned JSON document (pure)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from overlayc.agent.status import Count, NetworkStatus, SaStatus, Status
from overlayc.diff import Action, Change
from overlayc.kernel.ownership import key_text

FORMAT_VERSION = "1.0"
DRIFT_SHOWN = 10
_SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.REPLACE: "-/+", Action.DELETE: "-"}


def change_line(change: Change) -> str:
    """`~ vxlan ovx5102 (mtu)` — one line per change, as in the plan's summary."""
    fields = f" ({', '.join(change.fields)})" if change.fields else ""
    return f"{_SYMBOLS[change.action]} {key_text(change.key)}{fields}"


def _time(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def _sa_json(sa: SaStatus) -> dict[str, Any]:
    c = sa.counters
    counters = None if c is None else {
        "packets": c.packets, "bytes": c.bytes, "errors": c.errors, "replay_window_drops":
        c.replay_window_drops, "replay_drops": c.replay_drops, "integrity_failures": c.integrity_failures,
        "oseq": c.oseq, "seq": c.seq, "esn": c.esn, "last_used": c.last_used,
    }
    out: dict[str, Any] = {"direction": sa.direction, "epoch": sa.epoch, "spi": f"{sa.spi:#010x}",
                           "installed": sa.installed, "counters": counters, "errors_growth": sa.errors_growth,
                           "replay_drops_growth": sa.replay_growth, "restored": sa.restored}
    if sa.direction == "out" and c is not None:
        out["seq_headroom"] = c.headroom
    return out


def _count_json(c: Count | None) -> dict[str, int] | None:
    return None if c is None else {"desired": c.desired, "live": c.live}


def status_to_json(status: Status) -> dict[str, Any]:
    """The versioned status document (`status --json`); never key material."""
    return {
        "format_version": FORMAT_VERSION, "node": status.node, "address": str(status.address),
        "at": _time(status.at), "healthy": status.healthy, "verdict": status.verdict.lower(),
        "problems": list(status.problems),
        "epoch": status.epoch, "next_rotation": _time(status.next_rotation),
        "networks": [{"name": n.name, "encrypted": n.encrypted, "on_node": n.on_node,
                      "present": n.present, "vxlan": n.vxlan, "mtu": _count_json(n.mtu),
                      "fdb": _count_json(n.fdb), "neigh": _count_json(n.neigh)} for n in status.networks],
        "peers": [{"node": p.node, "address": str(p.address), "sas": [_sa_json(s) for s in p.sas]}
                  for p in status.peers],
        "sysctls": dict(status.sysctls), "xfrm_stat": dict(status.xfrm_stat),
        "xfrm_stat_growth": dict(status.xfrm_growth), "blocked": list(status.blocked),
        "counters": list(status.continuity),
        "drift": {"count": None if status.blocked else len(status.drift),
                  "changes": [change_line(c) for c in status.drift[:DRIFT_SHOWN]]},
    }


def render_status_json(status: Status) -> str:
    return json.dumps(status_to_json(status), indent=2, sort_keys=True) + "\n"


_STYLE = {"ok": "\x1b[32m", "bad": "\x1b[1;31m", "warn": "\x1b[33m", "dim": "\x1b[2m"}


def _paint(text: str, style: str, colour: bool) -> str:
    return f"{_STYLE[style]}{text}\x1b[0m" if colour else text


def _network_line(n: NetworkStatus, colour: bool) -> str:
    """One line per network: name, state, device, MTU and entries desired/live, encryption."""
    if not n.on_node and not n.present:
        return _paint(f"  {n.name:<16} -        not on this node", "dim", colour)
    complete = n.present and n.fdb.desired == n.fdb.live and n.neigh.desired == n.neigh.live
    state = ("ok" if complete else "DRIFT") if n.present else "MISSING"
    mtu = f"mtu {n.mtu.desired}/{n.mtu.live}" if n.mtu else "mtu -"
    enc = "encrypted" if n.encrypted else "plain"
    mark = _paint(f"{state:<8}", "ok" if state == "ok" else "warn" if state == "DRIFT" else "bad", colour)
    return (f"  {n.name:<16} {mark} {n.vxlan or '-':<12} {mtu:<14} fdb {n.fdb.desired}/{n.fdb.live}"
            f"  neigh {n.neigh.desired}/{n.neigh.live}  {enc}")


def _sa_line(sa: SaStatus, colour: bool) -> str:
    head = f"    {sa.direction:<3} e{sa.epoch:<10} spi {sa.spi:#010x}  "
    if not sa.installed:
        return head + _paint("NOT INSTALLED", "bad", colour)
    c = sa.counters
    restored = "  counters restored" if sa.restored else ""
    if c is None:
        return head + "installed" + restored
    text = head + f"installed  {c.packets} pkts {c.bytes} B  errors {c.errors}"
    text += f"  replays {c.replay_window_drops + c.replay_drops}"
    if sa.direction == "out":
        text += f"  seq headroom {'2^64' if c.esn else '2^32'}-{c.oseq}"
    return text + restored


def _drift_lines(status: Status) -> list[str]:
    if status.blocked:
        return ["drift: unknown (no plan can be made: blocked, see the problems below)"]
    lines = [f"drift: {len(status.drift)} change(s)"]
    lines += [f"  {change_line(c)}" for c in status.drift[:DRIFT_SHOWN]]
    if len(status.drift) > DRIFT_SHOWN:
        lines.append(f"  ... and {len(status.drift) - DRIFT_SHOWN} more (overlayc plan shows all)")
    return lines


def render_status_text(status: Status, colour: bool = False) -> str:
    """The human view: verdict, one line per network (state coloured), peers and SAs, sysctls,
    counters, drift, then every problem."""
    style = "ok" if status.healthy else "bad" if status.critical else "warn"
    lines = [f"node {status.node} ({status.address}) at {_time(status.at)}: "
             + _paint(status.verdict, style, colour),
             "networks (desired/live):"]
    lines += [_network_line(n, colour) for n in status.networks]
    if status.epoch is not None:
        lines.append(f"keys: epoch {status.epoch}, next rotation {_time(status.next_rotation)}")
    for peer in status.peers:
        lines.append(f"  peer {peer.node} ({peer.address})")
        lines += [_sa_line(sa, colour) for sa in peer.sas]
    lines += [f"counters: {line}" for line in status.continuity]
    if status.sysctls:
        lines.append("sysctls: " + ", ".join(f"{k}={v}" for k, v in sorted(status.sysctls.items())))
    nonzero = {k: v for k, v in status.xfrm_stat.items() if v}
    lines.append("xfrm_stat: " + (", ".join(f"{k}={v}" for k, v in sorted(nonzero.items())) or "all zero"))
    lines += _drift_lines(status)
    lines += [_paint(f"problem: {p}", style, colour) for p in status.problems]
    return "\n".join(lines) + "\n"
