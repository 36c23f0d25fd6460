"""Captures of an IPv6 underlay: the IPv6 packets of a pcap, and what the VXLAN frames in them
carry (the twin of `lab.sniff`, which reads IPv4 packets only).

    packets = read_pcap6(cap.pcap)
    stats = sniff_stats6(packets, b"marker", plain_port=4789, encrypted_port=4800)
    stats.inner["arp"], stats.inner["ns"], stats.inner["na"]   # inner ARP / neighbour discovery

An IPv6 packet is parsed without extension headers (VXLAN and ESP packets carry none): the
next-header field of the fixed header names the payload.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from lab.sniff import PROTO_ESP, PROTO_TCP, PROTO_UDP, read_frames

ETH_IPV4, ETH_ARP, ETH_IPV6 = 0x0800, 0x0806, 0x86DD
PROTO_ICMPV6 = 58
ICMPV6_NS, ICMPV6_NA = 135, 136
_ETH, _IP6 = 14, 40
VXLAN_HEADER = 8


@dataclass(frozen=True)
class Packet6:
    """One IPv6 packet of an Ethernet capture: addresses, next header, ports, raw frame."""

    src: str
    dst: str
    proto: int
    sport: int
    dport: int
    frame: bytes

    @property
    def payload(self) -> bytes:
        """The IPv6 payload, up to the header's payload length (without Ethernet padding)."""
        length = struct.unpack("!H", self.frame[_ETH + 4 : _ETH + 6])[0]
        return self.frame[_ETH + _IP6 : _ETH + _IP6 + length]

    def inner(self) -> str | None:
        """What the VXLAN frame in a UDP packet carries: "arp", "ns", "na", "icmpv6", "ipv6",
        "ipv4" or "other"; None when this is not UDP holding a whole inner Ethernet header."""
        if self.proto != PROTO_UDP or len(self.payload) < 8 + VXLAN_HEADER + _ETH:
            return None
        eth = self.payload[8 + VXLAN_HEADER :]
        kind = int.from_bytes(eth[12:14], "big")
        if kind == ETH_ARP:
            return "arp"
        if kind == ETH_IPV4:
            return "ipv4"
        if kind != ETH_IPV6 or len(eth) < _ETH + _IP6 + 1:
            return "other"
        if eth[_ETH + 6] != PROTO_ICMPV6:
            return "ipv6"
        return {ICMPV6_NS: "ns", ICMPV6_NA: "na"}.get(eth[_ETH + _IP6], "icmpv6")


def parse_frame6(frame: bytes) -> Packet6 | None:
    """The IPv6 packet in an Ethernet frame; None for any other frame."""
    if len(frame) < _ETH + _IP6 or int.from_bytes(frame[12:14], "big") != ETH_IPV6:
        return None
    proto = frame[_ETH + 6]
    src = str(ipaddress.IPv6Address(frame[_ETH + 8 : _ETH + 24]))
    dst = str(ipaddress.IPv6Address(frame[_ETH + 24 : _ETH + 40]))
    sport = dport = 0
    if proto in (PROTO_UDP, PROTO_TCP) and len(frame) >= _ETH + _IP6 + 4:
        sport, dport = struct.unpack("!HH", frame[_ETH + _IP6 : _ETH + _IP6 + 4])
    return Packet6(src, dst, proto, sport, dport, frame)


def read_pcap6(path: Path) -> list[Packet6]:
    """The IPv6 packets of a classic-pcap Ethernet capture (ARP, IPv4 and the like are skipped)."""
    return [pkt for pkt in map(parse_frame6, read_frames(path)) if pkt is not None]


@dataclass(frozen=True)
class SniffStats6:
    """What one IPv6 capture holds (as `lab.sniff.SniffStats`), and the kinds of the inner
    frames of the VXLAN packets (`inner`: "arp", "ns", "na", "ipv4", ... → count)."""

    ipv6: int
    esp: int
    udp_plain: int
    udp_encrypted: int
    marker_hits: int
    marker_hits_in_plain_udp: int
    spis: tuple[str, ...]
    inner: dict[str, int]


def sniff_stats6(packets: list[Packet6], marker: bytes, plain_port: int, encrypted_port: int) -> SniffStats6:
    """Count what the IPv6 sniff tests assert on (the marker is searched in the raw frames)."""
    vxlan_ports = (plain_port, encrypted_port)
    spis = sorted({f"0x{struct.unpack('!I', p.payload[:4])[0]:08x}" for p in packets
                   if p.proto == PROTO_ESP and len(p.payload) >= 4})  # fmt: skip
    hits = [p for p in packets if marker in p.frame]
    inner = Counter(k for p in packets if p.dport in vxlan_ports and (k := p.inner()) is not None)
    return SniffStats6(
        ipv6=len(packets),
        esp=sum(p.proto == PROTO_ESP for p in packets),
        udp_plain=sum(p.proto == PROTO_UDP and p.dport == plain_port for p in packets),
        udp_encrypted=sum(p.proto == PROTO_UDP and p.dport == encrypted_port for p in packets),
        marker_hits=len(hits),
        marker_hits_in_plain_udp=sum(p.proto == PROTO_UDP and p.dport == plain_port for p in hits),
        spis=tuple(spis),
        inner=dict(inner),
    )
