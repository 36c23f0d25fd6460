"""The FDB and neighbour dumps of observe, decoded straight into compact keys
(overlayc.kernel.entries): no tuple or object per entry, one pass over each recv() buffer.

`fdb_keys` and `neigh_macs` give the same entries as filtering `neigh.parse_neigh_dump` (the
general decoder, any attribute order) by what overlayc writes; a message laid out as the kernel
writes overlayc's entries is read in one or two `struct` unpacks, any other by the general
decoder.

Each also finds the end of its dump: it stops at the first NLMSG_DONE or NLMSG_ERROR message
and returns its offset, and says whether a message carried NLM_F_DUMP_INTR (`Scan`), so the
socket (`NetlinkSocket.dump_parsed`) needs no walk of its own over every header.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from overlayc.netlink.core import HDR, NLMSG_DONE, NLMSG_ERROR
from overlayc.netlink.neigh import (
    NDA_DST,
    NDA_LINK_NETNSID,
    NDA_LLADDR,
    NTF_SELF,
    NUD_PERMANENT,
    RTM_NEWNEIGH,
    parse_neigh_dump,
)

# Whole entries of the kernel's layouts in one unpack, each attribute header (len, type) read as
# one native u32 (`nla_word`): nlmsghdr (len, type), ndmsg (ifindex, state, flags), then the
# attributes. vxlan_fdb_info puts NDA_LLADDR then NDA_DST (a 4-byte dst for an IPv4 VTEP), after
# NDA_LINK_NETNSID when the vxlan's UDP socket is in another namespace (a vxlan in a sandbox:
# every entry of a 50k-entry dump so, kernel 6.1); neigh_fill_info puts NDA_DST then NDA_LLADDR
# (strace of `bridge -j fdb show` / `ip -j neigh show`, kernel 6.x).
_FDB_SANDBOXED = struct.Struct("=IHH8x4xiHBxI4xI6s2xI4s")
_FDB_PLAIN = struct.Struct("=IHH8x4xiHBxI6s2xI4s")
_NEIGH = struct.Struct("=IHH8x4xiHBxI4sI6s")
_END = (NLMSG_DONE, NLMSG_ERROR)
NLM_F_DUMP_INTR = 0x10  # the dump changed while it was read (nl_dump_check_consistent)

# (offset of the first NLMSG_DONE/NLMSG_ERROR or malformed message, -1: none in the buffer;
#  whether a message read carried NLM_F_DUMP_INTR)
Scan = tuple[int, bool]


def nla_word(length: int, kind: int) -> int:
    """An attribute header (len, type) as the u32 the structs above read it as."""
    return int(struct.unpack("=I", struct.pack("=HH", length, kind))[0])


# the attribute headers of a 4-byte netnsid, a 6-byte lladdr and a 4-byte dst, as those words
NETNSID_4, LLADDR_6, DST_4 = nla_word(8, NDA_LINK_NETNSID), nla_word(10, NDA_LLADDR), nla_word(8, NDA_DST)


def fdb_keys(buf: bytes, into: Mapping[int, set[bytes]], off: int = 0) -> Scan:
    """Add `mac + dst` of every permanent `self` FDB entry with a dst of 4 or 16 bytes in `buf`
    (one recv() buffer of an AF_BRIDGE dump), from offset `off` up to its end or its first
    NLMSG_DONE/NLMSG_ERROR (`Scan`), to the set of its device's ifindex in `into`; entries of
    devices without a set, learned or without a dst (the bridge's own) are not overlayc's: skipped."""
    sandboxed, plain = _FDB_SANDBOXED.unpack_from, _FDB_PLAIN.unpack_from
    big, small = _FDB_SANDBOXED.size, _FDB_PLAIN.size
    end, intr = len(buf), 0
    while off + 16 <= end:
        if off + big <= end:
            n, mtype, mflags, index, state, flags, a1, a2, mac, a3, dst = sandboxed(buf, off)
            if mtype == RTM_NEWNEIGH and n >= big and a1 == NETNSID_4 and a2 == LLADDR_6 and a3 == DST_4:
                intr |= mflags
                if state & NUD_PERMANENT and flags & NTF_SELF and (target := into.get(index)) is not None:
                    target.add(mac + dst)
                off += (n + 3) & ~3
                continue
        n, mtype, mflags = HDR.unpack_from(buf, off)[:3]
        intr |= mflags
        if n < 16 or mtype in _END:
            return off, bool(intr & NLM_F_DUMP_INTR)
        if mtype != RTM_NEWNEIGH:
            pass
        elif n >= small and off + small <= end and (got := plain(buf, off))[6] == LLADDR_6 \
                and got[8] == DST_4:
            if got[4] & NUD_PERMANENT and got[5] & NTF_SELF and (target := into.get(got[3])) is not None:
                target.add(got[7] + got[9])
        else:
            _general_fdb(buf[off:off + n], into)
        off += (n + 3) & ~3
    return -1, bool(intr & NLM_F_DUMP_INTR)


def _general_fdb(msg: bytes, into: Mapping[int, set[bytes]]) -> None:
    for index, state, flags, dst, mac in parse_neigh_dump(msg, into):
        if state & NUD_PERMANENT and flags & NTF_SELF and len(dst) in (4, 16) and len(mac) == 6:
            into[index].add(mac + dst)


def neigh_macs(buf: bytes, into: Mapping[int, dict[bytes, bytes]], off: int = 0) -> Scan:
    """Set `dst → mac` of every permanent neighbour with a 6-byte lladdr and a dst of 4 or 16
    bytes in `buf` (one recv() buffer of an AF_INET, AF_INET6 or AF_UNSPEC dump), from offset
    `off` up to its end or its first NLMSG_DONE/NLMSG_ERROR (`Scan`), in the dict of its device's
    ifindex in `into`; anything else (reachable, stale, failed entries) is skipped."""
    first, size = _NEIGH.unpack_from, _NEIGH.size
    end, intr = len(buf), 0
    while off + 16 <= end:
        if off + size <= end:
            n, mtype, mflags, index, state, _flags, a1, dst, a2, mac = first(buf, off)
            if mtype == RTM_NEWNEIGH and n >= size and a1 == DST_4 and a2 == LLADDR_6:
                intr |= mflags
                if state & NUD_PERMANENT and (target := into.get(index)) is not None:
                    target[dst] = mac
                off += (n + 3) & ~3
                continue
        n, mtype, mflags = HDR.unpack_from(buf, off)[:3]
        intr |= mflags
        if n < 16 or mtype in _END:
            return off, bool(intr & NLM_F_DUMP_INTR)
        if mtype == RTM_NEWNEIGH:
            _general_neigh(buf[off:off + n], into)
        off += (n + 3) & ~3
    return -1, bool(intr & NLM_F_DUMP_INTR)


def _general_neigh(msg: bytes, into: Mapping[int, dict[bytes, bytes]]) -> None:
    for index, state, _flags, dst, mac in parse_neigh_dump(msg, into):
        if state & NUD_PERMANENT and len(dst) in (4, 16) and len(mac) == 6:
            into[index][dst] = mac
