"""The seed over an IPv6 underlay (examples/seed-ipv6, encrypted `secure`) under a kernel with ESP:
the sniff test (only ESP for `secure` on the wire, no UDP to the encrypted port, the marker never
in clear, every ESP packet decrypts under the derived key), plaintext VXLAN injected from a peer
and from a non-peer dropped (XfrmInTmplMismatch / XfrmInPolBlock), and an epoch boundary under
traffic with zero loss.
"""

from __future__ import annotations

import secrets
import struct
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lab.sniff import Capture
from lab.sniff6 import read_pcap6, sniff_stats6
from lab.topology import Lab
from overlayc.compile.epoch import epoch_of
from overlayc.compile.keys import derive_sa_key, x25519
from overlayc.config.load import load_config
from overlayc.files.keys import read_private_key
from overlayc.kernel.objects import XfrmPolicy, XfrmState
from overlayc.observe.kernel import observe
from tests.support.cluster import SEED_IPV6, seed_workdir
from tests.support.counters import link_stat, sa_packets, snmp, xfrm_stat
from tests.support.esp import inject
from tests.support.esp6 import NODES, UNDERLAY, Seed6Lab, esp_open, inner_echo, make_seed6, vxlan6_frame
from tests.support.host import holding, ip_json
from tests.support.traffic import HTTP_PORT, UdpStream, http_get, ping, wait_until

pytestmark = [pytest.mark.esp, pytest.mark.kernel]

ENC_PORT, PLAIN_PORT = 4800, 4789
COUNT = 3
ROTATION = 12  # seconds, as tests/esp/test_rotation_esp.py


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed6Lab]:
    lab = Lab(NODES, subnet=UNDERLAY)
    try:
        lab.__enter__()
        made = make_seed6(lab, tmp_path_factory.mktemp("seed6-esp"))
        yield made
        for server in made.servers:
            server.stop()
    finally:
        lab.close()


def test_ipv6_sas_and_policies_are_installed(seed: Seed6Lab) -> None:
    lab = seed.lab
    a1, a2 = lab.address("node1"), lab.address("node2")
    owned = observe(lab.netns("node1"), lab.tag).owned
    states = sorted((s.src, s.dst) for s in owned if isinstance(s, XfrmState))
    assert states == sorted([(a2, a1)] * 3 + [(a1, a2)]), states
    blocks = {str(p.src) for p in owned if isinstance(p, XfrmPolicy) and p.action == "block"}
    assert blocks == {"::/0"}
    assert ping(seed.member("secure", "probe").netns, seed.member("secure", "web.1").ip, count=2) == 2


def test_sniff_secure_is_esp_only_and_decrypts_insecure_is_clear(seed: Seed6Lab, tmp_path: Path) -> None:
    lab = seed.lab
    probe = {net: seed.member(net, "probe") for net in seed.groups}
    web = {net: seed.member(net, "web.1") for net in seed.groups}
    clear, secret = f"CLEAR-{secrets.token_hex(6)}", f"SECRET-{secrets.token_hex(6)}"
    with Capture(lab.underlay, "br0", tmp_path / "underlay.pcap") as cap:
        got_clear = http_get(probe["insecure"].netns, f"http://{web['insecure'].ip}:{HTTP_PORT}/{clear}")
        got_secret = http_get(probe["secure"].netns, f"http://{web['secure'].ip}:{HTTP_PORT}/{secret}")
    assert clear in got_clear and secret in got_secret
    packets = read_pcap6(cap.pcap)
    stats = sniff_stats6(packets, secret.encode(), PLAIN_PORT, ENC_PORT)
    assert stats.udp_encrypted == 0, "UDP to the encrypted port on the wire"
    assert stats.marker_hits == 0, "the encrypted network's payload is on the wire"
    assert stats.esp >= 6, stats
    assert any(clear.encode() in p.frame for p in packets if p.dport == PLAIN_PORT), "plain not in clear"
    assert {k: stats.inner.get(k, 0) for k in ("arp", "ns", "na")} == {"arp": 0, "ns": 0, "na": 0}

    config = load_config([seed.cfg]).config
    pubs = {str(n.address): n.public_key_bytes() for n in config.nodes.values()}
    privs = {str(lab.address(n)): read_private_key(seed.key(n)) for n in ("node1", "node2")}
    now = epoch_of(datetime.now(UTC), config.cluster.encryption.rotation)
    found = 0
    for p in (p for p in packets if p.proto == 50):
        assert {p.src, p.dst} == set(privs), p
        spi = struct.unpack("!I", p.payload[:4])[0]
        epoch = next(e for e in (now, now - 1, now + 1) if e % 4 == spi & 3)
        pub_src, pub_dst = pubs[p.src], pubs[p.dst]
        assert pub_src is not None and pub_dst is not None
        key = derive_sa_key(x25519(privs[p.src], pub_dst), config.cluster.id, pub_src, pub_dst, epoch, 20)
        plaintext = esp_open(p.payload, key)  # raises InvalidTag under any other key
        udp = plaintext[: len(plaintext) - 2 - plaintext[-2]]
        assert plaintext[-1] == 17 and struct.unpack("!H", udp[2:4])[0] == ENC_PORT
        found += secret.encode() in udp
    assert found >= 2, "the HTTP request and response were not inside the ESP packets"


def test_plaintext_on_the_encrypted_port_from_peer_and_non_peer_is_dropped(seed: Seed6Lab) -> None:
    lab = seed.lab
    target = lab.netns("node1")
    underlay_mac = ip_json(target, "link", "show", "dev", lab.underlay_dev)[0]["address"]
    probe = {net: seed.member(net, "probe") for net in seed.groups}
    vnis = {"insecure": 4096, "secure": 4097}
    marker = f"INJECTED-{secrets.token_hex(4)}".encode()

    def frames(node: str, net: str, port: int) -> list:  # type: ignore[type-arg]
        dst = probe[net]
        fake = str(dst.ip).rsplit(".", 1)[0] + ".200"
        return [
            lambda own, seq=seq: vxlan6_frame(
                underlay_mac, own, str(lab.address(node)), str(lab.address("node1")), port, vnis[net],
                inner_echo("02:00:00:00:00:c8", dst.mac, fake, str(dst.ip), seq, marker), seq)
            for seq in range(1, COUNT + 1)
        ]  # fmt: skip

    stat0, echos0 = xfrm_stat(target), snmp(probe["secure"].netns)["Icmp.InEchos"]
    rx0 = link_stat(holding(target, "ovx4097"), "ovx4097", "rx_packets")
    inject(lab.netns("node3"), lab.underlay_dev, frames("node3", "secure", ENC_PORT))
    inject(lab.netns("node2"), lab.underlay_dev, frames("node2", "secure", ENC_PORT))
    inject(lab.netns("node3"), lab.underlay_dev, frames("node3", "insecure", PLAIN_PORT))  # control
    assert wait_until(lambda: snmp(probe["insecure"].netns)["Icmp.InEchos"] >= echos0 + COUNT, 20), \
        "control: plaintext VXLAN over IPv6 on the plain port was not delivered (bad frames?)"
    stat1 = xfrm_stat(target)
    assert snmp(probe["secure"].netns)["Icmp.InEchos"] == echos0 + COUNT
    rx1 = link_stat(holding(target, "ovx4097"), "ovx4097", "rx_packets")
    assert rx1 == rx0, "the encrypted network's vxlan got a frame"
    assert stat1["XfrmInPolBlock"] - stat0["XfrmInPolBlock"] >= COUNT, (stat0, stat1)  # node3
    assert stat1["XfrmInTmplMismatch"] - stat0["XfrmInTmplMismatch"] >= COUNT, (stat0, stat1)  # node2


def test_an_epoch_boundary_under_traffic_loses_nothing(seed: Seed6Lab, tmp_path: Path) -> None:
    lab = seed.lab
    cfg = seed_workdir(lab, tmp_path / "rotation", rotation=f"{ROTATION}s", example=SEED_IPV6)
    for node in ("node1", "node2"):
        seed.apply(node, cfg)
    probe, web = seed.member("secure", "probe"), seed.member("secure", "web.1")
    assert ping(probe.netns, web.ip) == 1 and ping(web.netns, probe.ip) == 1
    seen: dict[tuple[str, str, int], int] = {}
    streams = [UdpStream(probe.netns, web.netns, web.ip, port=9091, interval=0.1).start(),
               UdpStream(web.netns, probe.netns, probe.ip, port=9092, interval=0.1).start()]
    first = epoch_of(datetime.now(UTC), ROTATION)

    def record(node: str) -> None:
        for k, n in sa_packets(lab.netns(node)).items():
            seen[k] = max(seen.get(k, 0), n)

    try:
        while epoch_of(datetime.now(UTC), ROTATION) <= first or time.time() % ROTATION < ROTATION / 3:
            started = time.monotonic()
            for node in ("node1", "node2"):
                record(node)  # before the apply that may delete an old SA
                seed.apply(node, cfg)
            time.sleep(max(0.0, ROTATION / 4 - (time.monotonic() - started)))
    finally:
        for s in streams:
            s.stop()
    for node in ("node1", "node2"):
        record(node)  # the new epoch's SAs, which the last round may have made
    for s in streams:
        assert s.kept_pace() and s.lost() == [], (s.sent, s.stopped - s.started, s.lost()[:20])
    a1, a2 = str(lab.address("node1")), str(lab.address("node2"))
    used = sorted(spi for (src, dst, spi), n in seen.items() if (src, dst) == (a1, a2) and n > 0)
    assert len({spi & 3 for spi in used}) >= 2, [hex(x) for x in used]  # the boundary changed the SA
