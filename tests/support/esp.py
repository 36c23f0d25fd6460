"""The ESP modules' toolkit: the seed example applied (encrypted) on a 3-node lab, shared by the
session, and frames injected with AF_PACKET below a namespace's IP and XFRM stack."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from lab.netns import in_netns
from lab.probe import checksum
from lab.topology import Lab
from tests.support.cluster import Member, apply_api, key_file, members, seed_workdir
from tests.support.traffic import InprocHttpServer


# --- AF_PACKET injection (reference/xfrm-enforcement.md, kernel-lab/xfrm-enforcement/inject.py) --
def _ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    return hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:] + payload


def vxlan_echo_frame(
    out_dst_mac: str, out_src_mac: bytes, out_src: str, out_dst: str, dport: int, vni: int,
    in_src_mac: str, in_dst_mac: str, in_src: str, in_dst: str, seq: int, marker: bytes,
) -> bytes:
    """Outer Ethernet/IPv4/UDP/VXLAN around an inner Ethernet/IPv4/ICMP echo request."""
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x7777, seq) + marker
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
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
        from overlayc.compile import read_lock

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
