"""The seed example as shipped (encrypted `secure`) on 3 lab nodes, under a kernel with ESP.

probe (node1) and web.1 (node2) reach each other over both networks; on the underlay `insecure`
is readable, `secure` is ESP only, and every ESP packet decrypts (AES-GCM, RFC 4106) under the key
that overlayc derives for its pair and epoch (DESIGN.md §4) — the kernel holds what overlayc meant.
"""

from __future__ import annotations

import re
import secrets
import struct
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lab.sniff import Capture, read_pcap
from overlayc.compile.epoch import epoch_of
from overlayc.compile.keys import derive_sa_key, x25519
from overlayc.config.load import load_config
from overlayc.files.keys import read_private_key
from overlayc.kernel.objects import XfrmState
from overlayc.observe.kernel import observe
from tests.support.cluster import matrix
from tests.support.esp import SeedLab, seed_lab
from tests.support.traffic import HTTP_PORT, http_get, unreachable

pytestmark = [pytest.mark.esp, pytest.mark.kernel]

ENC_PORT = 4800
PLAIN_PORT = 4789


@pytest.fixture(scope="module")
def seed(request: pytest.FixtureRequest) -> SeedLab:
    return seed_lab(request)


def xfrm_text(seed: SeedLab, node: str) -> str:
    return subprocess.run(["ip", "netns", "exec", seed.lab.netns(node), "ip", "xfrm", "state"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip


def test_seed_encrypted_both_networks_reachable_by_ping_and_http(seed: SeedLab) -> None:
    lab = seed.lab
    a1, a2 = str(lab.address("node1")), str(lab.address("node2"))
    # the kernel holds what §4 says: per peer 3 inbound SAs + 1 outbound, GCM, ICV 128, ESN
    for node, me, peer in (("node1", a1, a2), ("node2", a2, a1)):
        states = [o for o in observe(lab.netns(node), lab.tag).owned if isinstance(o, XfrmState)]
        pairs = sorted((str(s.src), str(s.dst)) for s in states)
        assert pairs == sorted([(peer, me)] * 3 + [(me, peer)]), states
        text = xfrm_text(seed, node)
        assert len(re.findall(r"aead rfc4106\(gcm\(aes\)\) 0x[0-9a-f]{40} 128", text)) == 4, text
        assert text.count("flag esn") == 4, text
    assert xfrm_text(seed, "node3") == "", "node3 shares no encrypted network: no SA"

    assert unreachable(matrix(seed.groups)) == []
    for net, ms in seed.groups.items():
        for src in ms:
            for dst in ms:
                if src is not dst:
                    body = http_get(src.netns, f"http://{dst.ip}:{HTTP_PORT}/{net}")
                    assert body == f"served-by-{dst.endpoint} path=/{net}\n", (net, src, dst)


def esp_plaintext(packet: bytes, key: bytes, esn: bool = True, seq_hi: int = 0) -> bytes:
    """RFC 4106 / RFC 4303: decrypt one ESP packet (the IP payload) under `key` = AES key ‖ salt.
    Nonce = salt ‖ IV (8 bytes after the sequence number); AAD = SPI ‖ seq (with ESN: SPI ‖
    seq_hi ‖ seq_lo; seq_hi, not on the wire, is 0 for the first 2^32 packets); ciphertext ‖
    16-byte ICV."""
    spi, seq = struct.unpack("!II", packet[:8])
    iv, sealed = packet[8:16], packet[16:]
    aad = struct.pack("!III", spi, seq_hi, seq) if esn else struct.pack("!II", spi, seq)
    return AESGCM(key[:-4]).decrypt(key[-4:] + iv, sealed, aad)


def esn_plaintext(packet: bytes, key: bytes, highest: int = 4) -> bytes:
    """`esp_plaintext` for an ESN SA whose high half is below `highest`: an SA re-created with
    restored counters (tests/esp/test_reboot_esp.py) continues 2^31 further each time."""
    for seq_hi in range(highest):
        try:
            return esp_plaintext(packet, key, seq_hi=seq_hi)
        except InvalidTag:
            continue
    raise InvalidTag(f"no seq_hi below {highest} authenticates the packet")


def test_underlay_shows_insecure_in_clear_secure_only_as_esp_that_decrypts_with_the_derived_key(
    seed: SeedLab, tmp_path: Path
) -> None:
    lab = seed.lab
    probe = {net: seed.member(net, "probe") for net in seed.groups}
    web = {net: seed.member(net, "web.1") for net in seed.groups}
    clear, secret = f"CLEAR-{secrets.token_hex(6)}", f"SECRET-{secrets.token_hex(6)}"
    with Capture(lab.underlay, "br0", tmp_path / "underlay.pcap") as cap:
        got_clear = http_get(probe["insecure"].netns, f"http://{web['insecure'].ip}:{HTTP_PORT}/{clear}")
        got_secret = http_get(probe["secure"].netns, f"http://{web['secure'].ip}:{HTTP_PORT}/{secret}")
    assert clear in got_clear and secret in got_secret
    raw = cap.pcap.read_bytes()
    packets = read_pcap(cap.pcap)
    plain = [p for p in packets if p.udp_ports and PLAIN_PORT in p.udp_ports]
    esp = [p for p in packets if p.proto == 50]
    # insecure: VXLAN on the plain port, the HTTP exchange readable on the wire
    assert plain and clear.encode() in raw, "the plain network's HTTP payload is not on the wire"
    assert any(clear.encode() in p.payload for p in plain)
    # secure: ESP only, never UDP on the encrypted port, the payload nowhere
    assert [p for p in packets if p.udp_ports and ENC_PORT in p.udp_ports] == []
    assert [p for p in packets if p.proto != 50 and p not in plain] == [], "neither ESP nor plain VXLAN"
    assert len(esp) >= 6, f"expected the TCP exchange as ESP, got {len(esp)} ESP packets"
    assert secret.encode() not in raw, "the encrypted network's payload is on the wire"

    # every ESP packet decrypts under the key overlayc derives for (sender → receiver, epoch)
    config = load_config([seed.cfg]).config
    pubs = {str(n.address): n.public_key_bytes() for n in config.nodes.values()}
    privs = {str(lab.address(n)): read_private_key(seed.key(n)) for n in ("node1", "node2")}
    now = epoch_of(datetime.now(UTC), config.cluster.encryption.rotation)
    found = 0
    for p in esp:
        assert {p.src, p.dst} == {str(lab.address("node1")), str(lab.address("node2"))}, p
        spi = struct.unpack("!I", p.payload[:4])[0]
        # the SPI carries its epoch mod 4 (near a boundary the sender may be an epoch off)
        epoch = next(e for e in (now, now - 1, now + 1) if e % 4 == spi & 3)
        pub_src, pub_dst = pubs[p.src], pubs[p.dst]
        assert pub_src is not None and pub_dst is not None
        key = derive_sa_key(x25519(privs[p.src], pub_dst), config.cluster.id, pub_src, pub_dst, epoch, 20)
        plaintext = esn_plaintext(p.payload, key)  # raises InvalidTag on any other key
        pad_len, next_header = plaintext[-2], plaintext[-1]
        assert next_header == 17, "ESP carries UDP (the VXLAN datagram)"
        udp = plaintext[: len(plaintext) - 2 - pad_len]
        _sport, dport, length = struct.unpack("!HHH", udp[:6])
        assert dport == ENC_PORT and length == len(udp)
        vni = struct.unpack("!I", udp[12:16])[0] >> 8
        assert vni == seed.vnis["secure"]
        found += secret.encode() in udp
    assert found >= 2, "the HTTP request and response were not inside the ESP packets"
