"""Link/address codec (pure): what observe reads back is what apply writes."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface

from overlayc.netlink import link as nl
from overlayc.netlink.core import NLA_F_NESTED, attr, attr_str, attr_u32, parse_attrs


def _newlink(index: int, attrs: bytes, up: bool = True) -> bytes:
    return nl.IFINFOMSG.pack(0, 1, index, nl.IFF_UP if up else 0, 0) + attrs


def test_vxlan_link_decodes_every_attribute_overlayc_sets() -> None:
    data = nl.vxlan_data(4096, IPv4Address("10.0.0.1"), 4790, learning=False, proxy=True)
    body = _newlink(9, attr_str(nl.IFLA_IFNAME, "ovx4096") + attr_u32(nl.IFLA_MTU, 1450)
                    + attr_u32(nl.IFLA_MASTER, 8) + attr_str(nl.IFLA_IFALIAS, "overlayc:c:n")
                    + attr_u32(nl.IFLA_GROUP, 0x6F76) + attr(nl.IFLA_ADDRESS, bytes.fromhex("02AABBCCDDEE"))
                    + nl.linkinfo("vxlan", data))
    info = nl.decode_link(body)
    assert (info.index, info.name, info.kind, info.mtu, info.master) == (9, "ovx4096", "vxlan", 1450, 8)
    assert (info.alias, info.group, info.mac, info.up) == ("overlayc:c:n", 0x6F76, "02:aa:bb:cc:dd:ee", True)
    assert info.vxlan == nl.VxlanInfo(4096, IPv4Address("10.0.0.1"), 4790, learning=False, proxy=True)


def test_bridge_and_veth_links() -> None:
    br = nl.decode_link(_newlink(3, attr_str(nl.IFLA_IFNAME, "ovb1") + nl.linkinfo("bridge"), up=False))
    assert (br.kind, br.vxlan, br.up, br.alias) == ("bridge", None, False, "")
    veth = nl.decode_link(_newlink(4, attr_str(nl.IFLA_IFNAME, "ovh1") + attr_u32(nl.IFLA_LINK, 2)
                                   + nl.linkinfo("veth")))
    assert (veth.kind, veth.peer) == ("veth", 2)


def test_veth_peer_request_names_the_netns_fd() -> None:
    data = nl.veth_peer("eth0", 17, "02:42:0a:01:00:05", 1450)
    outer = parse_attrs(data, 0, len(data))
    peer = outer[nl.VETH_INFO_PEER]
    attrs = parse_attrs(peer, nl.IFINFOMSG.size, len(peer))
    assert attrs[nl.IFLA_IFNAME] == b"eth0\0"
    assert attrs[nl.IFLA_NET_NS_FD] == (17).to_bytes(4, "little")
    assert attrs[nl.IFLA_ADDRESS] == bytes.fromhex("02420a010005")
    assert data[2:4] == (nl.VETH_INFO_PEER | NLA_F_NESTED).to_bytes(2, "little")


def test_address_round_trip() -> None:
    body = nl.addr_body(5, IPv4Interface("10.1.0.1/24"))
    assert nl.decode_addr(body) == (5, IPv4Interface("10.1.0.1/24"))
    assert nl.decode_addr(nl.IFADDRMSG.pack(10, 64, 0, 0, 5)) is None


def test_ifinfo_up_down_and_leave() -> None:
    assert nl.IFINFOMSG.unpack(nl.ifinfo(3, up=True))[3:] == (nl.IFF_UP, nl.IFF_UP)
    assert nl.IFINFOMSG.unpack(nl.ifinfo(3, up=False))[3:] == (0, nl.IFF_UP)
    assert nl.IFINFOMSG.unpack(nl.ifinfo(3))[3:] == (0, 0)
