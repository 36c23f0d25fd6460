"""IPv6 underlays (docs/ipv6.md), pure: the family rule of validate, the MTU, the compiled VXLAN /
FDB / XFRM objects of an IPv6 cluster, their JSON, and the netlink codec of each (encoded, then
decoded as the kernel's dumps are)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

import pytest

from overlayc.apply.preflight import missing_esp_features
from overlayc.compile.ipsec import block_policies, peer_policies
from overlayc.config.load import load_config
from overlayc.kernel.objects import (
    Fdb,
    KernelObject,
    Vxlan,
    XfrmPolicy,
    XfrmState,
    XfrmTemplate,
    fingerprint,
    from_json,
    to_json,
)
from overlayc.kernel.xfrm_marks import marks_of
from overlayc.netlink import link as nl_link
from overlayc.netlink import neigh as nn
from overlayc.netlink import xfrm as nx
from overlayc.netlink.core import attr, attr_str
from overlayc.observe.sysctl import fail_closed_sysctls
from overlayc.render.iproute2 import render_iproute2
from tests.support.builders import compile_for
from tests.support.config import codes, diagnose, load_ok
from tests.support.host import EXAMPLES

A, B = IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2")
MARKS = marks_of("p15")
SECRET = bytes(range(20))
KEY1 = "QWfOvszOZ62logBnaao7jh0X6y/XVbZjTwQaNfEtah0="  # the seed's EXAMPLE keys
KEY2 = "4ddMdhAY7GOroEOfyAUqle2h1wW5qPkoj4KiUzmp4V4="

V6 = """\
version: 1
cluster: {name: six, id: six-cluster-0001}
nodes:
  node1: {address: "2001:db8::1"}
  node2: {address: "2001:db8::2"}
"""


def test_an_ipv6_cluster_is_valid_and_its_networks_lose_70_bytes(tmp_path: Path) -> None:
    keyed = V6.replace('::1"}', f'::1", public_key: {KEY1}}}').replace('::2"}', f'::2", public_key: {KEY2}}}')
    loaded = load_ok(tmp_path, keyed + "networks:\n  n: {subnet: 10.0.9.0/24, all_nodes: true}\n"
                     "  e: {subnet: 10.0.8.0/24, all_nodes: true, encrypted: true}\n")
    assert loaded.config.ipv6_underlay
    state = compile_for(loaded.config, "node1")
    vx = {o.name: o for o in state if isinstance(o, Vxlan)}
    assert {(v.local, v.mtu, v.udp6zerocsumtx, v.udp6zerocsumrx) for v in vx.values()} == {
        (A, 1430, False, False), (A, 1396, False, False)}


def test_nodes_of_both_families_are_refused_at_the_odd_node(tmp_path: Path) -> None:
    text = V6 + "  node3: {address: 192.0.2.3}\n  node4: {address: 192.0.2.4}\n"
    diags = diagnose(tmp_path, text)
    assert [d.code for d in diags] == ["mixed-address-family", "mixed-address-family"]
    assert diags[0].location.line == 6 and "node 'node3' has an IPv4 address (192.0.2.3)" in diags[0].message
    assert "node 'node1' has an IPv6 address" in diags[0].message


def test_a_node_address_that_is_neither_family_says_both_are_accepted(tmp_path: Path) -> None:
    diags = diagnose(tmp_path, V6.replace('"2001:db8::2"', '"2001:db8::zz"'))
    assert [d.code for d in diags] == ["invalid-address"]
    assert "IPv6" in diags[0].message and "IPv4" in diags[0].message, diags[0].message


def test_explicit_mtu_is_checked_against_the_ipv6_overhead(tmp_path: Path) -> None:
    text = V6 + "networks:\n  n: {subnet: 10.0.9.0/24, mtu: 1450}\n"
    assert codes(tmp_path, text) == ["mtu-too-large"]
    assert "over IPv6" in diagnose(tmp_path, text)[0].message
    load_ok(tmp_path, V6 + "networks:\n  n: {subnet: 10.0.9.0/24, mtu: 1430}\n")


def test_fdb_and_policies_of_the_ipv6_seed_use_ipv6_vteps_and_selectors() -> None:
    loaded = load_config([EXAMPLES / "seed-ipv6" / "overlay.yaml"])
    state = compile_for(loaded.config, "node2")
    assert {o.dst for o in state if isinstance(o, Fdb)} == {A}
    assert {(o.src, o.dst) for o in state if isinstance(o, XfrmState)} == {(A, B), (B, A)}
    policies = {(p.dir, p.action, str(p.src), str(p.dst)) for p in state if isinstance(p, XfrmPolicy)}
    assert policies == {
        ("out", "allow", "2001:db8::2/128", "2001:db8::1/128"),
        ("in", "allow", "2001:db8::1/128", "2001:db8::2/128"),
        ("out", "block", "::/0", "::/0"), ("in", "block", "::/0", "::/0")}
    script = render_iproute2(state, title="node2")
    assert "local 2001:db8::2 dstport 4789 nolearning proxy noudp6zerocsumtx noudp6zerocsumrx" in script
    assert ("bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:c6:33:64:02 dev ovx4096 "
            "dst 2001:db8::1 self permanent") in script


def test_objects_with_ipv6_addresses_survive_json() -> None:
    objs: list[KernelObject] = [
        Vxlan(name="ovx1", mac="0e:00:00:00:00:01", vni=1, local=A, port=4789, mtu=1430, master="ovb1",
              alias="overlayc:c:n"),
        Fdb(dev="ovx1", lladdr="02:42:0a:00:00:01", dst=B),
        XfrmState(A, B, 0x1234, fingerprint(SECRET), secret=SECRET),
        *peer_policies(A, B, 4800, MARKS), *block_policies(4800, MARKS, ipv6=True),
    ]
    for obj in objs:
        assert from_json(to_json(obj)) == obj
    assert objs[1].key == ("fdb", "ovx1", "02:42:0a:00:00:01", "2001:db8::2")


def _dumped_vxlan(data: bytes) -> bytes:
    """A RTM_NEWLINK dump body of a vxlan device holding `data` as IFLA_INFO_DATA."""
    return nl_link.ifinfo(7) + attr_str(nl_link.IFLA_IFNAME, "ovx1") + nl_link.linkinfo("vxlan", data)


@pytest.mark.parametrize("local", [A, IPv4Address("192.0.2.1")])
def test_vxlan_local_of_either_family_round_trips(local: IPv4Address | IPv6Address) -> None:
    data = nl_link.vxlan_data(4096, local, 4789, False, True)
    info = nl_link.decode_link(_dumped_vxlan(data)).vxlan
    assert info is not None and (info.local, info.vni, info.port, info.proxy) == (local, 4096, 4789, True)
    # IPv6: checksum flags sent explicitly (0), in IFLA_VXLAN_UDP_ZERO_CSUM6_TX/RX
    has_csum_attrs = attr(nl_link.IFLA_VXLAN_UDP_ZERO_CSUM6_TX, b"\0") in data
    assert has_csum_attrs == (local.version == 6)
    flipped = nl_link.vxlan_data(4096, A, 4789, False, True, (True, True))
    got = nl_link.decode_link(_dumped_vxlan(flipped)).vxlan
    assert got is not None and (got.udp6zerocsumtx, got.udp6zerocsumrx) == (True, True)


def test_fdb_with_an_ipv6_dst_carries_16_bytes() -> None:
    body = nn.encode_fdb(5, "02:42:0a:00:00:01", B)
    assert len(body) == nn.NDMSG.size + 12 + 20
    assert body.endswith(attr(nn.NDA_DST, B.packed))
    assert nn.encode_fdb(5, "02:42:0a:00:00:01", IPv4Address("192.0.2.2")).endswith(
        attr(nn.NDA_DST, IPv4Address("192.0.2.2").packed))


def test_ipv6_sa_and_policies_round_trip_through_the_xfrm_codec() -> None:
    sa = XfrmState(A, B, 0x1234, fingerprint(SECRET), secret=SECRET)
    assert nx.decode_sa(nx.encode_sa(sa)) == sa
    head = nx.decode_sa_header(nx.encode_sa(sa))
    assert (head.family, head.src, head.dst) == (nx.AF_INET6, A, B)
    for pol in [*peer_policies(A, B, 4800, MARKS), *block_policies(4800, MARKS, ipv6=True)]:
        assert nx.decode_policy(nx.encode_policy(pol)) == pol
    assert nx.decode_tmpl(nx.encode_tmpl(XfrmTemplate(A, B))) == XfrmTemplate(A, B)
    with pytest.raises(ValueError, match="mixes address families"):
        nx.pack_selector(IPv6Network("::/0"), IPv4Network("0.0.0.0/0"))


def test_ipv6_underlays_check_the_ipv6_fail_open_sysctl_and_esp6() -> None:
    assert fail_closed_sysctls("eth0", ipv6=True) == [
        "net.ipv4.conf.all.disable_policy", "net.ipv6.conf.all.disable_policy",
        "net.ipv4.conf.eth0.disable_policy", "net.ipv4.conf.eth0.disable_xfrm",
        "net.ipv6.conf.eth0.disable_policy"]
    assert "net.ipv6.conf.all.disable_policy" not in fail_closed_sysctls("eth0")
    config = "\n".join(f"{s}=y" for s in ("CONFIG_INET_ESP", "CONFIG_CRYPTO_GCM", "CONFIG_CRYPTO_GHASH",
                                            "CONFIG_XFRM_USER")) + "\n# CONFIG_INET6_ESP is not set\n"
    assert missing_esp_features(config, None) == []
    assert missing_esp_features(config, None, ipv6=True) == ["ESP over IPv6 (CONFIG_INET6_ESP, module esp6)"]
