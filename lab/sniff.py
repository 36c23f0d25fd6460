"""The sniff test: capture the underlay with tcpdump, read the pcap back in Python.

    with Capture(lab.underlay, "br0", workdir / "secure.pcap") as cap:
        ...traffic...
    stats = sniff_stats(read_pcap(cap.pcap), b"OCDEMO-...", plain_port=4789, encrypted_port=4800)

Reading the pcap in Python (instead of `tcpdump -r` with filters) keeps the ESP lab lean: one
tcpdump process per capture, no read-back processes (TCG runs user space 10-30x slower).
"""

from __future__ import annotations

import ipaddress
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

ETH_IPV4 = 0x0800
PROTO_ESP = 50
PROTO_UDP = 17
PROTO_TCP = 6
PROTO_ICMP = 1
# pcap magic (as read from the file) -> byte order; microsecond and nanosecond variants
_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",
    b"\xa1\xb2\x3c\x4d": ">",
}


@dataclass(frozen=True)
class Packet:
    """One IPv4 packet of an Ethernet capture: addresses, protocol, ports, raw frame."""

    src: str
    dst: str
    proto: int
    sport: int
    dport: int
    frame: bytes

    @property
    def payload(self) -> bytes:
        """The IPv4 payload, up to the header's total length (without Ethernet padding)."""
        total = struct.unpack("!H", self.frame[16:18])[0]
        return self.frame[14 + (self.frame[14] & 0x0F) * 4 : 14 + total]

    @property
    def udp_ports(self) -> tuple[int, int] | None:
        """(source, destination) port of a UDP packet; None for any other protocol."""
        return (self.sport, self.dport) if self.proto == PROTO_UDP else None

    def describe(self) -> str:
        """A tcpdump-like one-line summary (ESP SPI/seq, VXLAN VNI and inner packet)."""
        ip = _ip_payload(self.frame)
        if self.proto == PROTO_ESP and len(ip) >= 8:
            spi, seq = struct.unpack("!II", ip[:8])
            return f"{self.src} > {self.dst}: ESP spi=0x{spi:08x} seq={seq} length {len(ip)}"
        if self.proto == PROTO_UDP:
            head = f"{self.src}.{self.sport} > {self.dst}.{self.dport}: UDP"
            inner = _describe_vxlan(ip[8:]) if len(ip) >= 16 else ""
            return f"{head} {inner}".rstrip()
        return f"{self.src} > {self.dst}: proto {self.proto} length {len(ip)}"


def _ip_payload(frame: bytes) -> bytes:
    ihl = (frame[14] & 0x0F) * 4
    return frame[14 + ihl :]


def _describe_vxlan(vx: bytes) -> str:
    vni = int.from_bytes(vx[4:7], "big")
    inner = vx[8:]
    if len(inner) < 34 or int.from_bytes(inner[12:14], "big") != ETH_IPV4:
        return f"VXLAN vni {vni}"
    proto = inner[14 + 9]
    src, dst = (str(ipaddress.IPv4Address(inner[14 + o : 18 + o])) for o in (12, 16))
    what = {PROTO_ICMP: "ICMP", PROTO_TCP: "TCP", PROTO_UDP: "UDP"}.get(proto, f"proto {proto}")
    return f"VXLAN vni {vni}: {src} > {dst} {what}"


def read_frames(path: Path) -> list[bytes]:
    """Every Ethernet frame of a classic-pcap capture, in order."""
    data = path.read_bytes()
    if len(data) < 24 or data[:4] not in _PCAP_MAGIC:
        raise ValueError(f"{path}: not a pcap file ({len(data)} bytes)")
    order = _PCAP_MAGIC[data[:4]]
    frames, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack(order + "I", data[off + 8 : off + 12])[0]
        frames.append(data[off + 16 : off + 16 + incl])
        off += 16 + incl
    return frames


def read_pcap(path: Path) -> list[Packet]:
    """The IPv4 packets of a classic-pcap Ethernet capture (ARP, IPv6 and the like are skipped;
    `lab.sniff6` reads the IPv6 ones)."""
    return [pkt for pkt in map(_parse_frame, read_frames(path)) if pkt is not None]


def _parse_frame(frame: bytes) -> Packet | None:
    if len(frame) < 34 or int.from_bytes(frame[12:14], "big") != ETH_IPV4:
        return None
    proto = frame[23]
    src, dst = str(ipaddress.IPv4Address(frame[26:30])), str(ipaddress.IPv4Address(frame[30:34]))
    ip = _ip_payload(frame)
    sport = dport = 0
    if proto in (PROTO_UDP, PROTO_TCP) and len(ip) >= 4:
        sport, dport = struct.unpack("!HH", ip[:4])
    return Packet(src, dst, proto, sport, dport, frame)


@dataclass(frozen=True)
class SniffStats:
    """What one capture holds: IPv4 packets, ESP packets, UDP to each VXLAN port, marker hits."""

    ipv4: int
    esp: int
    udp_plain: int
    udp_encrypted: int
    marker_hits: int
    marker_hits_in_plain_udp: int
    spis: tuple[str, ...]


def sniff_stats(packets: list[Packet], marker: bytes, plain_port: int, encrypted_port: int) -> SniffStats:
    """Count what the sniff test asserts on (the marker is searched in the raw frames)."""
    spis = sorted({f"0x{struct.unpack('!I', _ip_payload(p.frame)[:4])[0]:08x}" for p in packets
                   if p.proto == PROTO_ESP})  # fmt: skip
    hits = [p for p in packets if marker in p.frame]
    return SniffStats(
        ipv4=len(packets),
        esp=sum(p.proto == PROTO_ESP for p in packets),
        udp_plain=sum(p.proto == PROTO_UDP and p.dport == plain_port for p in packets),
        udp_encrypted=sum(p.proto == PROTO_UDP and p.dport == encrypted_port for p in packets),
        marker_hits=len(hits),
        marker_hits_in_plain_udp=sum(p.proto == PROTO_UDP and p.dport == plain_port for p in hits),
        spis=tuple(spis),
    )


class Capture:
    """tcpdump writing `pcap` from `dev` in namespace `netns` for the duration of the block.

    Started when tcpdump says "listening on"; stopped (SIGTERM to its own PID) once the pcap has
    stopped growing, because tcpdump under TCG lags behind the traffic."""

    def __init__(self, netns: str, dev: str, pcap: Path) -> None:
        self.netns, self.dev, self.pcap = netns, dev, pcap
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Capture:
        cmd = ["ip", "netns", "exec", self.netns, "tcpdump", "-i", self.dev, "-nn", "-U",
               "--immediate-mode", "-Z", "root", "-w", str(self.pcap)]  # fmt: skip
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert self._proc.stderr is not None
        first = self._proc.stderr.readline()
        if "listening on" not in first:
            self._kill()
            raise RuntimeError(f"tcpdump did not start in {self.netns}: {first.strip()}")
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            self._settle()
        self._kill()

    def _settle(self, step: float = 0.3, limit: float = 10.0) -> None:
        size, stable, deadline = -1, 0, time.monotonic() + limit
        while time.monotonic() < deadline and stable < 2:
            time.sleep(step)
            now = self.pcap.stat().st_size if self.pcap.exists() else 0
            stable = stable + 1 if now == size else 0
            size = now

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()  # our own child, by its PID
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
