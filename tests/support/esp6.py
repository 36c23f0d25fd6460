"""The IPv6 seed (examples/seed-ipv6) applied, encrypted, on a 3-node lab with an IPv6 underlay,
and plaintext VXLAN over UDP/IPv6 frames for AF_PACKET injection (`tests.support.esp.inject`)."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lab.probe import checksum
from lab.topology import Lab
from tests.support.cluster import SEED_IPV6, Member, apply_api, key_file, members, seed_workdir
from tests.support.traffic import InprocHttpServer

NODES = ["node1", "node2", "node3"]
UNDERLAY = "2001:db8::/64"


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def udp6(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """An IPv6 packet holding one UDP datagram with its (mandatory) checksum."""
    s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    length = 8 + len(payload)
    pseudo = s + d + struct.pack("!I3xB", length, 17)
    head = struct.pack("!HHHH", sport, dport, length, 0)
    csum = checksum(pseudo + head + payload) or 0xFFFF
    udp = struct.pack("!HHHH", sport, dport, length, csum) + payload
    return struct.pack("!IHBB", 6 << 28, length, 17, 64) + s + d + udp


def inner_echo(src_mac: str, dst_mac: str, src: str, dst: str, seq: int, marker: bytes) -> bytes:
    """Inner Ethernet/IPv4/ICMP echo request carrying `marker`."""
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x1515, seq) + marker
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0x4000, 64, 1, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return _mac(dst_mac) + _mac(src_mac) + b"\x08\x00" + ip + icmp


def vxlan6_frame(out_dst_mac: str, out_src_mac: bytes, out_src: str, out_dst: str, dport: int, vni: int,
                 inner: bytes, seq: int) -> bytes:
    """Outer Ethernet/IPv6/UDP/VXLAN around the inner Ethernet frame `inner`."""
    vx = struct.pack("!B3sI", 0x08, b"\0\0\0", vni << 8) + inner
    return _mac(out_dst_mac) + out_src_mac + b"\x86\xdd" + udp6(out_src, out_dst, 40000 + seq, dport, vx)


def esp_open(packet: bytes, key: bytes) -> bytes:
    """Decrypt one ESP packet (the IP payload) of a fresh ESN SA under `key` = AES key ‖ salt
    (RFC 4106: nonce salt ‖ IV; AAD SPI ‖ seq_hi (0) ‖ seq); InvalidTag under any other key."""
    spi, seq = struct.unpack("!II", packet[:8])
    aad = struct.pack("!III", spi, 0, seq)
    return AESGCM(key[:-4]).decrypt(key[-4:] + packet[8:16], packet[16:], aad)


@dataclass
class Seed6Lab:
    """The IPv6 seed applied on a lab, an HTTP server in each endpoint namespace of `insecure`."""

    lab: Lab
    cfg: Path
    groups: dict[str, list[Member]]
    servers: list[InprocHttpServer]

    def key(self, node: str) -> Path:
        return key_file(self.cfg, node)

    def apply(self, node: str, cfg: Path | None = None) -> int:
        return apply_api(cfg or self.cfg, self.lab, node, key=self.key(node))

    def member(self, network: str, endpoint: str) -> Member:
        return next(m for m in self.groups[network] if m.endpoint == endpoint)


def make_seed6(lab: Lab, where: Path) -> Seed6Lab:
    """Apply the IPv6 seed (encrypted `secure`) on every node of `lab` (made with UNDERLAY)."""
    cfg = seed_workdir(lab, where, example=SEED_IPV6)
    seed = Seed6Lab(lab, cfg, {}, [])
    for node in NODES:
        seed.apply(node)
    seed.groups = members(cfg)
    for m in seed.groups["insecure"]:
        seed.servers.append(InprocHttpServer(m.netns, f"served-by-{m.endpoint}"))
    return seed
