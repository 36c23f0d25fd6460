"""Sequence continuity across restarts (DESIGN.md §4, "Counters survive restarts"): the counter
arithmetic and the state file's format. Pure: no clock, no kernel, no file system.

An SA of a pair and epoch is derived, not negotiated: re-created after a reboot it has the same
SPI and key. Its counters must not start again at 0:

- outbound, the peer's replay window still stands where our packets left it, so a counter that
  starts at 1 is dropped as a replay until it passes that point. A re-created outbound SA starts
  at `saved oseq + MARGIN`: past everything it can have sent if fewer than MARGIN packets went
  out between the last save and the loss;
- inbound, an empty window accepts once every packet an attacker captured earlier in the epoch.
  A re-created inbound SA starts with its window top at the saved top and the whole window
  marked as seen, so nothing at or below it is accepted again.

The jump a receiver tolerates (ESN, RFC 4303 appendix A2; linux `xfrm_replay_seqhi`): only the
low 32 bits travel, and a low half below the window's bottom is read as belonging to the next
2^32 block. A packet is therefore understood correctly as long as it is at most
2^32 − window ahead of the receiver's top; further, the receiver infers the wrong high half and
the packet fails its ICV check (XfrmInStateProtoError). MARGIN = 2^31 sits in the middle: it
covers 2^31 packets between two saves (at 1 Mpps, 35 minutes; saves happen every round and on
SIGTERM) and still tolerates a receiver whose top lags our last save by up to 2^31 − window.

Without any saved state (a reinstalled node) the counters of the current epoch's SAs are
unknown. The node then sends, until the epoch ends, on the NEXT epoch's SAs: every peer already
holds them (inbound e−1, e, e+1) and none has seen them used (`Fallback`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field, replace
from ipaddress import AddressValueError, ip_address
from typing import Any

from overlayc.kernel.health import SaCounters
from overlayc.kernel.objects import IPAddress, XfrmState
from overlayc.netlink.xfrm import ReplayStart

MARGIN = 1 << 31
SEQ_SPACE = 1 << 64  # ESN: 64-bit sequence numbers
FORMAT_VERSION = 1

SaId = tuple[IPAddress, IPAddress, int, str]
"""(src, dst, spi, key fingerprint): one SA with one key. A re-keyed SA is another SA."""


class CountersUnusable(ValueError):
    """The state file cannot be used; the message says why, in words."""


def max_jump(window: int) -> int:
    """The largest step ahead of a receiver's window top that ESN still reads correctly."""
    return (1 << 32) - window


def margin_fits(window: int, margin: int = MARGIN) -> bool:
    """Whether `margin` leaves room, inside `max_jump(window)`, for a receiver that lags behind."""
    return 0 < margin < max_jump(window)


@dataclass(frozen=True, slots=True)
class SavedSa:
    """Where one SA's counters stood: `oseq` the last sequence number it sent, `seq` the top of
    its replay window (64-bit values), `epoch` the epoch it belongs to. `restored`: this SA was
    created by overlayc with counters restored from an earlier save."""

    src: IPAddress
    dst: IPAddress
    spi: int
    key_fp: str
    epoch: int
    oseq: int = 0
    seq: int = 0
    restored: bool = False

    @property
    def id(self) -> SaId:
        return (self.src, self.dst, self.spi, self.key_fp)


@dataclass(frozen=True, slots=True)
class Fallback:
    """No counters were saved when the node had to create its SAs: during `epoch` (of `rotation`
    seconds, in `cluster`), it sends on the SAs of `epoch + 1`."""

    cluster: str
    rotation: int
    epoch: int


@dataclass(frozen=True)
class Counters:
    """The state file: every saved SA by id, and the fallback in force (if any)."""

    sas: Mapping[SaId, SavedSa] = field(default_factory=dict)
    fallback: Fallback | None = None

    def find(self, src: IPAddress, dst: IPAddress, spi: int, key_fp: str | None) -> SavedSa | None:
        """The saved counters of the SA with this identity and key (None when unknown)."""
        return None if key_fp is None else self.sas.get((src, dst, spi, key_fp))


# --- arithmetic ---------------------------------------------------------------------------------
def outbound_start(saved_oseq: int, margin: int = MARGIN) -> int:
    """The last sequence number to declare sent by a re-created outbound SA: the saved one plus
    `margin`. Raises CountersUnusable when that leaves the 64-bit space (the SA is spent)."""
    start = saved_oseq + margin
    if saved_oseq < 0 or start >= SEQ_SPACE:
        raise CountersUnusable(f"saved sequence number {saved_oseq:#x} leaves no room for a margin "
                               f"of {margin:#x} in 64 bits")
    return start


def replay_start(saved: SavedSa | None, local: IPAddress) -> ReplayStart | None:
    """Where a re-created SA's counters begin (None: at 0, nothing to restore).

    Outbound (`saved.src` is `local`): past everything it can have sent, `outbound_start`.
    Inbound: the window top at the saved top, every earlier packet marked as seen."""
    if saved is None:
        return None
    if saved.src == local:
        return ReplayStart(oseq=outbound_start(saved.oseq))
    if saved.seq == 0:
        return None
    return ReplayStart(seq=saved.seq, seen_below=True)


def merge(old: Counters | None, readings: Iterable[SavedSa], *, oldest_epoch: int,
          fallback: Fallback | None) -> Counters:
    """`old` updated with `readings`: per SA the higher of each counter (a counter never goes
    back, even if the kernel's did), `restored` kept once set. SAs of epochs before
    `oldest_epoch` can never be created again and are dropped; so are unknown SAs not read now."""
    sas: dict[SaId, SavedSa] = {}
    for sa in (old.sas.values() if old is not None else ()):
        if sa.epoch >= oldest_epoch:
            sas[sa.id] = sa
    for sa in readings:
        prev = sas.get(sa.id)
        if prev is not None:
            sa = replace(sa, oseq=max(sa.oseq, prev.oseq), seq=max(sa.seq, prev.seq),
                         restored=sa.restored or prev.restored)
        sas[sa.id] = sa
    return Counters(sas, fallback)


def send_epoch(counters: Counters | None, *, cluster: str, rotation: int, epoch: int,
               outbound_live: bool) -> int:
    """The epoch whose SAs the node sends on at `epoch`.

    `epoch` normally. `epoch + 1` when a fallback for this very epoch is recorded, or when no
    counters are known at all (`counters` None: never saved, or the file was lost or unusable)
    and the kernel does not hold every outbound SA of `epoch` (`outbound_live` False): creating
    them again would start their counters at 0."""
    if counters is None:
        return epoch if outbound_live else epoch + 1
    fb = counters.fallback
    if fb is not None and (fb.cluster, fb.rotation, fb.epoch) == (cluster, rotation, epoch):
        return epoch + 1
    return epoch


# --- the file -----------------------------------------------------------------------------------
def dumps(counters: Counters, cluster: str) -> bytes:
    """The state file's bytes (JSON, sorted, no key material: fingerprints only)."""
    fb = counters.fallback
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION, "cluster": cluster,
        "fallback": None if fb is None else {"cluster": fb.cluster, "rotation": fb.rotation,
                                             "epoch": fb.epoch},
        "sas": [{"src": str(s.src), "dst": str(s.dst), "spi": f"{s.spi:#010x}", "key_fp": s.key_fp,
                 "epoch": s.epoch, "oseq": s.oseq, "seq": s.seq, "restored": s.restored}
                for s in sorted(counters.sas.values(), key=lambda s: (str(s.src), str(s.dst), s.spi))],
    }
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def _int(value: Any, what: str, bits: int = 64) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise CountersUnusable(f"{what}: {value!r} is not an integer in 0..2^{bits}-1")
    return value


_SA_FIELDS = ("src", "dst", "spi", "key_fp", "epoch", "oseq", "seq")


def _saved_sa(raw: Any, n: int) -> SavedSa:
    where = f"sas[{n}]"
    if not isinstance(raw, dict):
        raise CountersUnusable(f"{where}: not an object")
    missing = [name for name in _SA_FIELDS if name not in raw]
    if missing:
        raise CountersUnusable(f"{where}: missing field {', '.join(map(repr, missing))}")
    try:
        spi = raw["spi"]
        if not isinstance(spi, str):
            raise CountersUnusable(f"{where}.spi: {spi!r} is not a hexadecimal string")
        return SavedSa(
            src=ip_address(raw["src"]), dst=ip_address(raw["dst"]),
            spi=_int(int(spi, 16), f"{where}.spi", 32),
            key_fp=str(raw["key_fp"]), epoch=_int(raw["epoch"], f"{where}.epoch", 63),
            oseq=_int(raw["oseq"], f"{where}.oseq"), seq=_int(raw["seq"], f"{where}.seq"),
            restored=bool(raw.get("restored", False)),
        )
    except (AddressValueError, ValueError) as err:
        if isinstance(err, CountersUnusable):
            raise
        raise CountersUnusable(f"{where}: {err}") from None


def _fallback(raw: Any) -> Fallback | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("cluster"), str):
        raise CountersUnusable("fallback: not an object with cluster, rotation and epoch")
    return Fallback(raw["cluster"], _int(raw.get("rotation"), "fallback.rotation", 63),
                    _int(raw.get("epoch"), "fallback.epoch", 63))


def loads(data: bytes) -> Counters:
    """Parse the state file; CountersUnusable says what is wrong (never a partial result)."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CountersUnusable(f"not JSON: {err}") from None
    if not isinstance(doc, dict):
        raise CountersUnusable("not a JSON object")
    if doc.get("format_version") != FORMAT_VERSION:
        raise CountersUnusable(f"format_version {doc.get('format_version')!r}, expected {FORMAT_VERSION}")
    raw_sas = doc.get("sas")
    if not isinstance(raw_sas, list):
        raise CountersUnusable("sas: not a list")
    sas = [_saved_sa(raw, n) for n, raw in enumerate(raw_sas)]
    return Counters({s.id: s for s in sas}, _fallback(doc.get("fallback")))


# --- what the kernel holds, as saved counters ---------------------------------------------------
def readings(desired: Iterable[XfrmState], live: Iterable[tuple[XfrmState, SaCounters]],
             restored: Set[SaId] = frozenset()) -> list[SavedSa]:
    """The counters to save: every desired SA the kernel holds with the desired key, at its
    kernel counters, and every desired SA it does not hold (yet) at 0 — recorded BEFORE it is
    created, so that a crash between its creation and the next save still finds it known (its
    outbound counter is then restored at 0 + MARGIN). `restored`: SAs created with restored
    counters. SAs whose epoch or key is unknown (a CI compile) are left out."""
    want = {sa.key: sa for sa in desired if sa.epoch is not None and sa.key_fp is not None}
    out: list[SavedSa] = []
    for sa, counters in live:
        d = want.get(sa.key)
        if d is None or d.epoch is None or d.key_fp is None or d.key_fp != sa.key_fp:
            continue  # not desired, or another key: another SA (the desired one is registered below)
        del want[sa.key]
        saved = SavedSa(sa.src, sa.dst, sa.spi, d.key_fp, d.epoch, counters.oseq, counters.seq)
        out.append(replace(saved, restored=saved.id in restored))
    for d in want.values():
        if d.epoch is not None and d.key_fp is not None:
            out.append(SavedSa(d.src, d.dst, d.spi, d.key_fp, d.epoch))
    return out
