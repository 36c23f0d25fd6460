"""`make demo` (lab/demo.py) in pieces that run on a host without ESP: the non-root refusal, the
report, the sniff test's pcap reading, the seed scenario copy, and the plain-network part of the
demo against a real three-node lab. The full demo (with `secure`, in the ESP lab) is `make demo`."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from lab import demo, klab
from lab.demo_report import Check, format_report, reach_checks, sniff_check
from lab.sniff import read_pcap, sniff_stats
from tests.support.host import ROOT, netns_unavailable


def _netns_with(prefix: str) -> set[str]:
    res = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return {line.split()[0] for line in res.stdout.splitlines() if line.startswith(prefix)}


def test_non_root_is_refused_with_what_it_needs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(klab, "setup", lambda: pytest.fail("set up the ESP lab without root"))
    assert demo.main([]) == 1
    err = capsys.readouterr().err
    assert "needs root" in err and "network namespaces" in err and "qemu-system-x86" in err


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to nobody"
)
def test_non_root_process_exits_1_and_touches_nothing() -> None:
    before = _netns_with(demo.PREFIX.rstrip("-"))
    res = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "lab.demo"],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "HOME": "/nonexistent"}, check=False,
    )  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr
    assert "needs root" in res.stderr and "Nothing was changed" in res.stderr
    assert res.stdout == ""
    assert _netns_with(demo.PREFIX.rstrip("-")) == before


def test_report_table_and_verdict() -> None:
    checks = [Check("ping probe -> web.1 (secure)", True, "3/3 echo replies"),
              Check("sniff secure: only ESP on the wire", False, "2 UDP to :4800")]  # fmt: skip
    text = format_report(checks, [("lab", 1.0), ("plan+apply", 2.5)])
    rows = text.splitlines()
    assert "ping probe -> web.1 (secure)        PASS    3/3 echo replies" in text
    assert "FAIL    2 UDP to :4800" in text
    assert "wall time: lab 1.0 s, plan+apply 2.5 s; total 3.5 s" in text
    assert rows[-1] == "RESULT: FAIL (1/2 checks passed)"
    assert format_report(checks[:1], []).splitlines()[-1] == "RESULT: PASS (1/1 checks passed)"
    assert format_report([], []).splitlines()[-1].startswith("RESULT: FAIL")


def test_reach_checks_read_the_probe_json() -> None:
    out = '{"ping": {"sent": 3, "received": 2, "rtt_ms": [1.0, 2.5]}, "http": {"status": 200, ' \
          '"bytes": 29, "marker": true, "ms": 4.0, "attempts": 1, "error": ""}}\n'  # fmt: skip
    ping, http = reach_checks("insecure", "198.51.100.1", subprocess.CompletedProcess([], 1, out, ""))
    assert (ping.ok, http.ok) == (False, True)
    assert ping.detail == "2/3 echo replies from 198.51.100.1, rtt 1.0-2.5 ms"
    assert "HTTP 200" in http.detail and "marker matched" in http.detail
    broken = reach_checks("secure", "203.0.113.1", subprocess.CompletedProcess([], 1, "", "Traceback"))
    assert [c.ok for c in broken] == [False, False] and "Traceback" in broken[0].detail


def _frame(proto: int, payload: bytes, src: str = "192.0.2.1", dst: str = "192.0.2.2") -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, proto, 0,
                     bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))  # fmt: skip
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + payload


def _pcap(path: Path, frames: list[bytes]) -> Path:
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    for f in frames:
        data += struct.pack("<IIII", 0, 0, len(f), len(f)) + f
    path.write_bytes(data)
    return path


def test_sniff_counts_esp_vxlan_and_the_marker(tmp_path: Path) -> None:
    marker = b"OCDEMO-1234-NET-insecure"
    inner = _frame(6, b"\x00" * 20 + b"HTTP/1.0 200 OK\r\n\r\n" + marker, "198.51.100.1", "198.51.100.2")
    vxlan = struct.pack("!HHHH", 40000, 4789, 0, 0) + b"\x08\x00\x00\x00\x00\x10\x00\x00" + inner
    esp = struct.pack("!II", 0x4A68B564, 7) + b"\xaa" * 60
    leak = struct.pack("!HHHH", 40000, 4800, 0, 0) + b"\x00" * 16
    arp = b"\xff" * 6 + b"\x04" * 6 + b"\x08\x06" + b"\x00" * 28
    packets = read_pcap(
        _pcap(tmp_path / "c.pcap", [_frame(17, vxlan), _frame(50, esp), arp, _frame(17, leak)])
    )
    assert len(packets) == 3  # ARP is not IPv4
    assert "VXLAN vni 4096: 198.51.100.1 > 198.51.100.2 TCP" in packets[0].describe()
    assert packets[1].describe() == "192.0.2.1 > 192.0.2.2: ESP spi=0x4a68b564 seq=7 length 68"
    stats = sniff_stats(packets, marker, 4789, 4800)
    assert (stats.ipv4, stats.esp, stats.udp_plain, stats.udp_encrypted) == (3, 1, 1, 1)
    assert (stats.marker_hits, stats.marker_hits_in_plain_udp, stats.spis) == (1, 1, ("0x4a68b564",))
    assert sniff_check("insecure", False, stats).ok
    secure = sniff_check("secure", True, stats)
    assert not secure.ok and "1 UDP to :4800" in secure.detail and "marker in 1" in secure.detail
    only_esp = sniff_stats(packets[1:2], b"OCDEMO-1234-NET-secure", 4789, 4800)
    assert sniff_check("secure", True, only_esp).ok


def test_scenario_copy_renames_the_cluster_and_protects_the_keys(tmp_path: Path) -> None:
    sc = demo.write_scenario(tmp_path, "ocd1234", networks=["insecure"])
    text = sc.config.read_text()
    assert "name: ocd1234" in text and "secure:" not in text.replace("insecure:", "")
    assert "EXAMPLE KEY" in text  # comments survive the round trip
    assert {k: oct(p.stat().st_mode & 0o777) for k, p in sc.keys.items()} == dict.fromkeys(sc.keys, "0o600")
    assert sc.ips["web.1"]["insecure"] == "198.51.100.1" and (tmp_path / "overlayc.lock").is_file()
    assert sc.encrypted == set() and demo.write_scenario(tmp_path, "ocd1234").encrypted == {"secure"}


@pytest.mark.kernel
def test_plain_network_part_of_the_demo_in_a_lab(capsys: pytest.CaptureFixture[str]) -> None:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    assert demo.run_demo(networks=["insecure"], nodes=["node1", "node2"]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    for row in ("apply on node1", "ping probe -> web.1 (insecure)", "HTTP GET probe -> web.1 (insecure)",
                "sniff insecure: payload in clear", "second apply: zero changes", "destroy on every node",
                "lab removed"):  # fmt: skip
        assert any(line.strip().startswith(row) and " PASS " in line for line in out.splitlines()), row
    assert "RESULT: PASS" in out
