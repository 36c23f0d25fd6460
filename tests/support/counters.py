"""Readers of a namespace's kernel state for the scenario tests: `ip -j` output, namespaces,
/proc/net/xfrm_stat and snmp (read by a thread inside the namespace), link and SA counters."""

from __future__ import annotations

import json
import re
import subprocess
from ipaddress import IPv4Address
from pathlib import Path

from lab.netns import in_netns
from tests.support.host import ip_json


def netns_list() -> list[str]:
    """The named network namespaces, sorted (`ip -j netns list`)."""
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return sorted(n["name"] for n in json.loads(out or "[]"))


def _read_here(path: str) -> str:
    return Path(path).read_text()


def xfrm_stat(ns: str) -> dict[str, int]:
    """/proc/net/xfrm_stat of namespace `ns`."""
    text = in_netns(ns, _read_here, "/proc/thread-self/net/xfrm_stat")
    return {k: int(v) for k, v in (line.split() for line in text.splitlines() if line.strip())}


def snmp(ns: str) -> dict[str, int]:
    """/proc/net/snmp of `ns` as {"Icmp.InEchos": n, "Udp.InErrors": n, ...}."""
    lines = in_netns(ns, _read_here, "/proc/thread-self/net/snmp").splitlines()
    out: dict[str, int] = {}
    for head, vals in zip(lines[::2], lines[1::2], strict=True):
        proto, *names = head.split()
        for name, val in zip(names, vals.split()[1:], strict=True):
            out[f"{proto.rstrip(':')}.{name}"] = int(val)
    return out


def link_stat(ns: str, dev: str, counter: str) -> int:
    """/sys/class/net/DEV/statistics/COUNTER of a link in `ns` (via its ip -s JSON)."""
    got = ip_json(ns, "-s", "link", "show", "dev", dev)[0]["stats64"]
    rx_tx, _, name = counter.partition("_")
    return int(got[rx_tx][name])


def sa_packets(ns: str) -> dict[tuple[str, str, int], int]:
    """Packets counted per SA (src, dst, spi) of `ns` (`ip -s xfrm state`)."""
    out = subprocess.run(["ip", "netns", "exec", ns, "ip", "-s", "xfrm", "state"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    found: dict[tuple[str, str, int], int] = {}
    for block in re.split(r"^(?=src )", out, flags=re.M):
        head = re.match(r"src (\S+) dst (\S+)", block)
        spi = re.search(r"proto esp spi (0x[0-9a-f]+)", block)
        packets = re.search(r"(\d+)\(packets\)", block)
        if head and spi and packets:
            found[(head[1], head[2], int(spi[1], 16))] = int(packets[1])
    return found


def replay_seq(ns: str, src: IPv4Address, dst: IPv4Address) -> int:
    """The highest sequence number the SAs src→dst of `ns` have accepted (ESN: seq-hi, seq)."""
    out = subprocess.run(["ip", "netns", "exec", ns, "ip", "xfrm", "state"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    best = 0
    for block in re.split(r"^(?=src )", out, flags=re.M):
        head = re.match(r"src (\S+) dst (\S+)", block)
        seq = re.search(r"seq-hi (0x[0-9a-f]+), seq (0x[0-9a-f]+)", block)
        if head and seq and (head[1], head[2]) == (str(src), str(dst)):
            best = max(best, int(seq[1], 16) << 32 | int(seq[2], 16))
    return best
