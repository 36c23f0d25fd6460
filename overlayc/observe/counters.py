"""Health counters of a namespace (read-only): /proc/net/xfrm_stat, per-SA counters, sysctls.

- `/proc/net/xfrm_stat` is per network namespace; it is read by the namespace handle's worker
  thread (`Namespace.run`). It exists only with CONFIG_XFRM_STATISTICS: absent → `{}`.
- Per SA, from the XFRM_MSG_GETSA dump (struct xfrm_usersa_info, linux/xfrm.h): `curlft`
  (bytes, packets, add_time, use_time), `stats` (replay_window, replay, integrity_failed: packets
  dropped), XFRMA_REPLAY_ESN_VAL (oseq/seq with their high halves, ESN SAs) or XFRMA_REPLAY_VAL
  (32-bit oseq/seq), and XFRMA_LASTUSED. Only the cluster's SAs (its reqids) are kept.
- The fail-closed sysctls (reference/xfrm-enforcement.md, "Caveats") of the node's underlay.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from pathlib import Path

from overlayc.kernel.health import Health, SaCounters
from overlayc.kernel.objects import IPAddress
from overlayc.kernel.ownership import Key
from overlayc.netlink import xfrm as nx
from overlayc.netlink.core import parse_attrs
from overlayc.netlink.netns import Namespace, NamespaceRef, opened
from overlayc.observe.addresses import underlay_device
from overlayc.observe.sysctl import fail_closed_sysctls, read_sysctls
from overlayc.observe.xfrm import sa_key

XFRM_STAT = Path("/proc/net/xfrm_stat")
XFRMA_REPLAY_VAL, XFRMA_LASTUSED = 10, 15
REPLAY_STATE = struct.Struct("=III")  # oseq seq bitmap
STATS = struct.Struct("=III")  # replay_window replay integrity_failed
_CURLFT_AT = nx.SELECTOR.size + nx.XFRM_ID.size + 16 + nx.LIFETIME_CFG.size
_STATS_AT = _CURLFT_AT + nx.LIFETIME_CUR.size


def parse_xfrm_stat(text: str) -> dict[str, int]:
    """`XfrmInError  0` lines → {"XfrmInError": 0, ...}; malformed lines are skipped."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def read_xfrm_stat(netns: NamespaceRef) -> dict[str, int]:
    """/proc/net/xfrm_stat of `netns` (a handle, or a name: None is the current namespace); {}
    when the kernel has none."""

    def read() -> dict[str, int]:
        try:
            return parse_xfrm_stat(XFRM_STAT.read_text())
        except OSError:
            return {}

    with opened(netns) as ns:
        return ns.run(read)


def decode_sa_counters(body: bytes | memoryview) -> tuple[Key, SaCounters]:
    """(key as XfrmState.key, counters) of one XFRM_MSG_NEWSA dump entry."""
    head = nx.decode_sa_header(body)
    nbytes, packets, _add, _use = nx.LIFETIME_CUR.unpack_from(body, _CURLFT_AT)
    window_drops, replay_drops, integrity = STATS.unpack_from(body, _STATS_AT)
    flags = nx.SA_TAIL.unpack_from(body, nx.SA_INFO_SIZE - nx.SA_TAIL.size)[5]
    attrs = parse_attrs(body, nx.SA_INFO_SIZE, len(body))
    esn_raw, plain_raw = attrs.get(nx.XFRMA_REPLAY_ESN_VAL), attrs.get(XFRMA_REPLAY_VAL)
    esn = bool(flags & nx.XFRM_STATE_ESN) or esn_raw is not None
    oseq = seq = 0
    if esn_raw is not None:
        _bmp, oseq_lo, seq_lo, oseq_hi, seq_hi, _win = nx.REPLAY_ESN.unpack_from(esn_raw, 0)
        oseq, seq = (oseq_hi << 32) | oseq_lo, (seq_hi << 32) | seq_lo
    elif plain_raw is not None:
        oseq, seq, _bitmap = REPLAY_STATE.unpack_from(plain_raw, 0)
    used = attrs.get(XFRMA_LASTUSED)
    last_used = struct.unpack_from("=Q", used, 0)[0] if used is not None and len(used) >= 8 else None
    counters = SaCounters(nbytes, packets, window_drops, replay_drops, integrity, oseq, seq, esn,
                          last_used or None)
    return sa_key(head.dst, head.spi), counters


def read_sa_counters(ns: Namespace, reqids: frozenset[int]) -> dict[Key, SaCounters]:
    """Counters of every ESP SA of namespace `ns` with one of `reqids` (a cluster's), by SA key."""
    out: dict[Key, SaCounters] = {}
    for msg in ns.xfrm.dump(nx.XFRM_MSG_GETSA, b""):
        if msg.type != nx.XFRM_MSG_NEWSA:
            continue
        head = nx.decode_sa_header(msg.body)
        if head.reqid in reqids and head.proto == nx.IPPROTO_ESP and head.family in nx.FAMILIES:
            key, counters = decode_sa_counters(msg.body)
            out[key] = counters
    return out


def read_health(netns: NamespaceRef, address: IPAddress, *, sysctls: bool,
                reqids: frozenset[int]) -> Health:
    """xfrm_stat, counters of the SAs with one of `reqids` and (with `sysctls`) the fail-closed
    sysctls of `netns` (a handle, or a name: None is the current namespace)."""
    with opened(netns) as ns:
        values: dict[str, str | None] = {}
        if sysctls:
            names = fail_closed_sysctls(underlay_device(ns, address), ipv6=address.version == 6)
            values = read_sysctls(ns, names)
        return Health(read_xfrm_stat(ns), read_sa_counters(ns, reqids), values)


def sample_health(netns: NamespaceRef, address: IPAddress, *, sysctls: bool, seconds: float,
                  reqids: frozenset[int], sleep: Callable[[float], None] = time.sleep
                  ) -> tuple[Health, Health | None]:
    """Two readings `seconds` apart (to see counters grow), or one when `seconds` <= 0; one
    namespace handle serves both."""
    with opened(netns) as ns:
        first = read_health(ns, address, sysctls=sysctls, reqids=reqids)
        if seconds <= 0:
            return first, None
        sleep(seconds)
        return first, read_health(ns, address, sysctls=sysctls, reqids=reqids)
