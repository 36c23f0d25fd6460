"""Netlink framing: `nlmsghdr`, attributes (`nlattr`), NLMSG_ERROR with extended ACK.

Layouts from /usr/include/linux/netlink.h. All integers are host byte order (little endian on
every platform overlayc runs on) except where a kernel header says `__be*`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100  # in NLMSG_ERROR: the original request is not echoed
NLM_F_ACK_TLVS = 0x200  # in NLMSG_ERROR: extended ACK attributes follow

NLMSGERR_ATTR_MSG = 1  # extack: a NUL-terminated message string

NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF

SOL_NETLINK = 270
NETLINK_EXT_ACK = 11
NETLINK_CAP_ACK = 10

HDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
NLA = struct.Struct("=HH")


def align4(n: int) -> int:
    """NLMSG_ALIGN / NLA_ALIGN."""
    return (n + 3) & ~3


def pack_msg(msg_type: int, flags: int, seq: int, body: bytes) -> bytes:
    """One netlink message; `body` is the family header plus its attributes (already aligned)."""
    return HDR.pack(HDR.size + len(body), msg_type, flags, seq, 0) + body


def attr(nla_type: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes (the padding is not counted in nla_len)."""
    n = NLA.size + len(payload)
    return NLA.pack(n, nla_type) + payload + b"\0" * (align4(n) - n)


def attr_u32(nla_type: int, value: int) -> bytes:
    return attr(nla_type, struct.pack("=I", value))


def attr_str(nla_type: int, value: str) -> bytes:
    return attr(nla_type, value.encode() + b"\0")


def iter_attrs(buf: bytes | memoryview, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(type without flags, payload offset, payload length) for each attribute in buf[start:end]."""
    unpack = NLA.unpack_from
    end = min(end, len(buf))  # a truncated message must not make us read past the buffer
    while start + 4 <= end:
        n, t = unpack(buf, start)
        if n < 4:
            break
        yield t & NLA_TYPE_MASK, start + 4, n - 4
        start += align4(n)


def parse_attrs(buf: bytes | memoryview, start: int, end: int) -> dict[int, bytes]:
    """Attributes of buf[start:end] as {type: payload} (the last one wins on repeats)."""
    return {t: bytes(buf[o : o + n]) for t, o, n in iter_attrs(buf, start, end)}


@dataclass(frozen=True, slots=True)
class Message:
    """One received message: header fields and the body (family header + attributes)."""

    type: int
    flags: int
    seq: int
    body: bytes


def split_msgs(data: bytes) -> Iterator[Message]:
    """Messages of one recv() buffer."""
    off = 0
    while off + HDR.size <= len(data):
        n, t, f, seq, _pid = HDR.unpack_from(data, off)
        if n < HDR.size:
            break
        yield Message(t, f, seq, data[off + HDR.size : off + n])
        off += align4(n)


def parse_error(msg: Message) -> tuple[int, str]:
    """(errno, extack message or '') of an NLMSG_ERROR; errno 0 is an ACK.

    The body is `int error` then the original request header (and its payload unless
    NLM_F_CAPPED), then extack TLVs when NLM_F_ACK_TLVS is set (netlink.h, struct nlmsgerr)."""
    (err,) = struct.unpack_from("=i", msg.body, 0)
    text = ""
    if msg.flags & NLM_F_ACK_TLVS:
        orig_len = HDR.unpack_from(msg.body, 4)[0]
        off = 4 + (HDR.size if msg.flags & NLM_F_CAPPED else align4(orig_len))
        raw = parse_attrs(msg.body, off, len(msg.body)).get(NLMSGERR_ATTR_MSG)
        if raw:
            text = raw.rstrip(b"\0").decode(errors="replace")
    return -err, text
