"""The status model (pure): health verdicts from desired/live states and counter readings, and
the per-SA counter decoding of the XFRM dump (no kernel)."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from ipaddress import IPv4Address

import pytest

from overlayc.agent.status import build_status
from overlayc.compile.epoch import epoch_of
from overlayc.config.load import load_config
from overlayc.config.model import Config
from overlayc.kernel.health import Health, SaCounters
from overlayc.kernel.objects import Sandbox, Vxlan, XfrmState
from overlayc.kernel.state import KernelState, Observed
from overlayc.netlink import xfrm as nx
from overlayc.netlink.core import attr
from overlayc.observe.counters import XFRMA_LASTUSED, decode_sa_counters, parse_xfrm_stat
from overlayc.observe.sysctl import fail_closed_sysctls
from overlayc.render.status import render_status_json, render_status_text
from tests.support.builders import AT_NOV21 as AT
from tests.support.builders import compile_for, seed_example
from tests.support.host import EXAMPLES

SYSCTLS_OK: dict[str, str | None] = {name: "0" for name in fail_closed_sysctls("eth0")}


def seed(node: str = "node2") -> tuple[Config, KernelState]:
    return seed_example(node, AT)


def states(desired: KernelState) -> list[XfrmState]:
    return [o for o in desired if isinstance(o, XfrmState)]


def test_a_node_matching_its_configuration_is_healthy() -> None:
    config, desired = seed()
    status = build_status(config, "node2", AT, desired, Observed(KernelState(desired)),
                          Health({"XfrmInNoStates": 0}, {}, SYSCTLS_OK))
    assert status.healthy and status.exit_code == 0 and status.problems == ()
    assert status.epoch == epoch_of(AT, 12 * 3600)
    assert status.next_rotation == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert [(n.name, n.present, n.encrypted) for n in status.networks] == [
        ("insecure", True, False), ("secure", True, True)]
    assert [p.node for p in status.peers] == ["node1"]  # node3 runs no task
    peer = status.peers[0]
    e = status.epoch
    assert [(s.direction, s.epoch, s.installed) for s in peer.sas] == [
        ("in", e - 1, True), ("in", e, True), ("in", e + 1, True), ("out", e, True)]
    assert "HEALTHY" in render_status_text(status)


def test_a_missing_peer_sa_and_drift_make_it_degraded() -> None:
    config, desired = seed()
    outbound = next(s for s in states(desired) if s.src == IPv4Address("192.0.2.2"))
    live = KernelState(o for o in desired if o.key != outbound.key)
    status = build_status(config, "node2", AT, desired, Observed(live), Health({}, {}, SYSCTLS_OK))
    assert (status.exit_code, status.verdict) == (1, "DEGRADED")
    assert status.problems[0] == "drift: 1 change(s) needed to match the configuration"
    assert f"outbound SA of epoch {status.epoch} (spi {outbound.spi:#010x}) is not installed" in \
        status.problems[1]
    doc = json.loads(render_status_json(status))
    assert doc["healthy"] is False and doc["drift"]["count"] == 1
    assert doc["drift"]["changes"] == [f"+ xfrm-state {outbound.dst} esp {outbound.spi:#010x}"]
    assert "DEGRADED" in render_status_text(status) and "NOT INSTALLED" in render_status_text(status)


def test_mtu_and_entry_counts_are_desired_versus_live() -> None:
    config, desired = seed()
    vx = next(o for o in desired if isinstance(o, Vxlan) and o.alias.endswith(":insecure"))
    smaller = Vxlan(**{**{f: getattr(vx, f) for f in vx.__slots__}, "mtu": 1300})
    live = KernelState(smaller if o.key == vx.key else o for o in desired if o.kind != "neigh")
    status = build_status(config, "node2", AT, desired, Observed(live), Health({}, {}, SYSCTLS_OK))
    insecure = status.networks[0]
    assert insecure.mtu is not None and (insecure.mtu.desired, insecure.mtu.live) == (vx.mtu, 1300)
    assert insecure.neigh.desired > 0 and insecure.neigh.live == 0
    assert not status.healthy


def test_a_fail_open_sysctl_makes_it_critical() -> None:
    config, desired = seed()
    values = {**SYSCTLS_OK, "net.ipv4.conf.eth0.disable_xfrm": "1"}
    live = Observed(KernelState(desired))
    status = build_status(config, "node2", AT, desired, live, Health({}, {}, values))
    assert status.problems == ("fail open: net.ipv4.conf.eth0.disable_xfrm = 1 (must be 0)",)
    assert (status.exit_code, status.verdict) == (2, "CRITICAL")


def test_counters_are_judged_only_when_they_grow_between_two_readings() -> None:
    config, desired = seed()
    live = Observed(KernelState(desired))
    once = build_status(config, "node2", AT, desired, live, Health({"XfrmInNoStates": 5}, {}, SYSCTLS_OK))
    assert once.healthy and once.xfrm_stat == {"XfrmInNoStates": 5}
    grown = build_status(config, "node2", AT, desired, live,
                         Health({"XfrmInNoStates": 5, "XfrmInPolBlock": 2}, {}, SYSCTLS_OK),
                         Health({"XfrmInNoStates": 8, "XfrmInPolBlock": 2}, {}, SYSCTLS_OK))
    assert grown.problems == ("errors growing: XfrmInNoStates +3",)


def test_growing_sa_drop_counters_are_named_per_peer() -> None:
    config, desired = seed()
    sa = next(s for s in states(desired) if s.dst == IPv4Address("192.0.2.2"))
    before = SaCounters(100, 10, 0, 0, 1, 0, 10, True)
    after = SaCounters(200, 20, 0, 0, 4, 0, 20, True)
    status = build_status(config, "node2", AT, desired, Observed(KernelState(desired)),
                          Health({}, {sa.key: before}, SYSCTLS_OK), Health({}, {sa.key: after}, SYSCTLS_OK))
    assert len(status.problems) == 1 and f"spi {sa.spi:#010x} dropped 3 more" in status.problems[0]


def test_a_plain_node_has_no_epoch_and_no_sysctls_to_judge() -> None:
    config = load_config([EXAMPLES / "plain" / "overlay.yaml"]).config
    desired = compile_for(config, "host-a", at=AT)
    status = build_status(config, "host-a", AT, desired, Observed(KernelState(desired)), Health({}, {}))
    assert status.healthy and status.epoch is None and status.peers == ()
    assert json.loads(render_status_json(status))["next_rotation"] is None


def test_parse_xfrm_stat() -> None:
    text = "XfrmInError             \t0\nXfrmInNoStates          \t7\ngarbage\n"
    assert parse_xfrm_stat(text) == {"XfrmInError": 0, "XfrmInNoStates": 7}


@pytest.mark.parametrize("esn", [True, False])
def test_sa_counters_are_decoded_from_a_dump_entry(esn: bool) -> None:
    sa = XfrmState(src=IPv4Address("192.0.2.2"), dst=IPv4Address("192.0.2.1"), spi=0x1234, key_fp=None,
                   secret=bytes(20), esn=False, replay_window=32)
    body = bytearray(nx.encode_sa(sa))
    at = nx.SELECTOR.size + nx.XFRM_ID.size + 16 + nx.LIFETIME_CFG.size
    nx.LIFETIME_CUR.pack_into(body, at, 5000, 42, 0, 0)
    struct.pack_into("=III", body, at + nx.LIFETIME_CUR.size, 1, 2, 3)
    if esn:
        body += attr(nx.XFRMA_REPLAY_ESN_VAL, nx.REPLAY_ESN.pack(4, 7, 9, 1, 0, 128))
    else:
        body += attr(10, struct.pack("=III", 7, 9, 0))
    body += attr(XFRMA_LASTUSED, struct.pack("=Q", 1_800_000_000))
    key, c = decode_sa_counters(bytes(body))
    assert key == sa.key
    assert (c.bytes, c.packets, c.errors, c.last_used) == (5000, 42, 6, 1_800_000_000)
    if esn:
        assert (c.oseq, c.esn, c.headroom) == ((1 << 32) | 7, True, (1 << 64) - ((1 << 32) | 7))
    else:
        assert (c.oseq, c.seq, c.esn, c.headroom) == (7, 9, False, (1 << 32) - 7)


def test_a_foreign_object_in_the_way_is_reported_as_blocked() -> None:
    config, desired = seed()
    box = next(o for o in desired if isinstance(o, Sandbox))  # a namespace of that name, not ours
    live = Observed(KernelState(), foreign={box.key: "network namespace, not overlayc's"})
    status = build_status(config, "node2", AT, desired, live, Health({}, {}, SYSCTLS_OK))
    assert status.exit_code == 2 and status.drift == ()  # CRITICAL: no plan can be made
    assert "drift: unknown" in render_status_text(status) and "drift: 0" not in render_status_text(status)
    assert json.loads(render_status_json(status))["drift"]["count"] is None
    assert status.problems[0] == f"blocked: sandbox {box.name}: network namespace, not overlayc's"
    assert json.loads(render_status_json(status))["blocked"] == [status.problems[0].removeprefix("blocked: ")]


def test_the_text_has_one_line_per_network_and_colours_only_when_asked() -> None:
    config, desired = seed()
    vx = next(o for o in desired if isinstance(o, Vxlan) and o.alias.endswith(":insecure"))
    live = KernelState(o for o in desired if o.key != vx.key)
    status = build_status(config, "node2", AT, desired, Observed(live), Health({}, {}, SYSCTLS_OK))
    plain = render_status_text(status)
    lines = [ln for ln in plain.splitlines() if ln.startswith("  insecure ") or ln.startswith("  secure ")]
    assert len(lines) == 2 and "MISSING" in lines[0] and " ok " in lines[1]
    assert "\x1b[" not in plain
    coloured = render_status_text(status, colour=True)
    assert "\x1b[1;31mMISSING" in coloured and "\x1b[32mok" in coloured


def test_a_peer_dropped_as_replays_is_degraded_with_the_reason_and_restored_sas_are_shown() -> None:
    """Replay drops growing on an inbound SA mean the peer's counter went back (it re-created
    its SA without its saved counters) or a replay attack: named as such, apart from integrity
    failures. An SA created with restored counters says so (text and JSON)."""
    from overlayc.apply.counters import Counters, SavedSa

    config, desired = seed()
    epoch = epoch_of(AT, 43200)
    sa = next(s for s in states(desired) if s.dst == IPv4Address("192.0.2.2") and s.epoch == epoch)
    fp = "sha256:0123456789ab"
    sa = XfrmState(**{**{f: getattr(sa, f) for f in sa.__slots__}, "key_fp": fp})
    desired = KernelState(sa if o.key == sa.key else o for o in desired)
    restored = SavedSa(sa.src, sa.dst, sa.spi, fp, sa.epoch or 0, 0, 5000, restored=True)
    before = SaCounters(100, 10, 0, 0, 0, 0, 5000, True)
    after = SaCounters(200, 20, 2, 5, 1, 0, 5000, True)
    status = build_status(config, "node2", AT, desired, Observed(KernelState(desired)),
                          Health({}, {sa.key: before}, SYSCTLS_OK), Health({}, {sa.key: after}, SYSCTLS_OK),
                          counters=Counters({restored.id: restored}), continuity=("saved in /x",))
    assert status.problems == (
        f"peer node1: SA spi {sa.spi:#010x} dropped 7 more packet(s) as replays: node1's sequence "
        "counter went back (it re-created its SA without its saved counters: state directory lost "
        "or too old?) or someone replays captured packets",
        f"peer node1: SA spi {sa.spi:#010x} dropped 1 more packet(s) failing integrity: a wrong key, "
        "or a sequence number from node1 more than 2^32 away from the window (ESN)",
    )
    inbound = next(s for s in status.peers[0].sas if s.spi == sa.spi)
    assert inbound.restored and inbound.replay_growth == 7
    others = [s for s in status.peers[0].sas if s.spi != sa.spi]
    assert not any(s.restored for s in others)
    doc = json.loads(render_status_json(status))
    sas = {s["spi"]: s for s in doc["peers"][0]["sas"]}
    assert sas[f"{sa.spi:#010x}"]["restored"] is True and sas[f"{sa.spi:#010x}"]["replay_drops_growth"] == 7
    assert sas[f"{sa.spi:#010x}"]["counters"]["replay_drops"] == 5 and doc["counters"] == ["saved in /x"]
    text = render_status_text(status)
    assert "replays 7  counters restored" in text and "counters: saved in /x" in text
