"""RTM_*LINK / RTM_*ADDR codec for the links overlayc owns: bridge, vxlan, veth.

Layouts from /usr/include/linux/rtnetlink.h (ifinfomsg, ifaddrmsg), if_link.h (IFLA_*,
IFLA_VXLAN_*), veth.h (VETH_INFO_PEER), if_addr.h (IFA_*).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

from overlayc.kernel.objects import IPAddress
from overlayc.netlink.core import NLA_F_NESTED, attr, attr_str, attr_u32, parse_attrs

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_AF_SPEC, IFLA_GROUP, IFLA_NET_NS_FD = 18, 20, 26, 27, 28
IFLA_INET6_CONF, DEVCONF_DISABLE_IPV6 = 2, 26  # in IFLA_AF_SPEC/AF_INET6: the s32 devconf array
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
IFLA_VXLAN_ID, IFLA_VXLAN_LOCAL, IFLA_VXLAN_LEARNING, IFLA_VXLAN_PROXY, IFLA_VXLAN_PORT = 1, 4, 7, 11, 15
IFLA_VXLAN_LOCAL6, IFLA_VXLAN_UDP_ZERO_CSUM6_TX, IFLA_VXLAN_UDP_ZERO_CSUM6_RX = 17, 19, 20
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFF_UP = 0x1
AF_UNSPEC, AF_INET, AF_INET6 = 0, 2, 10

IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index


@dataclass(frozen=True, slots=True)
class VxlanInfo:
    vni: int
    local: IPAddress | None
    port: int
    learning: bool
    proxy: bool
    udp6zerocsumtx: bool = False
    udp6zerocsumrx: bool = False


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """What observe needs of one link in a RTM_GETLINK dump."""

    index: int
    name: str
    kind: str
    mtu: int
    master: int
    alias: str
    group: int
    mac: str
    peer: int  # IFLA_LINK: for a veth, the peer's ifindex (in the peer's namespace)
    up: bool
    vxlan: VxlanInfo | None = None
    ipv6: bool = False  # IPv6 on (the device's disable_ipv6 is 0)


def _u32(raw: bytes | None) -> int:
    return struct.unpack_from("=I", raw)[0] if raw and len(raw) >= 4 else 0


def _str(raw: bytes | None) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="replace") if raw else ""


def _u8(raw: bytes | None, default: int = 0) -> int:
    return raw[0] if raw else default


def _ipv6_on(spec: bytes | None) -> bool:
    """Whether IFLA_AF_SPEC says IPv6 is on for the device (no AF_INET6 part: off)."""
    if not spec:
        return False
    inet6 = parse_attrs(spec, 0, len(spec)).get(AF_INET6)
    conf = parse_attrs(inet6, 0, len(inet6)).get(IFLA_INET6_CONF) if inet6 else None
    offset = DEVCONF_DISABLE_IPV6 * 4
    if conf is None or len(conf) < offset + 4:
        return False
    disabled: int = struct.unpack_from("=i", conf, offset)[0]
    return disabled == 0
def _vxlan_local(raw4: bytes | None, raw6: bytes | None) -> IPAddress | None:
    """The device's `local`: the kernel reports IFLA_VXLAN_LOCAL for an IPv4 device and
    IFLA_VXLAN_LOCAL6 for an IPv6 one (vxlan_fill_info), only when it is set."""
    if raw4 and len(raw4) == 4:
        return IPv4Address(raw4)
    if raw6 and len(raw6) == 16:
        return IPv6Address(raw6)
    return None


def decode_link(body: bytes) -> LinkInfo:
    """A RTM_NEWLINK body (dump entry) → LinkInfo."""
    _fam, _type, index, flags, _change = IFINFOMSG.unpack_from(body, 0)
    attrs = parse_attrs(body, IFINFOMSG.size, len(body))
    info = parse_attrs(attrs.get(IFLA_LINKINFO, b""), 0, len(attrs.get(IFLA_LINKINFO, b"")))
    kind = _str(info.get(IFLA_INFO_KIND))
    vx = None
    if kind == "vxlan":
        data = info.get(IFLA_INFO_DATA, b"")
        v = parse_attrs(data, 0, len(data))
        port = v.get(IFLA_VXLAN_PORT)
        vx = VxlanInfo(
            vni=_u32(v.get(IFLA_VXLAN_ID)),
            local=_vxlan_local(v.get(IFLA_VXLAN_LOCAL), v.get(IFLA_VXLAN_LOCAL6)),
            port=socket.ntohs(struct.unpack("=H", port)[0]) if port else 0,
            learning=bool(_u8(v.get(IFLA_VXLAN_LEARNING))),
            proxy=bool(_u8(v.get(IFLA_VXLAN_PROXY))),
            udp6zerocsumtx=bool(_u8(v.get(IFLA_VXLAN_UDP_ZERO_CSUM6_TX))),
            udp6zerocsumrx=bool(_u8(v.get(IFLA_VXLAN_UDP_ZERO_CSUM6_RX))),
        )
    mac = attrs.get(IFLA_ADDRESS, b"")
    return LinkInfo(
        index=index, name=_str(attrs.get(IFLA_IFNAME)), kind=kind, mtu=_u32(attrs.get(IFLA_MTU)),
        master=_u32(attrs.get(IFLA_MASTER)), alias=_str(attrs.get(IFLA_IFALIAS)),
        group=_u32(attrs.get(IFLA_GROUP)), mac=mac.hex(":"), peer=_u32(attrs.get(IFLA_LINK)),
        up=bool(flags & IFF_UP), vxlan=vx, ipv6=_ipv6_on(attrs.get(IFLA_AF_SPEC)),
    )


def decode_addr(body: bytes) -> tuple[int, IPv4Interface] | None:
    """(ifindex, address/prefix) of an AF_INET RTM_NEWADDR body; None for other families."""
    got = decode_any_addr(body)
    if got is None or not isinstance(got[1], IPv4Interface):
        return None
    return got[0], got[1]


def decode_any_addr(body: bytes) -> tuple[int, IPv4Interface | IPv6Interface] | None:
    """(ifindex, address/prefix) of an AF_INET or AF_INET6 RTM_NEWADDR body; None otherwise.
    An IPv6 address has IFA_ADDRESS only (IFA_LOCAL is for point-to-point peers)."""
    fam, plen, _flags, _scope, index = IFADDRMSG.unpack_from(body, 0)
    if fam not in (AF_INET, AF_INET6):
        return None
    attrs = parse_attrs(body, IFADDRMSG.size, len(body))
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if raw is None:
        return None
    if fam == AF_INET6:
        return index, IPv6Interface((IPv6Address(raw), plen))
    return index, IPv4Interface((IPv4Address(raw), plen))


def ifinfo(index: int = 0, up: bool | None = None) -> bytes:
    """struct ifinfomsg; `up` True/False sets IFF_UP through the change mask, None leaves it."""
    flags = IFF_UP if up else 0
    return IFINFOMSG.pack(AF_UNSPEC, 0, index, flags, IFF_UP if up is not None else 0)


def linkinfo(kind: str, data: bytes = b"") -> bytes:
    payload = attr_str(IFLA_INFO_KIND, kind)
    if data:
        payload += attr(IFLA_INFO_DATA | NLA_F_NESTED, data)
    return attr(IFLA_LINKINFO | NLA_F_NESTED, payload)


def vxlan_data(vni: int, local: IPAddress, port: int, learning: bool, proxy: bool,
               zero_csum6: tuple[bool, bool] = (False, False)) -> bytes:
    """IFLA_INFO_DATA of `ip link add type vxlan id VNI local L dstport P [no]learning [proxy]`;
    an IPv6 `local` goes in IFLA_VXLAN_LOCAL6 (which makes the device IPv6, VXLAN_F_IPV6) with
    `[no]udp6zerocsumtx [no]udp6zerocsumrx` from `zero_csum6` sent explicitly."""
    if local.version == 6:
        head = (attr(IFLA_VXLAN_LOCAL6, local.packed)
                + attr(IFLA_VXLAN_UDP_ZERO_CSUM6_TX, bytes([int(zero_csum6[0])]))
                + attr(IFLA_VXLAN_UDP_ZERO_CSUM6_RX, bytes([int(zero_csum6[1])])))
    else:
        head = attr(IFLA_VXLAN_LOCAL, local.packed)
    return (attr_u32(IFLA_VXLAN_ID, vni) + head
            + attr(IFLA_VXLAN_PORT, struct.pack("!H", port))
            + attr(IFLA_VXLAN_LEARNING, bytes([int(learning)]))
            + attr(IFLA_VXLAN_PROXY, bytes([int(proxy)])))


def lladdr(mac: str) -> bytes:
    """IFLA_ADDRESS attribute of a canonical MAC `aa:bb:cc:dd:ee:ff`."""
    return attr(IFLA_ADDRESS, bytes.fromhex(mac.replace(":", "")))


def veth_peer(name: str, netns_fd: int, mac: str, mtu: int) -> bytes:
    """IFLA_INFO_DATA of a veth whose peer `name` is created directly inside the netns `netns_fd`."""
    peer = (ifinfo() + attr_str(IFLA_IFNAME, name) + attr_u32(IFLA_NET_NS_FD, netns_fd)
            + lladdr(mac) + attr_u32(IFLA_MTU, mtu))
    return attr(VETH_INFO_PEER | NLA_F_NESTED, peer)


IFA_F_NODAD = 0x02  # include/uapi/linux/if_addr.h


def addr_body(index: int, address: IPv4Interface | IPv6Interface) -> bytes:
    """Body of RTM_NEWADDR/RTM_DELADDR for `address` on `index` (local = address, like `ip addr`).
    An IPv6 address is added `nodad`: overlayc's addresses are unique by construction (assigned
    and pinned per network), and duplicate address detection would leave it tentative, unusable
    as a source, for a second or more after every create."""
    raw = address.ip.packed
    family, flags = (AF_INET, 0) if address.version == 4 else (AF_INET6, IFA_F_NODAD)
    return (IFADDRMSG.pack(family, address.network.prefixlen, flags, 0, index)
            + attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw))
