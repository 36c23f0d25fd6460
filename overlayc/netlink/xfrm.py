"""XFRM netlink codec (NETLINK_XFRM = 6): SAs and policies as overlayc's objects ⇄ bytes.

Layouts from /usr/include/linux/xfrm.h. The encoders produce what iproute2 6.x sends for the same
`ip xfrm state|policy add` (captured with strace, see tests/data/xfrm-*.json): lifetimes with the
byte and packet limits at XFRM_INF and the time limits at 0 (= none), ESN through
XFRMA_REPLAY_ESN_VAL with the window there and `replay_window = 0` in xfrm_usersa_info, and
algorithm masks ~0 in every template.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_network

from overlayc.kernel.objects import IPAddress, IPNetwork, XfrmPolicy, XfrmState, XfrmTemplate, fingerprint
from overlayc.netlink.core import attr, parse_attrs

NETLINK_XFRM = 6
XFRM_MSG_NEWSA, XFRM_MSG_DELSA, XFRM_MSG_GETSA = 0x10, 0x11, 0x12
XFRM_MSG_NEWPOLICY, XFRM_MSG_DELPOLICY, XFRM_MSG_GETPOLICY = 0x13, 0x14, 0x15
XFRM_MSG_UPDPOLICY, XFRM_MSG_UPDSA = 0x19, 0x1A
XFRMA_TMPL, XFRMA_SRCADDR, XFRMA_ALG_AEAD, XFRMA_MARK, XFRMA_REPLAY_ESN_VAL = 5, 13, 18, 21, 23
XFRMA_POLICY_TYPE, XFRM_POLICY_TYPE_MAIN = 16, 0
XFRM_STATE_ESN = 128
XFRM_POLICY_ALLOW, XFRM_POLICY_BLOCK = 0, 1
XFRM_POLICY_IN, XFRM_POLICY_OUT = 0, 1
XFRM_MODE_TRANSPORT = 0
IPPROTO_ESP = 50
XFRM_INF = 0xFFFFFFFFFFFFFFFF
AF_INET, AF_INET6 = 2, 10
FAMILIES = (AF_INET, AF_INET6)  # of the SAs overlayc makes (its node addresses)

_DIRS = {"in": XFRM_POLICY_IN, "out": XFRM_POLICY_OUT}
_DIR_NAMES = {v: k for k, v in _DIRS.items()}
_ACTIONS = {"allow": XFRM_POLICY_ALLOW, "block": XFRM_POLICY_BLOCK}
_ACTION_NAMES = {v: k for k, v in _ACTIONS.items()}

# struct xfrm_selector: daddr, saddr, dport, dport_mask, sport, sport_mask (__be16), family,
# prefixlen_d, prefixlen_s, proto, ifindex, user
SELECTOR = struct.Struct("=16s16sHHHHHBBB3xiI")
XFRM_ID = struct.Struct("=16sIB3x")  # daddr, spi (__be32), proto
LIFETIME_CFG = struct.Struct("=8Q")
LIFETIME_CUR = struct.Struct("=4Q")
# xfrm_usersa_info tail after sel/id/saddr/lft/curlft: stats(12) seq reqid family mode window flags
SA_TAIL = struct.Struct("=12xIIHBBB7x")
SA_INFO_SIZE = SELECTOR.size + XFRM_ID.size + 16 + LIFETIME_CFG.size + LIFETIME_CUR.size + SA_TAIL.size
POLICY_TAIL = struct.Struct("=IIBBBB4x")  # priority index dir action flags share (+pad to 168)
POLICY_INFO_SIZE = SELECTOR.size + LIFETIME_CFG.size + LIFETIME_CUR.size + POLICY_TAIL.size
TMPL = struct.Struct("=24sH2x16sIBBBxIII")  # id family saddr reqid mode share optional aalgos ealgos calgos
USERSA_ID = struct.Struct("=16sIHBx")  # daddr spi(__be32) family proto
USERPOLICY_ID = struct.Struct(f"={SELECTOR.size}sIB3x")  # sel index dir
ALGO_AEAD = struct.Struct("=64sII")  # alg_name, alg_key_len (bits), alg_icv_len (bits)
REPLAY_ESN = struct.Struct("=IIIIII")  # bmp_len oseq seq oseq_hi seq_hi replay_window
MARK = struct.Struct("=II")

# iproute2 (xfrm_state.c): byte/packet limits infinite, expiry times 0 = never.
INFINITE_LIFETIME = LIFETIME_CFG.pack(XFRM_INF, XFRM_INF, XFRM_INF, XFRM_INF, 0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class ReplayStart:
    """Where a new ESN SA's counters start (XFRMA_REPLAY_ESN_VAL at creation), 64-bit values:
    `oseq` the last sequence number sent (the next packet carries oseq + 1), `seq` the top of the
    inbound replay window. `seen_below` marks the whole window below `seq` as already received
    (bitmap all ones), so a replay of any earlier packet is refused, not only those below it."""

    oseq: int = 0
    seq: int = 0
    seen_below: bool = False

    def __post_init__(self) -> None:
        for name, value in (("oseq", self.oseq), ("seq", self.seq)):
            if not 0 <= value < 1 << 64:
                raise ValueError(f"replay start {name} {value} is not a 64-bit sequence number")


@dataclass(frozen=True, slots=True)
class Mark:
    """XFRMA_MARK: (value, mask). Optional on SAs and policies; overlayc does not set one."""

    value: int
    mask: int = 0xFFFFFFFF


def _addr(a: IPAddress) -> bytes:
    """xfrm_address_t: an IPv4 address fills its first 4 bytes, an IPv6 address all 16."""
    packed = a.packed
    return packed + b"\0" * (16 - len(packed))


def family_of(a: IPAddress) -> int:
    """AF_INET or AF_INET6: the family field that goes with `a` in SAs, selectors and templates."""
    return AF_INET6 if a.version == 6 else AF_INET


def _unaddr(raw: bytes, family: int = AF_INET) -> IPAddress:
    return IPv6Address(raw[:16]) if family == AF_INET6 else IPv4Address(raw[:4])


def pack_selector(src: IPNetwork, dst: IPNetwork, proto: int = 0, dport: int = 0) -> bytes:
    """A selector of the family of `dst` (`src` must match); a `dport` of 0 means any port
    (mask 0), as iproute2 does."""
    if src.version != dst.version:
        raise ValueError(f"selector {src} -> {dst} mixes address families")
    return SELECTOR.pack(
        _addr(dst.network_address), _addr(src.network_address),
        socket.htons(dport), 0xFFFF if dport else 0, 0, 0,
        family_of(dst.network_address), dst.prefixlen, src.prefixlen, proto, 0, 0,
    )


def unpack_selector(raw: bytes | memoryview, off: int = 0) -> tuple[IPNetwork, IPNetwork, int, int]:
    """(src, dst, proto, dport) of a selector, of its family (IPv4 unless AF_INET6)."""
    d, s, dport, _dm, _sp, _sm, fam, pd, ps, proto, _ifi, _user = SELECTOR.unpack_from(raw, off)
    return (
        ip_network((_unaddr(s, fam), ps), strict=False),
        ip_network((_unaddr(d, fam), pd), strict=False),
        proto,
        socket.ntohs(dport),
    )


def encode_replay_esn(window: int, start: ReplayStart | None = None) -> bytes:
    """struct xfrm_replay_state_esn for a new SA: counters at 0 (iproute2's form, 24 bytes, the
    kernel zeroes the bitmap), or at `start` (with the bmp[] words when `seen_below`)."""
    bmp_len = (window + 31) // 32
    if start is None:
        return REPLAY_ESN.pack(bmp_len, 0, 0, 0, 0, window)
    head = REPLAY_ESN.pack(bmp_len, start.oseq & 0xFFFFFFFF, start.seq & 0xFFFFFFFF,
                           start.oseq >> 32, start.seq >> 32, window)
    if not start.seen_below:
        return head
    return head + struct.pack(f"={bmp_len}I", *([0xFFFFFFFF] * bmp_len))


def encode_sa(sa: XfrmState, mark: Mark | None = None, start: ReplayStart | None = None) -> bytes:
    """Body of XFRM_MSG_NEWSA / UPDSA for `sa`; its `secret` must be known (ValueError otherwise).
    `start`: where its counters begin (ESN SAs only; None: at 0)."""
    if sa.secret is None:
        raise ValueError(f"SA spi {sa.spi:#x} to {sa.dst}: key material unknown (no private key)")
    if len(sa.secret) * 8 != sa.key_bits:
        raise ValueError(f"SA spi {sa.spi:#x}: secret has {len(sa.secret) * 8} bits, not {sa.key_bits}")
    flags = XFRM_STATE_ESN if sa.esn else 0
    window = 0 if sa.esn else min(sa.replay_window, 255)
    body = (
        b"\0" * SELECTOR.size  # sel: any (iproute2 leaves it zero for transport SAs)
        + XFRM_ID.pack(_addr(sa.dst), socket.htonl(sa.spi), IPPROTO_ESP)
        + _addr(sa.src)
        + INFINITE_LIFETIME
        + b"\0" * LIFETIME_CUR.size
        + SA_TAIL.pack(0, sa.reqid, family_of(sa.dst), XFRM_MODE_TRANSPORT, window, flags)
    )
    aead = ALGO_AEAD.pack(sa.algo.encode(), sa.key_bits, sa.icv_bits) + sa.secret
    body += attr(XFRMA_ALG_AEAD, aead)
    if sa.esn:
        body += attr(XFRMA_REPLAY_ESN_VAL, encode_replay_esn(sa.replay_window, start))
    elif start is not None:
        raise ValueError(f"SA spi {sa.spi:#x}: counters can only be restored on an ESN SA")
    if mark is not None:
        body += attr(XFRMA_MARK, MARK.pack(mark.value, mark.mask))
    return body


def encode_sa_id(dst: IPAddress, spi: int, src: IPAddress | None = None) -> bytes:
    """Body of XFRM_MSG_DELSA / GETSA for the ESP SA (dst, spi); iproute2 adds XFRMA_SRCADDR."""
    body = USERSA_ID.pack(_addr(dst), socket.htonl(spi), family_of(dst), IPPROTO_ESP)
    return body if src is None else body + attr(XFRMA_SRCADDR, _addr(src))


@dataclass(frozen=True, slots=True)
class SaHeader:
    """The identity fields of any SA in a dump: enough to tell ours from foreign ones."""

    src: IPAddress
    dst: IPAddress
    spi: int
    proto: int
    reqid: int
    family: int


def decode_sa_header(body: bytes | memoryview) -> SaHeader:
    off = SELECTOR.size
    daddr, spi, proto = XFRM_ID.unpack_from(body, off)
    off += XFRM_ID.size
    saddr = bytes(body[off : off + 16])
    off += 16 + LIFETIME_CFG.size + LIFETIME_CUR.size
    _seq, reqid, family, _mode, _win, _flags = SA_TAIL.unpack_from(body, off)
    return SaHeader(_unaddr(saddr, family), _unaddr(daddr, family), socket.ntohl(spi), proto, reqid, family)


def decode_sa(body: bytes | memoryview) -> XfrmState:
    """An XFRM_MSG_NEWSA body (request or dump entry) → XfrmState with `secret` and `key_fp` set.

    Raises ValueError for SAs overlayc cannot represent (not ESP/IPv4 or IPv6/transport/AEAD)."""
    head = decode_sa_header(body)
    off = SA_INFO_SIZE - SA_TAIL.size
    _seq, _reqid, _family, mode, window, flags = SA_TAIL.unpack_from(body, off)
    if head.proto != IPPROTO_ESP or head.family not in (AF_INET, AF_INET6) or mode != XFRM_MODE_TRANSPORT:
        raise ValueError(f"SA spi {head.spi:#x}: not an IPv4 or IPv6 ESP transport SA")
    attrs = parse_attrs(body, SA_INFO_SIZE, len(body))
    aead = attrs.get(XFRMA_ALG_AEAD)
    if aead is None:
        raise ValueError(f"SA spi {head.spi:#x}: no AEAD algorithm")
    name, key_bits, icv_bits = ALGO_AEAD.unpack_from(aead, 0)
    secret = aead[ALGO_AEAD.size : ALGO_AEAD.size + (key_bits + 7) // 8]
    esn_raw = attrs.get(XFRMA_REPLAY_ESN_VAL)
    esn = bool(flags & XFRM_STATE_ESN)
    if esn_raw is not None:
        window = REPLAY_ESN.unpack_from(esn_raw, 0)[5]
    return XfrmState(
        src=head.src, dst=head.dst, spi=head.spi, key_fp=fingerprint(secret), reqid=head.reqid,
        algo=name.rstrip(b"\0").decode(), key_bits=key_bits, icv_bits=icv_bits,
        replay_window=window, esn=esn, secret=secret,
    )


def encode_policy(pol: XfrmPolicy, mark: Mark | None = None) -> bytes:
    """Body of XFRM_MSG_NEWPOLICY / UPDPOLICY for `pol`."""
    body = (
        pack_selector(pol.src, pol.dst, pol.proto, pol.dport)
        + INFINITE_LIFETIME
        + b"\0" * LIFETIME_CUR.size
        + POLICY_TAIL.pack(pol.priority, 0, _DIRS[pol.dir], _ACTIONS[pol.action], 0, 0)
    )
    if pol.tmpl is not None:
        body += attr(XFRMA_TMPL, encode_tmpl(pol.tmpl))
    if mark is not None:
        body += attr(XFRMA_MARK, MARK.pack(mark.value, mark.mask))
    return body


def encode_tmpl(t: XfrmTemplate) -> bytes:
    """struct xfrm_user_tmpl for an ESP transport template with any SPI (0) and all algorithms."""
    xid = XFRM_ID.pack(_addr(t.dst), 0, IPPROTO_ESP)
    return TMPL.pack(xid, family_of(t.dst), _addr(t.src), t.reqid, XFRM_MODE_TRANSPORT, 0, 0,
                     0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)


def decode_tmpl(raw: bytes) -> XfrmTemplate:
    xid, fam, saddr, reqid, mode, _sh, _opt, _a, _e, _c = TMPL.unpack_from(raw, 0)
    daddr, _spi, proto = XFRM_ID.unpack_from(xid, 0)
    if proto != IPPROTO_ESP or mode != XFRM_MODE_TRANSPORT:
        raise ValueError("template is not ESP transport")
    return XfrmTemplate(src=_unaddr(saddr, fam), dst=_unaddr(daddr, fam), reqid=reqid)


def decode_policy_key(body: bytes | memoryview) -> tuple[str, IPNetwork, IPNetwork, int, int, int]:
    """(dir, src, dst, proto, dport, priority) of any policy body: enough to classify it."""
    src, dst, proto, dport = unpack_selector(body, 0)
    off = SELECTOR.size + LIFETIME_CFG.size + LIFETIME_CUR.size
    priority, _index, direction, _action, _flags, _share = POLICY_TAIL.unpack_from(body, off)
    return _DIR_NAMES.get(direction, str(direction)), src, dst, proto, dport, priority


def _policy_extras(body: bytes | memoryview, attrs: dict[int, bytes], flags: int) -> str:
    """What a policy body holds beyond overlayc's policy shape (empty when nothing): a source
    port, a partial port mask, an interface or user in the selector, flags, any attribute but
    one template (a mark, an if_id, a security context...; the kernel dumps those only when
    set). Such a policy is never overlayc's, whatever its priority and template."""
    sel = SELECTOR.unpack_from(body, 0)
    dport, dport_mask, sport, sport_mask, ifindex, user = *sel[2:6], *sel[10:12]
    found = []
    if sport or sport_mask:
        found.append("a source port")
    if dport_mask not in (0, 0xFFFF) or (dport == 0) != (dport_mask == 0):
        found.append("a partial port mask")
    if ifindex or user:
        found.append("an interface or user in its selector")
    if flags:
        found.append(f"flags {flags:#x}")
    others = sorted(set(attrs) - {XFRMA_TMPL, XFRMA_POLICY_TYPE})
    if others:
        found.append("attributes " + ", ".join(str(a) for a in others))
    raw_type = attrs.get(XFRMA_POLICY_TYPE)
    if raw_type is not None and raw_type[:1] != bytes([XFRM_POLICY_TYPE_MAIN]):
        found.append("a sub-policy type")
    raw_tmpl = attrs.get(XFRMA_TMPL)
    if raw_tmpl is not None and len(raw_tmpl) != TMPL.size:
        found.append(f"{len(raw_tmpl) // TMPL.size} templates")
    return ", ".join(found)


def decode_policy(body: bytes | memoryview) -> XfrmPolicy:
    """An XFRM_MSG_NEWPOLICY body → XfrmPolicy (first template only; overlayc sets at most one)."""
    src, dst, proto, dport = unpack_selector(body, 0)
    off = SELECTOR.size + LIFETIME_CFG.size + LIFETIME_CUR.size
    priority, _index, direction, action, _flags, _share = POLICY_TAIL.unpack_from(body, off)
    if direction not in _DIR_NAMES:
        raise ValueError(f"policy direction {direction} is neither in nor out")
    attrs = parse_attrs(body, POLICY_INFO_SIZE, len(body))
    extra = _policy_extras(body, attrs, _flags)
    if extra:
        raise ValueError(f"it has {extra}, which overlayc never writes")
    raw_tmpl = attrs.get(XFRMA_TMPL)
    tmpl = decode_tmpl(raw_tmpl) if raw_tmpl else None
    return XfrmPolicy(
        dir="in" if direction == XFRM_POLICY_IN else "out",
        src=src, dst=dst, dport=dport, priority=priority,
        action="block" if action == XFRM_POLICY_BLOCK else "allow", tmpl=tmpl, proto=proto,
    )


def encode_policy_id(pol: XfrmPolicy) -> bytes:
    """Body of XFRM_MSG_DELPOLICY / GETPOLICY: selector and direction."""
    return USERPOLICY_ID.pack(pack_selector(pol.src, pol.dst, pol.proto, pol.dport), 0, _DIRS[pol.dir])
