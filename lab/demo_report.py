"""The demo's checks and report, pure: overlayc/probe/capture results in, `Check` rows and the
closing table out (tested without root in tests/test_demo.py)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lab.sniff import SniffStats

CLIENT, SERVER = "probe", "web.1"
HTTP_PORT = 8080
PLAIN_PORT, ENCRYPTED_PORT = 4789, 4800  # overlayc's defaults (DESIGN.md §4)


@dataclass(frozen=True)
class Check:
    """One line of the report: what was proven, whether it held, and the numbers behind it."""

    name: str
    ok: bool
    detail: str


def format_report(checks: Sequence[Check], timings: Sequence[tuple[str, float]]) -> str:
    """The closing table: one row per check (PASS/FAIL + numbers), wall times, the verdict."""
    width = max([len(c.name) for c in checks] + [5])
    lines = ["", "== overlayc demo: report ==", f"  {'check':<{width}}  result  numbers"]
    for c in checks:
        lines.append(f"  {c.name:<{width}}  {'PASS' if c.ok else 'FAIL':<6}  {c.detail}")
    if timings:
        parts = ", ".join(f"{name} {secs:.1f} s" for name, secs in timings)
        lines.append(f"  wall time: {parts}; total {sum(s for _, s in timings):.1f} s")
    passed = sum(c.ok for c in checks)
    verdict = "PASS" if checks and passed == len(checks) else "FAIL"
    lines.append(f"RESULT: {verdict} ({passed}/{len(checks)} checks passed)")
    return "\n".join(lines)


def summary_lines(output: str) -> list[str]:
    """The plan/apply/destroy summary lines of an overlayc output."""
    pat = re.compile(
        r"^(Plan for |Apply complete|No changes|Destroy complete|Nothing to destroy|Error|error)"
    )
    return [line.strip() for line in output.splitlines() if pat.match(line.strip())]


def check_apply(node: str, res: subprocess.CompletedProcess[str]) -> Check:
    """Apply succeeded and was verified against the kernel."""
    lines = summary_lines(res.stdout + res.stderr)
    done = next((ln for ln in lines if ln.startswith(("Apply complete", "No changes"))), "")
    ok = res.returncode == 0 and ("verified" in done or done.startswith("No changes"))
    detail = re.sub(r"^Apply complete for \S+ ", "", done) or f"exit {res.returncode}: {' | '.join(lines)}"
    if done.startswith("No changes"):
        detail = done.removeprefix("No changes. ")
    return Check(f"apply on {node}", ok, detail.replace("; verified against the kernel.", ", verified"))


def reach_checks(net: str, dst: str, res: subprocess.CompletedProcess[str]) -> list[Check]:
    """Ping and HTTP checks from the probe's JSON output."""
    try:
        out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        why = f"probe exit {res.returncode}: {(res.stderr or res.stdout).strip()[-200:]}"
        return [Check(f"ping {CLIENT} -> {SERVER} ({net})", False, why),
                Check(f"HTTP GET {CLIENT} -> {SERVER} ({net})", False, why)]  # fmt: skip
    p, h = out["ping"], out["http"]
    rtt = f", rtt {min(p['rtt_ms'])}-{max(p['rtt_ms'])} ms" if p["rtt_ms"] else ""
    matched = "matched" if h["marker"] else "MISSING"
    http = f"HTTP {h['status']} from {dst}:{HTTP_PORT}, {h['bytes']} B, marker {matched}, {h['ms']} ms"
    if not h["status"]:
        http = f"no answer after {h['attempts']} attempt(s): {h['error']}"
    return [
        Check(f"ping {CLIENT} -> {SERVER} ({net})", p["received"] == p["sent"],
              f"{p['received']}/{p['sent']} echo replies from {dst}{rtt}"),
        Check(f"HTTP GET {CLIENT} -> {SERVER} ({net})", bool(h["marker"]), http),
    ]  # fmt: skip


def sniff_check(net: str, encrypted: bool, s: SniffStats) -> Check:
    """insecure: the marker crosses the underlay in clear VXLAN. secure: every IPv4 packet is ESP,
    none is UDP to the encrypted port, the marker is nowhere."""
    if encrypted:
        ok = s.esp > 0 and s.ipv4 == s.esp and s.udp_encrypted == 0 and s.marker_hits == 0
        detail = (f"{s.esp}/{s.ipv4} IPv4 packets ESP (SPIs {' '.join(s.spis) or '-'}), "
                  f"{s.udp_encrypted} UDP to :{ENCRYPTED_PORT}, marker in {s.marker_hits}")  # fmt: skip
        return Check(f"sniff {net}: only ESP on the wire", ok, detail)
    ok = s.udp_plain > 0 and s.marker_hits_in_plain_udp > 0
    detail = (f"{s.udp_plain} VXLAN UDP to :{PLAIN_PORT}, marker in clear in {s.marker_hits_in_plain_udp}, "
              f"{s.esp} ESP")  # fmt: skip
    return Check(f"sniff {net}: payload in clear", ok, detail)
