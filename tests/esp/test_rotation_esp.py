"""Key rotation without coordination (DESIGN.md §4), driven by `apply` itself: with a short
rotation, traffic that runs across three epoch boundaries while each node applies the config
every few seconds loses no packet, and the SPIs carrying it change with every epoch.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from overlayc.compile.epoch import epoch_of
from tests.support.cluster import seed_workdir
from tests.support.counters import sa_packets
from tests.support.esp import SeedLab, seed_lab
from tests.support.traffic import UdpStream, ping

pytestmark = [pytest.mark.esp, pytest.mark.kernel, pytest.mark.slow]

# seconds: an epoch must hold a reconcile of every node, each ~1 s in the lab and up to ~5 s when
# the emulated guest shares a busy host (at 12 s a busy lab skipped an epoch between two rounds)
ROTATION = 20
BOUNDARIES = 3
PEERS = ("node1", "node2")


@pytest.fixture(scope="module")
def seed(request: pytest.FixtureRequest) -> SeedLab:
    return seed_lab(request)


def record(seen: dict[tuple[str, str, int], int], ns: str) -> None:
    """Remember the highest packet count seen on each SA (src, dst, spi) of `ns`."""
    for key, packets in sa_packets(ns).items():
        seen[key] = max(seen.get(key, 0), packets)


def now_epoch() -> int:
    return epoch_of(datetime.now(UTC), ROTATION)


def test_three_epoch_boundaries_under_continuous_traffic_lose_nothing_and_change_spis(
    seed: SeedLab, tmp_path: Path
) -> None:
    lab = seed.lab
    cfg = seed_workdir(lab, tmp_path / "rotation", rotation=f"{ROTATION}s")
    for node in PEERS:
        seed.apply(node, cfg)
    probe, web = seed.member("secure", "probe"), seed.member("secure", "web.1")
    assert ping(probe.netns, web.ip) == 1 and ping(web.netns, probe.ip) == 1  # neighbours resolved

    seen: dict[tuple[str, str, int], int] = {}
    applies = {n: 0 for n in PEERS}
    streams = [UdpStream(probe.netns, web.netns, web.ip, port=9091, interval=0.1).start(),
               UdpStream(web.netns, probe.netns, probe.ip, port=9092, interval=0.1).start()]
    first = now_epoch()
    try:
        while now_epoch() < first + BOUNDARIES or time.time() % ROTATION < ROTATION / 3:
            started = time.monotonic()
            for node in PEERS:  # each node reconciles on its own, as a timer would run it
                record(seen, lab.netns(node))  # before the apply that may delete an old SA
                seed.apply(node, cfg)
                applies[node] += 1
            time.sleep(max(0.0, ROTATION / 4 - (time.monotonic() - started)))  # every node each R/4 s
    finally:
        for s in streams:
            s.stop()
    for node in PEERS:
        record(seen, lab.netns(node))
    last = now_epoch()
    assert last - first >= BOUNDARIES
    for s in streams:
        assert s.kept_pace(), (s.sent, s.stopped - s.started)  # it ran the whole time
        assert s.lost() == [], f"{len(s.lost())} of {s.sent} datagrams lost: {s.lost()[:20]}"
    a1, a2 = str(lab.address("node1")), str(lab.address("node2"))
    for src, dst in ((a1, a2), (a2, a1)):
        used = sorted(spi for (s, d, spi), n in seen.items() if (s, d) == (src, dst) and n > 0)
        # one outbound SA per epoch: 4 epochs at least, each SPI carrying its epoch (mod 4)
        assert len(used) >= BOUNDARIES + 1, (src, dst, [hex(x) for x in used], applies)
        assert {spi & 3 for spi in used} == {0, 1, 2, 3}, [hex(x) for x in used]
