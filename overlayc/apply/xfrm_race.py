"""SA deletes that meet the kernel growing its SA hash tables.

linux net/xfrm/xfrm_state.c (6.1): XFRM_MSG_DELSA finds an ESP SA with `xfrm_state_lookup()`,
which walks the by-SPI hash chain under `rcu_read_lock()` alone. When a namespace's SA count
first passes its table size (8, 16, 32 … buckets; `__xfrm_state_insert` → `xfrm_hash_grow_check`),
`xfrm_hash_resize()` runs on a workqueue and moves every SA onto new chains
(`xfrm_hash_transfer`, `hlist_add_head_rcu`) while such lookups go on; `state_hmask` and the table
pointer are not read together either. A lookup in that window can miss an SA that is there, and
the delete fails with ESRCH. Seen in the ESP lab: the first apply that held 8 SAs in a namespace
(a rotation change: 4 new SAs made, then the 4 old ones deleted) had one delete refused, and the
rollback then found that SA still in place.

The dump is not affected (`xfrm_state_walk` follows the namespace's list of every SA, under the
state lock): an SA it lists exists. So a DELSA refused with ESRCH is sent again, after a short
pause, while the dump still lists its SA; one the dump does not list is left refused (it was
removed behind overlayc's back, and the caller says so).
"""

from __future__ import annotations

import errno
import time
from collections.abc import Iterator, Sequence
from typing import Protocol

from overlayc.netlink import xfrm as nx
from overlayc.netlink.core import Message
from overlayc.netlink.sock import Request

RETRIES = 3
PAUSE = 0.05  # s, growing with each retry: a resize moves a few thousand SAs in microseconds

SaId = tuple[bytes, int, int]  # daddr (16 bytes, as sent), spi (as sent), proto


class XfrmSocket(Protocol):
    """What the retry needs of the XFRM socket (NetlinkSocket; a fake in tests)."""

    def transact(self, requests: Sequence[Request]) -> list[tuple[int, str]]: ...

    def dump(self, msg_type: int, body: bytes) -> Iterator[Message]: ...


def _requested(body: bytes) -> SaId:
    daddr, spi, _family, proto = nx.USERSA_ID.unpack_from(body)
    return daddr, spi, proto


def _listed(sock: XfrmSocket) -> set[SaId]:
    return {nx.XFRM_ID.unpack_from(msg.body, nx.SELECTOR.size)
            for msg in sock.dump(nx.XFRM_MSG_GETSA, b"") if msg.type == nx.XFRM_MSG_NEWSA}


def transact_xfrm(sock: XfrmSocket, requests: Sequence[Request], retries: int = RETRIES,
                  pause: float = PAUSE) -> list[tuple[int, str]]:
    """`sock.transact(requests)`, with every SA delete that ESRCH refused while the SA is still
    listed sent again (up to `retries` times). Results per request, in order."""
    results = sock.transact(requests)
    missed = [n for n, (err, _) in enumerate(results)
              if err == errno.ESRCH and requests[n][0] == nx.XFRM_MSG_DELSA]
    for attempt in range(retries):
        if not missed:
            break
        time.sleep(pause * (attempt + 1))
        listed = _listed(sock)
        missed = [n for n in missed if _requested(requests[n][2]) in listed]
        if not missed:
            break
        again = sock.transact([requests[n] for n in missed])
        for n, result in zip(missed, again, strict=True):
            results[n] = result
        missed = [n for n, (err, _) in zip(missed, again, strict=True) if err == errno.ESRCH]
    return results
