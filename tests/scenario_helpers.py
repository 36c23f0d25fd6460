"""Helpers of the scenario tests: a cluster config for a `lab.topology.Lab`, applying every node,
traffic between endpoint namespaces (ICMP, HTTP, UDP), underlay captures and AF_PACKET injection.

Used by tests/test_scenario*.py (host, plain networks) and tests/esp/test_*_esp.py (ESP lab, where
Python runs 10-30x slower): traffic runs in-process, in a thread that entered the namespace with
setns(2) (a socket belongs to the namespace of the thread that made it), so no interpreter has to
start for a ping or a request. Everything made here is named after the lab's tag and removed with it.
"""

from __future__ import annotations

import ctypes
import http.server
import json
import os
import re
import secrets
import shutil
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lab.topology import Lab

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "seed"
HTTP_PORT = 8080
CLONE_NEWNET = 0x40000000
T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


# --- configs ----------------------------------------------------------------------------------
def seed_workdir(lab: Lab, where: Path, *, encrypted: bool = True, rotation: str | None = None) -> Path:
    """The seed example copied to `where` for `lab`: cluster named `lab.tag` (so its endpoint
    namespaces go with the lab), its lock, and its EXAMPLE keys as `keys/<node>.key` mode 0600
    (git drops file modes). `encrypted=False` makes `secure` a plain network; `rotation` sets
    `cluster.encryption.rotation`. Returns the config path."""
    where.mkdir(parents=True, exist_ok=True)
    text = (SEED / "overlay.yaml").read_text()
    text = text.replace("  name: seed\n", f"  name: {lab.tag}\n", 1)
    if rotation is not None:
        text = text.replace("  id: seed-example-cluster\n",
                            f"  id: seed-example-cluster\n  encryption: {{rotation: {rotation}}}\n", 1)
    if not encrypted:
        text = text.replace("    encrypted: true\n", "    encrypted: false\n", 1)
    assert f"name: {lab.tag}" in text and ("encrypted: true" in text) == encrypted, "seed example changed"
    for node in ("node1", "node2", "node3"):
        assert str(lab.address(node)) in text, f"seed address of {node} is not the lab's"
    cfg = where / "overlay.yaml"
    cfg.write_text(text)
    shutil.copy(SEED / "overlayc.lock", where / "overlayc.lock")
    keys = where / "keys"
    keys.mkdir(exist_ok=True)
    for src in sorted((SEED / "keys").glob("*.key")):
        dst = keys / src.name
        shutil.copy(src, dst)
        dst.chmod(0o600)
        assert stat.S_IMODE(dst.stat().st_mode) == 0o600
    return cfg


def key_file(cfg: Path, node: str) -> Path:
    """The private key file of `node` next to a config made by `seed_workdir`."""
    return cfg.parent / "keys" / f"{node}.key"


def write_config(path: Path, data: dict[str, Any]) -> Path:
    """Write a config given as a YAML-shaped dict (as JSON, which is YAML)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


# --- apply ------------------------------------------------------------------------------------
def overlayc_cli(cfg: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m overlayc ARGS` in the config's directory."""
    return subprocess.run([sys.executable, "-m", "overlayc", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=cfg.parent)  # fmt: skip


def apply_cli(
    cfg: Path, lab: Lab, node: str, *extra: str, key: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`overlayc apply -f CFG --node N --netns <lab ns> --yes [--key-file K] EXTRA`."""
    args = ["apply", "-f", str(cfg), "--node", node, "--netns", lab.netns(node), "--yes", *extra]
    if key is not None:
        args += ["--key-file", str(key)]
    return overlayc_cli(cfg, *args)


def apply_api(cfg: Path, lab: Lab, node: str, *, key: Path | None = None, at: datetime | None = None) -> int:
    """What `overlayc apply --yes` does, in-process: returns the outcome (0 nothing to do,
    2 changed and verified); AssertionError with the failures on anything else."""
    from overlayc.apply.run import Outcome
    from overlayc.apply.session import apply_target
    from overlayc.config.load import load_config
    from overlayc.inputs import prepare_target

    loaded = load_config([cfg])
    target = prepare_target(loaded, node=node, netns=lab.netns(node), at=at or datetime.now(UTC),
                            key_file=key)
    applied = apply_target(target, confirm=lambda plan: True)
    outcome = applied.result.outcome
    assert outcome in (Outcome.NOTHING, Outcome.CHANGED), f"apply {node}: {outcome!r} {applied.result}"
    return int(outcome)


@dataclass(frozen=True)
class Member:
    """An endpoint (task or standalone) on one network, where it runs and its namespace."""

    endpoint: str
    node: str
    network: str
    ip: IPv4Address
    mac: str
    netns: str


def members(cfg: Path) -> dict[str, list[Member]]:
    """Network → its managed endpoints, as the config and its lock place them (pure)."""
    from overlayc.compile import resolve
    from overlayc.config.load import load_config
    from overlayc.files.lock import read_lock

    loaded = load_config([cfg])
    assignment, _, _ = resolve(loaded.config, read_lock(loaded.lock_path))
    cluster = loaded.config.cluster.name
    return {
        net: [Member(a.endpoint, a.node, net, a.ip, a.mac, f"{cluster}-{a.endpoint}")
              for a in atts if a.managed]
        for net, atts in assignment.attachments.items()
    }


def netns_list() -> list[str]:
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return sorted(n["name"] for n in json.loads(out or "[]"))


def ip_json(ns: str, *args: str) -> Any:
    """`ip -j ARGS` (or `bridge -j ...` when args[0] == "bridge") in `ns`, parsed."""
    cmd = ["bridge", "-j", *args[1:]] if args[0] == "bridge" else ["ip", "-j", *args]
    out = subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, check=True).stdout
    return json.loads(out) if out.strip() else []


# --- running code inside a namespace ------------------------------------------------------------
class InNetns:
    """`fn(*args)` running in a thread that joined network namespace `ns` (setns), started at once.
    `result()` waits (bounded) and returns its value or raises its exception."""

    def __init__(self, ns: str, fn: Callable[..., Any], *args: Any) -> None:
        self.ns = ns
        self._box: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, args=(fn, args), daemon=True, name=f"in-{ns}")
        self.thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fd = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into {self.ns}: {os.strerror(err)}")
            finally:
                os.close(fd)
            self._box["value"] = fn(*args)
        except BaseException as err:  # handed to result()
            self._box["error"] = err

    def result(self, timeout: float = 120) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"{self.ns}: still running after {timeout} s"
        if "error" in self._box:
            raise self._box["error"]
        return self._box["value"]


def in_netns(ns: str, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` inside namespace `ns` and return its value."""
    value: T = InNetns(ns, fn, *args).result()
    return value


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ping_here(dst: str, count: int, wait: float) -> int:
    """ICMP echo from the calling thread's namespace: the number of the `count` answered."""
    ident = secrets.randbits(16)
    got = 0
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        for seq in range(count):
            body = struct.pack("!HH", ident, seq) + b"overlayc-scenario-ping"
            s.sendto(struct.pack("!BBH", 8, 0, _csum(b"\x08\x00\x00\x00" + body)) + body, (dst, 0))
            end = time.monotonic() + wait
            while (left := end - time.monotonic()) > 0:
                s.settimeout(left)
                try:
                    pkt, (src, _) = s.recvfrom(2048)
                except TimeoutError:
                    break
                icmp = pkt[(pkt[0] & 0x0F) * 4:]
                if src == dst and icmp[0] == 0 and icmp[4:8] == struct.pack("!HH", ident, seq):
                    got += 1
                    break
    return got


def ping(ns: str, dst: IPv4Address | str, count: int = 1, wait: float = 3.0) -> int:
    """ICMP echo requests from namespace `ns` to `dst`: how many of `count` were answered."""
    return in_netns(ns, _ping_here, str(dst), count, wait)


def unreachable(pairs: Iterable[tuple[str, IPv4Address]], count: int = 1, wait: float = 3.0) -> list[str]:
    """Ping every (source namespace, destination) pair, all sources in parallel; the pairs that
    did not answer every echo, as "src -> dst" (empty when all are reachable)."""
    by_src: dict[str, list[str]] = {}
    for src, dst in pairs:
        by_src.setdefault(src, []).append(str(dst))

    def all_from(dsts: list[str]) -> list[str]:
        return [d for d in dsts if _ping_here(d, count, wait) != count]

    runs = {src: InNetns(src, all_from, dsts) for src, dsts in by_src.items()}
    return [f"{src} -> {dst}" for src, run in runs.items() for dst in run.result()]


def matrix(groups: dict[str, list[Member]]) -> list[tuple[str, IPv4Address]]:
    """Every ordered pair (source netns, destination IP) of distinct endpoints sharing a network."""
    return [(a.netns, b.ip) for ms in groups.values() for a in ms for b in ms if a.endpoint != b.endpoint]


def _get_here(url: str, timeout: float) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an env proxy
    with opener.open(url, timeout=timeout) as resp:
        body: bytes = resp.read()
    return body.decode()


def http_get(ns: str, url: str, timeout: float = 10.0) -> str:
    """GET `url` with urllib from namespace `ns` (no proxy); the body."""
    return in_netns(ns, _get_here, url, timeout)


def _wait_port_here(port: int, deadline: float) -> None:
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class HttpServer:
    """`python -m http.server PORT` in namespace `ns` (all its addresses), serving `marker.txt`
    with `marker`; `stop()` kills it by its PID."""

    def __init__(self, ns: str, directory: Path, marker: str, port: int = HTTP_PORT) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "marker.txt").write_text(marker + "\n")
        self.ns, self.port, self.marker = ns, port, marker
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "http.server", str(port), "--bind", "0.0.0.0",
             "--directory", str(directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 30) -> None:
        in_netns(self.ns, _wait_port_here, self.port, time.monotonic() + timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


class _EchoHandler(http.server.BaseHTTPRequestHandler):

    def do_GET(self) -> None:
        body = f"{self.server.marker} path={self.path}\n".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class InprocHttpServer:
    """An HTTP server listening in namespace `ns` (all addresses), run by a thread of this
    process (no interpreter start: the ESP lab is slow); it answers `<marker> path=<path>`."""

    def __init__(self, ns: str, marker: str, port: int = HTTP_PORT) -> None:
        self.ns, self.port, self.marker = ns, port, marker
        self.server = in_netns(ns, http.server.ThreadingHTTPServer, ("0.0.0.0", port), _EchoHandler)
        self.server.marker = marker  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                       daemon=True)  # fmt: skip
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


# --- UDP counter stream -------------------------------------------------------------------------
class UdpStream:
    """Numbered UDP datagrams from namespace `src_ns` to `dst` (a receiver in `dst_ns`), one per
    `interval` s until `stop()`; `lost()` lists the sequence numbers that never arrived."""

    def __init__(self, src_ns: str, dst_ns: str, dst: IPv4Address, port: int = 9099,
                 interval: float = 0.1) -> None:  # fmt: skip
        self.dst, self.port, self.interval = str(dst), port, interval
        self.sent = 0
        self.received: set[int] = set()
        self._stop = threading.Event()
        self._drained = False
        self.rx = in_netns(dst_ns, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
        self.rx.bind((self.dst, port))
        self.rx.settimeout(0.5)
        self.tx = in_netns(src_ns, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._recv, self._send)]

    def start(self) -> UdpStream:
        for t in self._threads:
            t.start()
        return self

    def _send(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.tx.sendto(struct.pack("!Q", self.sent) + b"overlayc-stream", (self.dst, self.port))
            self.sent += 1
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def _recv(self) -> None:
        while True:
            try:
                data = self.rx.recv(2048)
            except TimeoutError:
                if self._stop.is_set() and self._drained:
                    return
                continue
            self.received.add(struct.unpack("!Q", data[:8])[0])

    def stop(self, drain: float = 5.0) -> None:
        """Stop sending; wait (bounded) until everything sent has arrived or `drain` passed."""
        self._drained = False
        self._stop.set()
        self._threads[1].join(10)
        deadline = time.monotonic() + drain
        while len(self.received) < self.sent and time.monotonic() < deadline:
            time.sleep(0.1)
        self._drained = True
        self._threads[0].join(5)
        self.rx.close()
        self.tx.close()

    def lost(self) -> list[int]:
        return [i for i in range(self.sent) if i not in self.received]


# --- kernel counters ----------------------------------------------------------------------------
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


def _send_here(dst: str, port: int, count: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(count):
            s.sendto(b"overlayc-burst %d" % i, (dst, port))
            time.sleep(0.002)


def udp_burst(ns: str, dst: IPv4Address, count: int, port: int = 9) -> None:
    """`count` UDP datagrams from namespace `ns` to `dst` (discard port)."""
    in_netns(ns, _send_here, str(dst), port, count)


# --- captures -----------------------------------------------------------------------------------
class Capture:
    """tcpdump on the lab's underlay bridge (every node's traffic) into `pcap`; a context manager
    that stops it (by its PID) once the file stops growing."""

    def __init__(self, lab: Lab, pcap: Path) -> None:
        self.pcap = pcap
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", lab.underlay, "tcpdump", "-i", "br0", "-nn", "-U", "-Z", "root",
             "-s", "0", "-w", str(pcap)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def __enter__(self) -> Capture:
        assert self.proc.stderr is not None
        first = self.proc.stderr.readline()
        if "listening on" not in first:
            self.stop()
            raise AssertionError(f"tcpdump did not start: {first}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        # tcpdump lags under TCG: wait (bounded) until the pcap stops growing, then stop it
        size, deadline = -1, time.monotonic() + 10
        while self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.4)
            now = self.pcap.stat().st_size if self.pcap.exists() else 0
            if now == size and now > 24:
                break
            size = now
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)

    def frames(self) -> list[bytes]:
        return read_pcap(self.pcap)

    def raw(self) -> bytes:
        return self.pcap.read_bytes()


@dataclass(frozen=True)
class Ipv4:
    src: str
    dst: str
    proto: int
    payload: bytes

    @property
    def udp_ports(self) -> tuple[int, int] | None:
        if self.proto != 17:
            return None
        sport, dport = struct.unpack("!HH", self.payload[:4])
        return (sport, dport)


def read_pcap(path: Path) -> list[bytes]:
    """The frames of a classic pcap file (Ethernet link type)."""
    data = path.read_bytes()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    assert linktype == 1, f"{path}: link type {linktype}, expected Ethernet"
    frames, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack(endian + "IIII", data[off:off + 16])[2]
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames


def ipv4_packets(frames: Sequence[bytes]) -> list[Ipv4]:
    """The IPv4 packets among Ethernet frames (outer headers only)."""
    out = []
    for f in frames:
        if len(f) < 34 or f[12:14] != b"\x08\x00":
            continue
        ip = f[14:]
        ihl, total = (ip[0] & 0x0F) * 4, struct.unpack("!H", ip[2:4])[0]
        out.append(Ipv4(socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]), ip[9], ip[ihl:total]))
    return out


# --- AF_PACKET injection (reference/xfrm-enforcement.md, kernel-lab/xfrm-enforcement/inject.py) --
def _ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    return hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:] + payload


def vxlan_echo_frame(
    out_dst_mac: str, out_src_mac: bytes, out_src: str, out_dst: str, dport: int, vni: int,
    in_src_mac: str, in_dst_mac: str, in_src: str, in_dst: str, seq: int, marker: bytes,
) -> bytes:
    """Outer Ethernet/IPv4/UDP/VXLAN around an inner Ethernet/IPv4/ICMP echo request."""
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x7777, seq) + marker
    icmp = icmp[:2] + struct.pack("!H", _csum(icmp)) + icmp[4:]
    inner = _mac(in_dst_mac) + _mac(in_src_mac) + b"\x08\x00" + _ipv4(in_src, in_dst, 1, icmp, 0x4242)
    vx = struct.pack("!B3sI", 0x08, b"\0\0\0", vni << 8) + inner
    udp = struct.pack("!HHHH", 40000 + seq, dport, 8 + len(vx), 0) + vx
    return _mac(out_dst_mac) + out_src_mac + b"\x08\x00" + _ipv4(out_src, out_dst, 17, udp, 0x5000 + seq)


def _mac(text: str) -> bytes:
    return bytes(int(x, 16) for x in text.split(":"))


def inject(ns: str, ifname: str, frames: Sequence[Callable[[bytes], bytes]], gap: float = 0.05) -> None:
    """Send frames through an AF_PACKET socket on `ifname` of `ns`, below that namespace's IP and
    XFRM stack; each frame is built by a function of the interface's own MAC."""

    def send() -> None:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
            s.bind((ifname, 0))
            own = s.getsockname()[4]
            for build in frames:
                s.send(build(own))
                time.sleep(gap)

    in_netns(ns, send)


def wait_until(check: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    """Poll `check` until it holds or `timeout` s passed (a bounded wait); its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


# --- the seed example with encryption, shared by the ESP modules -------------------------------
SEED_NODES = ["node1", "node2", "node3"]


@dataclass
class SeedLab:
    """The seed example (encrypted `secure`) applied on a 3-node lab, an HTTP server in each of
    its endpoint namespaces (`probe` on node1, `web.1` on node2; node3 runs nothing)."""

    lab: Lab
    cfg: Path
    groups: dict[str, list[Member]]
    vnis: dict[str, int]
    servers: dict[str, InprocHttpServer]

    def key(self, node: str) -> Path:
        return key_file(self.cfg, node)

    def apply(self, node: str, cfg: Path | None = None, at: datetime | None = None) -> int:
        return apply_api(cfg or self.cfg, self.lab, node, key=self.key(node), at=at)

    def member(self, network: str, endpoint: str) -> Member:
        return next(m for m in self.groups[network] if m.endpoint == endpoint)


SEED_STASH = pytest.StashKey[SeedLab]()


def seed_lab(request: pytest.FixtureRequest) -> SeedLab:
    """The session's SeedLab, made on first use and removed when the session ends (also after a
    failure); every call applies the seed config on every node again, so a module that applied
    another config (or broke something) hands the next one the seed's state (a no-op otherwise)."""
    config = request.config
    seed: SeedLab | None = config.stash.get(SEED_STASH, None)
    if seed is None:
        lab = Lab(SEED_NODES)
        config.add_cleanup(lab.close)
        lab.__enter__()
        cfg = seed_workdir(lab, request.getfixturevalue("tmp_path_factory").mktemp("seed-esp"))
        from overlayc.files.lock import read_lock

        seed = SeedLab(lab, cfg, {}, {}, {})
        for node in SEED_NODES:
            seed.apply(node)
        seed.groups = members(cfg)
        seed.vnis = dict(read_lock(cfg.parent / "overlayc.lock").vnis)
        for m in seed.groups["insecure"]:
            server = InprocHttpServer(m.netns, f"served-by-{m.endpoint}")
            config.add_cleanup(server.stop)
            seed.servers[m.netns] = server
        config.stash[SEED_STASH] = seed
        return seed
    for node in SEED_NODES:
        seed.apply(node)
    return seed
