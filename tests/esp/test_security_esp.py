"""Fail closed (DESIGN.md §4, reference/xfrm-enforcement.md), with the seed example as overlayc
applies it: plaintext VXLAN on the encrypted port is never delivered, whoever sends it, and an
encrypted network whose SAs are gone stops instead of falling back to cleartext.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest

from lab.sniff import Capture, read_pcap
from tests.support.cluster import apply_cli, sandbox
from tests.support.counters import link_stat, snmp, xfrm_stat
from tests.support.esp import SeedLab, inject, seed_lab, vxlan_echo_frame
from tests.support.host import ip_json
from tests.support.traffic import ping, udp_burst, wait_until

pytestmark = [pytest.mark.esp, pytest.mark.kernel]

ENC_PORT, PLAIN_PORT = 4800, 4789
COUNT = 3


@pytest.fixture(scope="module")
def seed(request: pytest.FixtureRequest) -> SeedLab:
    return seed_lab(request)


def test_plaintext_vxlan_on_the_encrypted_port_is_never_delivered(seed: SeedLab) -> None:
    """AF_PACKET frames (below the sender's XFRM) to node1: from node3 (shares no encrypted
    network: not a peer) and from node2's own address (a peer, but no ESP). Control: the same
    frames on the plain network are delivered, so the frames are valid."""
    lab = seed.lab
    target = lab.netns("node1")
    underlay_mac = ip_json(target, "link", "show", "dev", lab.underlay_dev)[0]["address"]
    probe = {net: seed.member(net, "probe") for net in seed.groups}
    vx_secure = f"ovx{seed.vnis['secure']}"
    marker = f"INJECTED-{secrets.token_hex(4)}".encode()

    def frames(node: str, net: str, port: int) -> list:  # type: ignore[type-arg]
        dst = probe[net]
        fake_src = str(dst.ip).rsplit(".", 1)[0] + ".200"
        return [
            lambda own, seq=seq: vxlan_echo_frame(
                underlay_mac, own, str(lab.address(node)), str(lab.address("node1")), port,
                seed.vnis[net], "02:00:00:00:00:c8", dst.mac, fake_src, str(dst.ip), seq, marker)
            for seq in range(1, COUNT + 1)
        ]  # fmt: skip

    stat0, echos0 = xfrm_stat(target), snmp(probe["secure"].netns)["Icmp.InEchos"]
    vx_where = sandbox(lab, "node1", "secure")  # the vxlan is in its sandbox, its socket in node1's
    rx0 = link_stat(vx_where, vx_secure, "rx_packets")
    inject(lab.netns("node3"), lab.underlay_dev, frames("node3", "secure", ENC_PORT))
    inject(lab.netns("node2"), lab.underlay_dev, frames("node2", "secure", ENC_PORT))
    # control, sent last: once it is delivered, the frames before it have been processed too
    inject(lab.netns("node3"), lab.underlay_dev, frames("node3", "insecure", PLAIN_PORT))
    assert wait_until(lambda: snmp(probe["insecure"].netns)["Icmp.InEchos"] >= echos0 + COUNT, 20), \
        "control: plaintext VXLAN on the plain port was not delivered (bad frames?)"
    stat1, echos1 = xfrm_stat(target), snmp(probe["secure"].netns)["Icmp.InEchos"]
    assert echos1 == echos0 + COUNT, "the endpoint answered more than the control's echoes"
    assert link_stat(vx_where, vx_secure, "rx_packets") == rx0, "the encrypted network's vxlan got a frame"
    assert stat1["XfrmInPolBlock"] - stat0["XfrmInPolBlock"] >= COUNT, (stat0, stat1)  # from node3
    assert stat1["XfrmInTmplMismatch"] - stat0["XfrmInTmplMismatch"] >= COUNT, (stat0, stat1)  # node2


def test_without_one_sides_sas_traffic_stops_instead_of_going_plain_and_reapply_restores_it(
    seed: SeedLab, tmp_path: Path
) -> None:
    lab = seed.lab
    probe, web = seed.member("secure", "probe"), seed.member("secure", "web.1")
    assert ping(probe.netns, web.ip) == 1, "the encrypted network does not work to begin with"
    subprocess.run(["ip", "-n", lab.netns("node2"), "xfrm", "state", "flush"], check=True)
    assert subprocess.run(["ip", "-n", lab.netns("node2"), "xfrm", "state"], capture_output=True, text=True,
                          check=True).stdout == ""  # fmt: skip
    before = xfrm_stat(lab.netns("node2"))
    with Capture(lab.underlay, "br0", tmp_path / "no-sa.pcap") as cap:
        answered = ping(probe.netns, web.ip, count=3, wait=1.0)
        answered_back = ping(web.netns, probe.ip, count=2, wait=1.0)
        plain_ok = ping(seed.member("insecure", "probe").netns, seed.member("insecure", "web.1").ip)
    assert answered == 0 and answered_back == 0, "the encrypted network still works without SAs"
    assert plain_ok == 1, "control: the plain network is unaffected"
    packets = read_pcap(cap.pcap)
    assert [p for p in packets if p.udp_ports and ENC_PORT in p.udp_ports] == [], "cleartext on 4800"
    assert [p for p in packets if p.proto == 50 and p.src == str(lab.address("node2"))] == []
    after = xfrm_stat(lab.netns("node2"))
    assert after["XfrmInNoStates"] > before["XfrmInNoStates"], (before, after)  # node1's ESP, no SA
    assert after["XfrmOutNoStates"] > before["XfrmOutNoStates"], (before, after)  # its own, blocked

    res = apply_cli(seed.cfg, lab, "node2", "--detailed-exitcode", key=seed.key("node2"))
    assert res.returncode == 2, f"{res.stdout}\n{res.stderr}"
    assert "4 added" in res.stdout, res.stdout
    # both directions work at once: node2's inbound SAs are new and node1's sequence numbers go
    # on; node2's re-created outbound SA continues past its saved counter (DESIGN.md §4)
    assert ping(probe.netns, web.ip, count=2, wait=2.0) == 2
    assert ping(web.netns, probe.ip, count=2, wait=2.0) == 2


def test_reapply_after_losing_sas_restores_traffic_at_once(seed: SeedLab) -> None:
    """An SA re-created within its epoch (node reboot, flushed SAs) has the same SPI and key: its
    counter continues past its saved value, so node1 does not drop node2's packets as replays
    (XfrmInStateSeqError) or misread their ESN high half (XfrmInStateProtoError)."""
    lab = seed.lab
    probe, web = seed.member("secure", "probe"), seed.member("secure", "web.1")
    udp_burst(web.netns, probe.ip, 50)  # some traffic node2 -> node1 before the loss
    assert ping(probe.netns, web.ip) == 1
    subprocess.run(["ip", "-n", lab.netns("node2"), "xfrm", "state", "flush"], check=True)
    stat = xfrm_stat(lab.netns("node1"))
    assert seed.apply("node2") == 2
    answered = ping(probe.netns, web.ip, count=2, wait=1.0)
    after = xfrm_stat(lab.netns("node1"))
    dropped = {k: after[k] - stat[k] for k in ("XfrmInStateSeqError", "XfrmInStateProtoError")}
    assert answered == 2, f"{answered}/2 echoes answered; node1 dropped {dropped} replies"
    assert dropped == {"XfrmInStateSeqError": 0, "XfrmInStateProtoError": 0}
