"""Health readings of a namespace as data (pure): per-SA counters and one reading of the
namespace's counters. `observe.counters` reads them from the kernel; `agent.status` judges them."""

from __future__ import annotations

from dataclasses import dataclass, field

from overlayc.kernel.ownership import Key


@dataclass(frozen=True, slots=True)
class SaCounters:
    """Counters of one SA. `oseq` is the last sequence number sent (64-bit with ESN)."""

    bytes: int
    packets: int
    replay_window_drops: int
    replay_drops: int
    integrity_failures: int
    oseq: int
    seq: int
    esn: bool
    last_used: int | None = None

    @property
    def errors(self) -> int:
        """Packets this SA dropped: outside the replay window, replayed, failed integrity."""
        return self.replay_window_drops + self.replay_drops + self.integrity_failures

    @property
    def headroom(self) -> int:
        """Sequence numbers left before the SA can send no more: 2^64 − oseq (ESN), else 2^32 − oseq."""
        return (1 << (64 if self.esn else 32)) - self.oseq


@dataclass(frozen=True)
class Health:
    """One reading of a namespace's counters (`sysctls` only read when asked for)."""

    xfrm_stat: dict[str, int]
    sa_counters: dict[Key, SaCounters]
    sysctls: dict[str, str | None] = field(default_factory=dict)
