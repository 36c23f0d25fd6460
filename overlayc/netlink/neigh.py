"""RTM_*NEIGH codec for overlayc's FDB (`AF_BRIDGE`, `self permanent`, with `dst`) and neighbour
(`AF_INET`, `permanent`) entries on vxlan devices, and a fast dump parser.

Layouts from /usr/include/linux/neighbour.h (struct ndmsg, NDA_*). The dump parser walks the
socket bytes with struct and builds no per-entry message objects: it is the hot path of observe.
"""

from __future__ import annotations

import struct
from collections.abc import Container, Iterator

from overlayc.kernel.objects import IPAddress
from overlayc.netlink.core import HDR, align4, attr

RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
AF_UNSPEC, AF_INET, AF_BRIDGE, AF_INET6 = 0, 2, 7, 10
NDA_DST, NDA_LLADDR = 1, 2
NTF_SELF = 0x02
NUD_NOARP, NUD_PERMANENT = 0x40, 0x80
# `bridge fdb replace ... permanent` sends ndm_state NUD_NOARP|NUD_PERMANENT (strace of
# iproute2 6.x); `ip neigh replace ... nud permanent` sends NUD_PERMANENT alone. We send the same.
FDB_STATE = NUD_NOARP | NUD_PERMANENT
NDMSG = struct.Struct("=B3xiHBB")  # family, ifindex, state, flags, type


# Whole bodies in one pack (hot path: tens of thousands per apply): ndmsg, then
# NDA_LLADDR (4 + 6 bytes, padded to 12) and NDA_DST (4 + 4 bytes), as `bridge`/`ip` send them.
FDB_BODY = struct.Struct("=B3xiHBBHH6s2xHH4s")
FDB6_BODY = struct.Struct("=B3xiHBBHH6s2xHH16s")  # the same with an IPv6 dst (NDA_DST 4 + 16)
NEIGH_BODY = struct.Struct("=B3xiHBBHH4sHH6s2x")
NEIGH_DEL_BODY = struct.Struct("=B3xiHBBHH4s")
# The same bodies behind their nlmsghdr (len, type, flags, seq, pid): a whole request in one pack.
FDB_MSG = struct.Struct("=IHHII" + FDB_BODY.format[1:])
NEIGH_MSG = struct.Struct("=IHHII" + NEIGH_BODY.format[1:])


def _mac(lladdr: str) -> bytes:
    return bytes.fromhex(lladdr.replace(":", ""))


def encode_fdb(ifindex: int, lladdr: str, dst: IPAddress) -> bytes:
    """Body of `bridge fdb replace LLADDR dev IFINDEX dst DST self permanent`; the kernel tells
    an IPv6 dst by the length of NDA_DST (vxlan_nla_get_addr)."""
    packed = dst.packed
    if len(packed) == 16:
        return FDB6_BODY.pack(AF_BRIDGE, ifindex, FDB_STATE, NTF_SELF, 0,
                              10, NDA_LLADDR, _mac(lladdr), 20, NDA_DST, packed)
    return FDB_BODY.pack(AF_BRIDGE, ifindex, FDB_STATE, NTF_SELF, 0,
                         10, NDA_LLADDR, _mac(lladdr), 8, NDA_DST, packed)


def encode_neigh(ifindex: int, dst: IPAddress, lladdr: str | None = None) -> bytes:
    """Body of `ip neigh replace DST lladdr LLADDR dev IFINDEX nud permanent` (no lladdr: delete);
    an IPv6 `dst` makes an NDP entry (AF_INET6, 16-byte NDA_DST)."""
    if dst.version == 6:
        body = NDMSG.pack(AF_INET6, ifindex, NUD_PERMANENT, 0, 0) + attr(NDA_DST, dst.packed)
        return body if lladdr is None else body + attr(NDA_LLADDR, _mac(lladdr))
    if lladdr is None:
        return NEIGH_DEL_BODY.pack(AF_INET, ifindex, NUD_PERMANENT, 0, 0, 8, NDA_DST, dst.packed)
    return NEIGH_BODY.pack(AF_INET, ifindex, NUD_PERMANENT, 0, 0,
                           8, NDA_DST, dst.packed, 10, NDA_LLADDR, _mac(lladdr))


def encode_dump(family: int) -> bytes:
    """Body of an RTM_GETNEIGH dump request for one family."""
    return NDMSG.pack(family, 0, 0, 0, 0)


Entry = tuple[int, int, int, bytes, bytes]  # ifindex, state, flags, dst (raw), lladdr (raw)


_NLA = struct.Struct("=HH")


def _dst_lladdr(buf: bytes, a: int, stop: int) -> tuple[bytes, bytes]:
    """NDA_DST and NDA_LLADDR of the attributes in buf[a:stop] (empty bytes when absent)."""
    nla = _NLA.unpack_from
    dst = lladdr = b""
    while a + 4 <= stop:
        alen, atype = nla(buf, a)
        if alen < 4:
            break
        if atype == NDA_DST:
            dst = buf[a + 4 : a + alen]
        elif atype == NDA_LLADDR:
            lladdr = buf[a + 4 : a + alen]
        a += (alen + 3) & ~3
    return dst, lladdr


def parse_neigh_dump(buf: bytes, ifindexes: Container[int]) -> Iterator[Entry]:
    """Entries of one recv() buffer of an RTM_GETNEIGH dump whose device is in `ifindexes`: the
    general decoder (any attribute order; overlayc.netlink.entrydump reads the kernel's own
    layouts faster, same result).

    Entries lacking NDA_DST or NDA_LLADDR get empty bytes for the missing one."""
    hdr_unpack, nd_unpack = HDR.unpack_from, NDMSG.unpack_from
    off, end = 0, len(buf)
    while off + 16 <= end:
        n, mtype = hdr_unpack(buf, off)[:2]
        if n < 16:
            break
        if mtype == RTM_NEWNEIGH:
            _fam, ifindex, state, flags, _t = nd_unpack(buf, off + 16)
            if ifindex in ifindexes:
                yield (ifindex, state, flags, *_dst_lladdr(buf, off + 28, off + n))
        off += align4(n)


NDA_LINK_NETNSID = 10


def mac_str(raw: bytes) -> str:
    """Canonical lower-case MAC of 6 raw bytes."""
    return raw.hex(":")
