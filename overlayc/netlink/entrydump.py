"""The FDB and neighbour dumps of observe, decoded straight into compact keys
(overlayc.kernel.entries): no tuple or object per entry, one pass over each recv() buffer.

`fdb_keys` and `neigh_macs` give the same entries as filtering `neigh.parse_neigh_dump` (the
general decoder, any attribute order) by what overlayc writes; a message laid out as the kernel
writes overlayc's entries is read in one or two `struct` unpacks, any other by the general
decoder. Layouts: overlayc.netlink.neigh (`_FDB_FIRST`, `_FDB_NETNS_FIRST`, `_NEIGH_FIRST`).
"""

from __future__ import annotations

from collections.abc import Mapping

from overlayc.netlink.core import HDR
from overlayc.netlink.neigh import (
    _FDB_FIRST,
    _FDB_NETNS_FIRST,
    _NEIGH_FIRST,
    NDA_DST,
    NDA_LINK_NETNSID,
    NDA_LLADDR,
    NTF_SELF,
    NUD_PERMANENT,
    RTM_NEWNEIGH,
    parse_neigh_dump,
)


def fdb_keys(buf: bytes, into: Mapping[int, set[bytes]]) -> None:
    """Add `mac + dst` of every permanent `self` FDB entry with a dst of 4 or 16 bytes in `buf`
    (one recv() buffer of an AF_BRIDGE dump) to the set of its device's ifindex in `into`;
    entries of devices without a set, learned or without a dst (the default entry) are not
    overlayc's: skipped."""
    hdr, plain, netns = HDR.unpack_from, _FDB_FIRST.unpack_from, _FDB_NETNS_FIRST.unpack_from
    plain_size, netns_size = _FDB_FIRST.size, _FDB_NETNS_FIRST.size
    off, end = 0, len(buf)
    while off + 16 <= end:
        n, mtype = hdr(buf, off)[:2]
        if n < 16:
            break
        if mtype != RTM_NEWNEIGH:
            pass
        elif n < plain_size or off + plain_size > end:
            _general_fdb(buf[off:off + n], into)
        elif (target := into.get((got := plain(buf, off))[2])) is None:
            pass  # not a device of ours
        elif got[5:7] == (10, NDA_LLADDR) and got[8:10] == (8, NDA_DST):
            if got[3] & NUD_PERMANENT and got[4] & NTF_SELF:
                target.add(got[7] + got[10])
        elif got[5:7] == (8, NDA_LINK_NETNSID) and n >= netns_size and off + netns_size <= end \
                and (ns := netns(buf, off))[7:9] == (10, NDA_LLADDR) and ns[10:12] == (8, NDA_DST):
            if ns[3] & NUD_PERMANENT and ns[4] & NTF_SELF:
                target.add(ns[9] + ns[12])
        else:
            _general_fdb(buf[off:off + n], into)
        off += (n + 3) & ~3


def _general_fdb(msg: bytes, into: Mapping[int, set[bytes]]) -> None:
    for index, state, flags, dst, mac in parse_neigh_dump(msg, into):
        if state & NUD_PERMANENT and flags & NTF_SELF and len(dst) in (4, 16) and len(mac) == 6:
            into[index].add(mac + dst)


def neigh_macs(buf: bytes, into: Mapping[int, dict[bytes, bytes]]) -> None:
    """Set `dst → mac` of every permanent neighbour with a 6-byte lladdr and a dst of 4 or 16
    bytes in `buf` (one recv() buffer of an AF_INET or AF_INET6 dump) in the dict of its
    device's ifindex in `into`; anything else (reachable, stale, failed entries) is skipped."""
    hdr, first, size = HDR.unpack_from, _NEIGH_FIRST.unpack_from, _NEIGH_FIRST.size
    off, end = 0, len(buf)
    while off + 16 <= end:
        n, mtype = hdr(buf, off)[:2]
        if n < 16:
            break
        if mtype != RTM_NEWNEIGH:
            pass
        elif n < size or off + size > end:
            _general_neigh(buf[off:off + n], into)
        elif (target := into.get((got := first(buf, off))[2])) is None:
            pass  # not a device of ours
        elif got[5:7] == (8, NDA_DST) and got[8:10] == (10, NDA_LLADDR):
            if got[3] & NUD_PERMANENT:
                target[got[7]] = got[10]
        else:
            _general_neigh(buf[off:off + n], into)
        off += (n + 3) & ~3


def _general_neigh(msg: bytes, into: Mapping[int, dict[bytes, bytes]]) -> None:
    for index, state, _flags, dst, mac in parse_neigh_dump(msg, into):
        if state & NUD_PERMANENT and len(dst) in (4, 16) and len(mac) == 6:
            into[index][dst] = mac
