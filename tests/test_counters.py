"""Counters that survive restarts (DESIGN.md §4): the arithmetic at the ESN boundaries, the state
file (round trip, corrupt or missing → a clear message and the fallback), and the encoding of
XFRMA_REPLAY_ESN_VAL with restored counters. Pure, no kernel."""

from __future__ import annotations

import json
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from overlayc.apply.continuity import FILE_NAME, CounterKeeper, Loaded, counters_path, load_counters
from overlayc.apply.counters import (
    MARGIN,
    SEQ_SPACE,
    Counters,
    CountersUnusable,
    Fallback,
    SavedSa,
    dumps,
    loads,
    margin_fits,
    max_jump,
    merge,
    outbound_start,
    readings,
    replay_start,
    send_epoch,
)
from overlayc.kernel.health import SaCounters
from overlayc.kernel.objects import XfrmState, fingerprint
from overlayc.kernel.state import KernelState
from overlayc.kernel.xfrm_marks import LEGACY_REQID, marks_of, owned_reqids
from overlayc.netlink import xfrm as nx
from overlayc.netlink.core import Message, parse_attrs

A, B = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
E = 40910
FP = "sha256:0123456789ab"


def saved(src: IPv4Address = A, dst: IPv4Address = B, *, spi: int = 0x1000, epoch: int = E, oseq: int = 0,
          seq: int = 0, key_fp: str = FP, restored: bool = False) -> SavedSa:
    return SavedSa(src, dst, spi, key_fp, epoch, oseq, seq, restored)


def receiver_reads(top: int, window: int, low: int) -> int:
    """What a receiver whose window top is `top` makes of a packet carrying the low 32 bits `low`:
    linux net/xfrm/xfrm_replay.c, xfrm_replay_seqhi(), both cases."""
    seq_lo, seq_hi = top & 0xFFFFFFFF, top >> 32
    bottom = (seq_lo - window + 1) & 0xFFFFFFFF
    if seq_lo >= window - 1:  # A: the window lies in one 2^32 block
        hi = seq_hi + 1 if low < bottom else seq_hi
    else:  # B: the window spans two blocks
        hi = seq_hi - 1 if low >= bottom else seq_hi
    return (hi << 32) | low


# --- the margin and the ESN jump ---------------------------------------------------------------
@pytest.mark.parametrize("window", [32, 64, 128, 1024, 4096])
def test_the_margin_fits_inside_the_jump_esn_tolerates(window: int) -> None:
    assert max_jump(window) == 2**32 - window
    assert margin_fits(window)
    assert max_jump(window) - MARGIN >= 2**31 - window  # room for a receiver that lags behind
    assert not margin_fits(window, 2**32 - window)  # a margin at the limit would leave none


@pytest.mark.parametrize(
    ("receiver_top", "saved_oseq"),
    [
        (0, 0),                          # never sent: the peer's window is empty
        (20_000, 20_000),                # the lab's case: 20,000 datagrams, then a reboot
        (2**32 - 200, 2**32 - 200),      # just below the first 2^32 boundary
        (2**32 - 1, 2**32 - 1),          # at it
        (2**32, 2**32),                  # just past it: seq_hi = 1
        (2**32 + 5, 2**32 + 5),
        (3 * 2**32 - 10, 3 * 2**32 - 10),
        (2**40, 2**40 - 2**30),          # the receiver ran 2^30 ahead of our last save
        (2**40 - 2**31 + 200, 2**40),    # the receiver lags our save by almost 2^31
    ],
)
def test_a_restored_sender_is_read_right_by_the_receiver_at_the_esn_boundaries(
    receiver_top: int, saved_oseq: int
) -> None:
    """The first packets after a restore are read as what they are (and are new to the
    receiver) wherever its window stands within the tolerated range; each moves its top on."""
    window, top = 128, receiver_top
    start = replay_start(saved(A, B, oseq=saved_oseq), A)
    assert start is not None and start.oseq == saved_oseq + MARGIN and start.seq == 0
    for sent in (start.oseq + 1, start.oseq + 2, start.oseq + 1000):
        assert sent > top, "not past everything sent"
        assert receiver_reads(top, window, sent & 0xFFFFFFFF) == sent, hex(sent)
        top = sent


def test_without_the_margin_the_receiver_drops_a_restarted_sender() -> None:
    """The bug this fixes: a counter restarted at 1 is below the window, read as the next 2^32
    block (so it fails its ICV: XfrmInStateProtoError) — never as a new packet."""
    top = 20_000
    assert receiver_reads(top, 128, 1) == 2**32 + 1


def test_a_jump_beyond_the_limit_would_be_misread() -> None:
    top, window = 10_000, 128
    too_far = top + max_jump(window) + 1
    assert receiver_reads(top, window, too_far & 0xFFFFFFFF) != too_far


def test_outbound_start_refuses_to_leave_the_64_bit_space() -> None:
    assert outbound_start(SEQ_SPACE - MARGIN - 1) == SEQ_SPACE - 1
    with pytest.raises(CountersUnusable, match="no room for a margin"):
        outbound_start(SEQ_SPACE - MARGIN)


def test_inbound_restores_the_window_top_with_everything_below_seen() -> None:
    start = replay_start(saved(B, A, seq=2**32 + 77), A)
    assert start == nx.ReplayStart(seq=2**32 + 77, seen_below=True)
    assert replay_start(saved(B, A, seq=0), A) is None  # an unused window has nothing to protect
    assert replay_start(None, A) is None


# --- merging readings into what is saved -------------------------------------------------------
def test_merge_keeps_the_highest_counters_and_the_restored_mark() -> None:
    old = Counters({s.id: s for s in [saved(oseq=500, restored=True), saved(B, A, spi=0x2000, seq=90)]})
    new = merge(old, [saved(oseq=400), saved(B, A, spi=0x2000, seq=120)], oldest_epoch=E - 1, fallback=None)
    assert new.sas[saved().id].oseq == 500 and new.sas[saved().id].restored  # never goes back
    assert new.sas[saved(B, A, spi=0x2000).id].seq == 120


def test_merge_drops_epochs_that_cannot_come_back_and_keeps_sas_missing_now() -> None:
    """An SA flushed since the last save is not read now: its entry must stay (that is when it
    is needed); an SA of an epoch before e−1 can never be created again: it goes."""
    flushed, old_epoch = saved(oseq=7000), saved(spi=0x2004, epoch=E - 2, oseq=9)
    new = merge(Counters({s.id: s for s in (flushed, old_epoch)}), [], oldest_epoch=E - 1, fallback=None)
    assert list(new.sas) == [flushed.id]


def test_saved_values_from_an_older_epoch_or_another_key_are_not_restored() -> None:
    """Same SPI (e ≡ e' mod 4) but another epoch means another key: its counters say nothing."""
    older = saved(epoch=E - 4, oseq=123_456)
    counters = Counters({older.id: older})
    assert counters.find(A, B, older.spi, "sha256:ffffffffffff") is None
    assert counters.find(A, B, older.spi, None) is None  # key unknown (a CI compile)
    assert counters.find(A, B, older.spi, FP) == older


def sa(src: IPv4Address, dst: IPv4Address, spi: int, epoch: int, fp: str = FP) -> XfrmState:
    return XfrmState(src=src, dst=dst, spi=spi, key_fp=fp, epoch=epoch)


def counters_of(oseq: int = 0, seq: int = 0) -> SaCounters:
    return SaCounters(0, 0, 0, 0, 0, oseq, seq, True)


def test_readings_take_live_counters_and_register_desired_sas_before_they_exist() -> None:
    out_sa, in_sa, rekeyed = sa(A, B, 0x1000, E), sa(B, A, 0x2000, E), sa(B, A, 0x3001, E + 1)
    live = [(replace(out_sa, epoch=None), counters_of(oseq=42)),
            (replace(rekeyed, key_fp="sha256:other", epoch=None), counters_of(seq=9))]
    got = {s.spi: s for s in readings([out_sa, in_sa, rekeyed], live, {saved(spi=0x1000).id})}
    assert (got[0x1000].oseq, got[0x1000].restored, got[0x1000].epoch) == (42, True, E)
    assert (got[0x2000].oseq, got[0x2000].seq) == (0, 0)  # not in the kernel yet: known at 0
    assert got[0x3001].seq == 0, "a live SA with another key is another SA"


# --- the fallback without saved state ----------------------------------------------------------
@pytest.mark.parametrize(
    ("counters", "outbound_live", "expected"),
    [
        (None, False, E + 1),      # state lost and SAs gone: the next epoch's SAs, unused
        (None, True, E),           # state lost, SAs still there: read them, no need
        (Counters(), False, E),    # state known: restore, stay on e
        (Counters({}, Fallback("c", 43200, E)), True, E + 1),   # fallback recorded for e: keep it
        (Counters({}, Fallback("c", 43200, E - 1)), True, E),   # an old one: over
        (Counters({}, Fallback("c", 12, E)), True, E),          # another rotation: not this one
        (Counters({}, Fallback("other", 43200, E)), True, E),   # another cluster
    ],
)
def test_send_epoch(counters: Counters | None, outbound_live: bool, expected: int) -> None:
    assert send_epoch(counters, cluster="c", rotation=43200, epoch=E, outbound_live=outbound_live) == expected


# --- the file ----------------------------------------------------------------------------------
def test_the_file_round_trips_and_holds_no_key_material() -> None:
    counters = Counters({s.id: s for s in [saved(oseq=2**40 + 3, restored=True), saved(B, A, seq=17)]},
                        Fallback("c", 43200, E))
    data = dumps(counters, "c")
    assert loads(data) == counters
    doc = json.loads(data)
    assert doc["format_version"] == 1 and doc["fallback"] == {"cluster": "c", "rotation": 43200, "epoch": E}
    assert {k for entry in doc["sas"] for k in entry} == {
        "src", "dst", "spi", "key_fp", "epoch", "oseq", "seq", "restored"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not JSON"),
        (b"{\"format_version\": 1, \"sas\": [", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not a JSON object"),
        (b"{\"format_version\": 99, \"sas\": []}", "format_version 99, expected 1"),
        (b"{\"format_version\": 1}", "sas: not a list"),
        (b"{\"format_version\": 1, \"sas\": [1]}", r"sas\[0\]: not an object"),
        (b"{\"format_version\": 1, \"sas\": [{\"src\": \"192.0.2.1\"}]}", r"sas\[0\]: missing field 'dst'"),
    ],
)
def test_a_corrupt_file_is_refused_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(CountersUnusable, match=message):
        loads(data)


def test_values_out_of_range_are_refused() -> None:
    good = json.loads(dumps(Counters({saved().id: saved()}), "c"))
    for field, value, message in (("oseq", 2**64, "oseq"), ("oseq", -1, "oseq"), ("seq", "7", "seq"),
                                  ("spi", "0x1ffffffff", "spi"), ("src", "999.1.1.1", "sas"),
                                  ("epoch", True, "epoch")):
        doc = json.loads(json.dumps(good))
        doc["sas"][0][field] = value
        with pytest.raises(CountersUnusable, match=message):
            loads(json.dumps(doc).encode())


def test_a_missing_or_corrupt_file_loads_as_nothing_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    missing = load_counters(path)
    assert missing.counters is None and missing.problem is not None
    assert "no saved counters" in missing.problem and str(path) in missing.problem
    path.write_text("{garbage")
    corrupt = load_counters(path)
    assert corrupt.counters is None and corrupt.problem is not None
    assert "saved counters unusable (not JSON" in corrupt.problem and "ignored" in corrupt.problem
    link = tmp_path / "link.json"
    link.symlink_to(path)
    assert "symbolic link" in (load_counters(link).problem or "")


class _NoSas:
    """A socket whose namespace holds no SA."""

    def dump(self, msg_type: int, body: bytes) -> Iterator[Message]:
        return iter(())


def test_the_keeper_saves_atomically_with_mode_0600_under_the_state_directory(tmp_path: Path) -> None:
    path = counters_path("node7", tmp_path / "state", create=True)
    assert path == tmp_path / "state" / "netns-node7" / FILE_NAME
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    keeper = CounterKeeper(load_counters(path), "c", A, E - 1, None)
    keeper.record(KernelState(
        [sa(A, B, 0x1000, E)]), _NoSas())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert loads(path.read_bytes()).sas[saved().id].oseq == 0
    assert [p.name for p in path.parent.iterdir()] == [FILE_NAME]  # no temporary file left


def test_a_failed_save_is_a_note_not_an_error(tmp_path: Path) -> None:
    directory = tmp_path / "gone"
    keeper = CounterKeeper(Loaded(directory / FILE_NAME, None, "x"), "c", A, E - 1, None)
    keeper.record(KernelState(), _NoSas())
    assert keeper.notes and "could not save the SA counters" in keeper.notes[0]


def test_the_keeper_restores_only_what_it_loaded_and_remembers_it(tmp_path: Path) -> None:
    known = saved(oseq=20_000)
    keeper = CounterKeeper(Loaded(tmp_path / FILE_NAME, Counters({known.id: known})), "c", A, E - 1, None)
    assert keeper.start_of(sa(A, B, 0x1000, E)) == nx.ReplayStart(oseq=20_000 + MARGIN)
    assert keeper.start_of(sa(A, B, 0x1004, E + 1)) is None  # a new SA starts at 0
    assert keeper.restored == {known.id}


class _LegacySa:
    """A namespace holding one SA with the legacy reqid, its counters at (oseq, seq)."""

    def __init__(self, state: XfrmState, oseq: int, seq: int) -> None:
        self.body = nx.encode_sa(state, start=nx.ReplayStart(oseq=oseq, seq=seq))

    def dump(self, msg_type: int, body: bytes) -> Iterator[Message]:
        if msg_type == nx.XFRM_MSG_GETSA:
            yield Message(nx.XFRM_MSG_NEWSA, 2, 1, self.body)


def test_an_sa_replaced_for_its_clusters_reqid_continues_from_its_live_counters(tmp_path: Path) -> None:
    """The upgrade from the legacy reqid replaces every SA (the kernel cannot change a reqid in
    place): with no saved file, the counters read just before the change are where it starts."""
    secret = bytes(range(20))
    legacy = XfrmState(src=A, dst=B, spi=0x1000, key_fp=fingerprint(secret), reqid=LEGACY_REQID,
                       secret=secret, epoch=E)
    ours = replace(legacy, reqid=marks_of("c").reqid)
    keeper = CounterKeeper(Loaded(tmp_path / FILE_NAME, None, "none"), "c", A, E - 1, None,
                           owned_reqids("c"))
    assert keeper.start_of(ours) is None  # nothing known before the kernel is read
    keeper.record(KernelState([ours]), _LegacySa(legacy, 70_000, 0))
    assert keeper.start_of(ours) == nx.ReplayStart(oseq=70_000 + MARGIN)


# --- XFRMA_REPLAY_ESN_VAL ----------------------------------------------------------------------
def esn_attr(body: bytes) -> bytes:
    return bytes(parse_attrs(body, nx.SA_INFO_SIZE, len(body))[nx.XFRMA_REPLAY_ESN_VAL])


def test_encode_sa_without_a_start_is_iproute2s_24_bytes() -> None:
    state = XfrmState(src=A, dst=B, spi=0x1000, key_fp=None, secret=bytes(20))
    assert esn_attr(nx.encode_sa(state)) == nx.REPLAY_ESN.pack(4, 0, 0, 0, 0, 128)


def test_encode_sa_with_restored_counters_splits_them_into_their_halves() -> None:
    state = XfrmState(src=A, dst=B, spi=0x1000, key_fp=None, secret=bytes(20))
    out = esn_attr(nx.encode_sa(state, start=nx.ReplayStart(oseq=(5 << 32) | 7)))
    assert out == nx.REPLAY_ESN.pack(4, 7, 0, 5, 0, 128)
    inbound = esn_attr(nx.encode_sa(state, start=nx.ReplayStart(seq=(1 << 32) | 3, seen_below=True)))
    assert inbound[: nx.REPLAY_ESN.size] == nx.REPLAY_ESN.pack(4, 0, 3, 0, 1, 128)
    assert struct.unpack("=4I", inbound[nx.REPLAY_ESN.size :]) == (0xFFFFFFFF,) * 4  # bmp[]: all seen


def test_counters_cannot_be_restored_on_a_non_esn_sa() -> None:
    state = XfrmState(src=A, dst=B, spi=0x1000, key_fp=None, secret=bytes(20), esn=False, replay_window=32)
    with pytest.raises(ValueError, match="ESN"):
        nx.encode_sa(state, start=nx.ReplayStart(oseq=1))
    with pytest.raises(ValueError, match="64-bit"):
        nx.ReplayStart(oseq=SEQ_SPACE)


def test_a_state_directory_that_cannot_be_made_is_a_note_and_the_fallback(tmp_path: Path) -> None:
    """A planted symbolic link (or a read-only /var/lib) must not take the network down: the
    counters are treated as lost, the apply says why and sends on the next epoch's SAs."""
    from datetime import UTC, datetime

    from overlayc.apply.continuity import keep_counters
    from tests.support.builders import seed_example

    config, desired = seed_example()
    root = tmp_path / "state"
    root.mkdir()
    (root / "netns-n2").symlink_to(tmp_path)
    at = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
    shifted, keeper = keep_counters(config, at, IPv4Address("192.0.2.2"), ("n2", root), desired,
                                    KernelState(), lambda send: KernelState([sa(B, A, 0x1000, send)]))
    assert keeper is not None and "symbolic link" in keeper.notes[0] and "cannot be kept" in keeper.notes[0]
    assert [o.epoch for o in shifted if isinstance(o, XfrmState)] == [at.timestamp() // 43200 + 1]
    assert "sending on the SAs of epoch" in keeper.notes[1]


def test_counters_that_did_not_move_are_not_written_again(tmp_path: Path) -> None:
    path = counters_path(None, tmp_path, create=True)
    desired = KernelState([sa(A, B, 0x1000, E)])
    first = CounterKeeper(load_counters(path), "c", A, E - 1, None)
    first.record(desired, _NoSas())
    stamp = os.stat(path).st_mtime_ns, os.stat(path).st_ino
    again = CounterKeeper(load_counters(path), "c", A, E - 1, None)
    again.record(desired, _NoSas())
    again.record(desired, _NoSas())
    assert (os.stat(path).st_mtime_ns, os.stat(path).st_ino) == stamp  # not replaced
    moved = CounterKeeper(load_counters(path), "c", A, E - 1, None)
    moved.record(KernelState([sa(A, B, 0x1000, E), sa(B, A, 0x2000, E)]), _NoSas())
    assert os.stat(path).st_ino != stamp[1] and len(loads(path.read_bytes()).sas) == 2


class _Holding:
    """A namespace holding `sas` with their (oseq, seq) counters."""

    def __init__(self, sas: dict[XfrmState, tuple[int, int]]) -> None:
        self.bodies = [nx.encode_sa(s, start=nx.ReplayStart(oseq=o, seq=q)) for s, (o, q) in sas.items()]

    def dump(self, msg_type: int, body: bytes) -> Iterator[Message]:
        if msg_type == nx.XFRM_MSG_GETSA:
            for b in self.bodies:
                yield Message(nx.XFRM_MSG_NEWSA, 2, 1, b)


def test_a_rolled_back_apply_leaves_the_file_describing_the_prior_sas(tmp_path: Path) -> None:
    """A change of rotation period renumbers the epochs: the apply's own save drops every SA of
    the old numbering and the fallback in force. Rolled back, the kernel holds those SAs again,
    and so must the file: else the next apply would start the fallback's SA over at 0."""
    secret = bytes(range(20))
    old = XfrmState(src=A, dst=B, spi=0x1003, key_fp=fingerprint(secret), reqid=marks_of("c").reqid,
                    secret=secret, epoch=E + 1)
    fallback = Fallback("c", 43200, E)
    prior = saved(spi=0x1003, epoch=E + 1, oseq=500, key_fp=old.key_fp or "")
    path = tmp_path / FILE_NAME
    path.write_bytes(dumps(Counters({prior.id: prior}, fallback), "c"))
    new_epoch = E * 3600
    keeper = CounterKeeper(load_counters(path), "c", A, new_epoch - 1, None, owned_reqids("c"))
    keeper.record(KernelState([sa(A, B, 0x2000, new_epoch)]), _Holding({old: (700, 0)}))
    after_record = loads(path.read_bytes())
    assert after_record.fallback is None and prior.id not in after_record.sas  # what went wrong before

    keeper.undo(_Holding({old: (900, 0)}))  # the rollback put the kernel back; it sent on
    undone = loads(path.read_bytes())
    assert undone.fallback == fallback
    assert undone.sas[prior.id].oseq == 900 and undone.sas[prior.id].epoch == E + 1
    assert saved(spi=0x2000, epoch=new_epoch).id in undone.sas  # made, maybe used, then removed
