"""IPv6 and dual-stack overlay subnets (docs/ipv6.md), pure: the forms a network declares its
subnets in and their validation (located, exit 65), address assignment and lock pinning of IPv6
addresses, the MAC of an IPv6-only endpoint, the compiled endpoints and NDP entries, their JSON,
netlink bodies and iproute2 render."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overlayc.apply.requests import entry_messages, requests_for
from overlayc.cli import app
from overlayc.compile.addressing import mac_from_ipv6
from overlayc.compile.assign import resolve
from overlayc.compile.lock import Lock, Pin
from overlayc.config.model import Config
from overlayc.diff import Action, Change, Reason
from overlayc.files import assign_cache
from overlayc.files.lock import dumps_lock, format_lock, parse_lock
from overlayc.kernel.objects import Endpoint, Gateway, KernelObject, Neigh, Sandbox, from_json, to_json
from overlayc.netlink import link as nl_link
from overlayc.netlink import neigh as nn
from overlayc.netlink.core import NLM_F_CREATE, NLM_F_REPLACE, attr
from overlayc.render.iproute2 import render_iproute2
from tests.support.builders import assign, compile_for
from tests.support.config import BASE, codes, diagnose, load_ok, write

SERVICE = "services:\n  web: {replicas: 2, networks: [n]}\n"  # one task per node
DUAL = BASE + "networks:\n  n: {subnets: [10.0.9.0/24, fd00:9::/64]}\n" + SERVICE
V6ONLY = BASE + "networks:\n  n: {subnet: fd00:9::/64}\n" + SERVICE
COMPOSE = BASE + """\
networks:
  n:
    driver: overlay
    enable_ipv6: true
    ipam:
      driver: default
      config:
        - subnet: 10.0.9.0/24
        - subnet: fd00:9::/64
""" + SERVICE


def _config(tmp_path: Path, text: str) -> Config:
    return load_ok(tmp_path, text).config


def _addresses(config: Config, lock: Lock | None = None) -> dict[str, tuple[object, object, str]]:
    return {a.endpoint: (a.ip, a.ip6, a.mac) for a in assign(config, lock, clean=True).attachments["n"]}


# --- the forms ---------------------------------------------------------------------------------
def test_subnets_give_a_dual_stack_network_and_the_compose_form_means_the_same(tmp_path: Path) -> None:
    dual = _config(tmp_path, DUAL)
    net = dual.networks["n"]
    assert (str(net.ipv4_subnet), str(net.ipv6_subnet)) == ("10.0.9.0/24", "fd00:9::/64")
    compose = _config(tmp_path, COMPOSE).networks["n"]
    assert (compose.ipv4_subnet, compose.ipv6_subnet) == (net.ipv4_subnet, net.ipv6_subnet)
    assert _addresses(dual) == _addresses(_config(tmp_path, COMPOSE)) == {
        "web.1": (IPv4Address("10.0.9.1"), IPv6Address("fd00:9::1"), "02:42:0a:00:09:01"),
        "web.2": (IPv4Address("10.0.9.2"), IPv6Address("fd00:9::2"), "02:42:0a:00:09:02"),
    }


def test_an_ipv6_only_network_gets_macs_from_its_ipv6_addresses(tmp_path: Path) -> None:
    got = _addresses(_config(tmp_path, V6ONLY))
    assert got["web.1"] == (None, IPv6Address("fd00:9::1"), "06:00:00:00:00:01")
    assert mac_from_ipv6(IPv6Address("fd00:9::ab:cdef:1234")) == "06:ab:cd:ef:12:34"
    assert all(not mac.startswith(("02:42", "0e")) for _, _, mac in got.values())


def test_explicit_ipv6_addresses_are_kept(tmp_path: Path) -> None:
    text = DUAL.replace("networks: [n]", "networks: {n: {ipv6_addresses: [fd00:9::100]}}") + (
        "endpoints:\n  probe: {node: node1, networks: {n: {ipv6_address: 'fd00:9::200'}}}\n")
    text = text.replace("{subnets:", "{attachable: true, subnets:")
    got = _addresses(_config(tmp_path, text))
    assert got["web.1"][1] == IPv6Address("fd00:9::100") and got["probe"][1] == IPv6Address("fd00:9::200")
    assert got["web.2"][1] == IPv6Address("fd00:9::1")


# --- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("net", "code", "line", "words"), [
    ("{subnets: [10.0.9.0/24, 10.0.10.0/24]}", "subnet-family", 11, "at most one IPv4 and one IPv6"),
    ("{subnets: ['fd00:9::/64', 'fd00:a::/64']}", "subnet-family", 11, "two IPv6 subnets"),
    ("{subnet: 10.0.9.0/24, subnets: ['fd00:9::/64']}", "subnet-conflict", 11, "in one place"),
    ("{subnet: 10.0.9.0/24, enable_ipv6: true}", "ipv6-conflict", 11, "no IPv6 subnet"),
    ("{subnets: [10.0.9.0/24, 'fd00:9::/64'], enable_ipv6: false}", "ipv6-conflict", 11, "fd00:9::/64"),
    ("{subnet: 'fd00:9::zz/64'}", "invalid-address", 11, "IPv4 or IPv6 subnet"),
    ("{subnet: 'fd00:9::1/64'}", "invalid-address", 11, "host bits zero"),
    ("{subnet: 'fd00:9::'}", "invalid-value", 11, "did you mean 'fd00:9::/64'?"),
    ("{subnet: 'fd00:9::/64', mtu: 1200}", "mtu-too-small", 11, "at least 1280"),
    ("{subnet: 'fd00:9::/64', gateway: 10.0.9.1}", "address-family", 11, "needs an IPv4 subnet"),
    ("{vni: 7}", "missing-key", 11, "missing required key 'subnet'"),
])
def test_bad_subnets_are_refused_where_written(tmp_path: Path, net: str, code: str, line: int,
                                               words: str) -> None:
    diags = diagnose(tmp_path, BASE + f"networks:\n  n: {net}\n")
    assert [d.code for d in diags] == [code], diags
    assert diags[0].location.line == line and words in diags[0].message, diags[0].message


def test_ipv6_subnets_of_two_networks_may_not_overlap(tmp_path: Path) -> None:
    text = BASE + "networks:\n  a: {subnets: [10.0.9.0/24, 'fd00:9::/64']}\n  b: {subnet: 'fd00:9::/48'}\n"
    diags = diagnose(tmp_path, text)
    assert [d.code for d in diags] == ["subnet-overlap"]
    assert diags[0].message == "subnet fd00:9::/48 of network 'b' overlaps fd00:9::/64 of network 'a'"
    load_ok(tmp_path, BASE + "networks:\n  a: {subnet: 10.0.0.0/8}\n  b: {subnet: 'fd00::/8'}\n")


@pytest.mark.parametrize(("attachment", "code"), [
    ("{ipv6_address: 'fd00:a::5'}", "address-outside-subnet"),
    ("{ipv6_address: 'fd00:9::'}", "reserved-address"),
    ("{ipv6_address: '10.0.9.5'}", "invalid-address"),
])
def test_bad_fixed_ipv6_addresses_are_refused(tmp_path: Path, attachment: str, code: str) -> None:
    text = BASE + ("networks:\n  n: {attachable: true, subnets: [10.0.9.0/24, 'fd00:9::/64']}\n"
                   f"endpoints:\n  e: {{node: node1, networks: {{n: {attachment}}}}}\n")
    diags = diagnose(tmp_path, text)
    assert [d.code for d in diags] == [code] and diags[0].location.line == 13


def test_an_address_of_a_family_the_network_lacks_is_refused(tmp_path: Path) -> None:
    v4only = BASE + ("networks:\n  n: {attachable: true, subnet: 10.0.9.0/24}\n"
                     "endpoints:\n  e: {node: node1, networks: {n: {ipv6_address: 'fd00:9::5'}}}\n")
    assert codes(tmp_path, v4only) == ["address-family"]
    v6only = BASE + ("networks:\n  n: {attachable: true, subnet: 'fd00:9::/64'}\n"
                     "endpoints:\n  e: {node: node1, networks: {n: {ipv4_address: 10.0.9.5}}}\n")
    diags = diagnose(tmp_path, v6only)
    assert [d.code for d in diags] == ["address-family"] and "no IPv4 subnet" in diags[0].message


def test_compose_ipam_keys_that_do_not_map_are_refused_not_ignored(tmp_path: Path) -> None:
    text = BASE + ("networks:\n  n:\n    ipam:\n      config:\n"
                   "        - {subnet: 10.0.9.0/24, ip_range: 10.0.9.0/25}\n")
    diags = diagnose(tmp_path, text)
    assert [d.code for d in diags] == ["unknown-key"] and diags[0].location.line == 14


def test_validate_exits_65_naming_the_spot(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "networks:\n  n: {subnets: [10.0.9.0/24, 10.0.10.0/24]}\n")
    res = CliRunner().invoke(app, ["validate", "-f", str(path)])
    assert res.exit_code == 65
    assert f"{path}:11:" in res.stderr and "error[subnet-family]" in res.stderr
    assert "Traceback" not in res.output


# --- lock pinning --------------------------------------------------------------------------------
def test_adding_an_ipv6_subnet_keeps_every_ipv4_address_and_mac(tmp_path: Path) -> None:
    v4 = _config(tmp_path, DUAL.replace("{subnets: [10.0.9.0/24, fd00:9::/64]}", "{subnet: 10.0.9.0/24}"))
    _, lock, _ = resolve(v4, Lock())
    # a shuffled IPv4 pin shows the lock, not the order, decides
    pins = {ep: dict(p) for ep, p in lock.endpoints.items()}
    pins["web.1"]["n"], pins["web.2"]["n"] = pins["web.2"]["n"], pins["web.1"]["n"]
    old = parse_lock(format_lock(Lock(vnis=dict(lock.vnis), tasks=lock.tasks, endpoints=pins)), "old")
    assert "ip6" not in dumps_lock(old)
    dual = _config(tmp_path, DUAL)
    _, new, diags = resolve(dual, old)
    assert diags == []
    for ep, before in old.endpoints.items():
        after = new.endpoints[ep]["n"]
        assert (after.ip, after.mac) == (before["n"].ip, before["n"].mac) and after.ip6 is not None
    again, newer, _ = resolve(dual, parse_lock(format_lock(new), "new"))
    assert dict(newer.endpoints) == dict(new.endpoints)  # pinned: a second run changes nothing
    assert {a.ip6 for a in again.attachments["n"]} == {new.endpoints[e]["n"].ip6 for e in new.endpoints}


def test_ipv6_pins_survive_a_new_endpoint_taking_a_lower_address(tmp_path: Path) -> None:
    _, lock, _ = resolve(_config(tmp_path, V6ONLY), Lock())
    shifted = {ep: IPv6Address(int(p["n"].ip6 or 0) + 16) for ep, p in lock.endpoints.items()}
    moved = {ep: {"n": Pin(None, mac_from_ipv6(ip6), ip6)} for ep, ip6 in shifted.items()}
    more = _config(tmp_path, V6ONLY.replace("replicas: 2", "replicas: 3"))
    got = _addresses(more, Lock(vnis=dict(lock.vnis), tasks=lock.tasks, endpoints=moved))
    assert [got[f"web.{i}"][1] for i in (1, 2)] == [IPv6Address(f"fd00:9::{i + 16:x}") for i in (1, 2)]
    assert got["web.1"][2] == "06:00:00:00:00:11"  # the pinned MAC
    assert got["web.3"][1] == IPv6Address("fd00:9::1")  # the lowest free one


def test_the_lock_file_writes_and_reads_ipv6_pins_in_both_layouts() -> None:
    lock = Lock(vnis={"n": 4096}, tasks={"web.1": "node1"}, endpoints={
        "web.1": {"d": Pin(IPv4Address("10.0.9.2"), "02:42:0a:00:09:02", IPv6Address("fd00:9::1")),
                  "s": Pin(None, "06:00:00:00:00:01", IPv6Address("fd00:a::1")),
                  "v": Pin(IPv4Address("10.0.8.2"), "02:42:0a:00:08:02")}})
    text = dumps_lock(lock)
    assert '    d: {ip: 10.0.9.2, ip6: "fd00:9::1", mac: "02:42:0a:00:09:02"}\n' in text
    assert '    s: {ip6: "fd00:a::1", mac: "06:00:00:00:00:01"}\n' in text
    assert '    v: {ip: 10.0.8.2, mac: "02:42:0a:00:08:02"}\n' in text
    assert parse_lock(text.encode(), "x") == lock
    # another layout (the generic loader): the same Lock
    generic = text.replace('ip6: "fd00:9::1"', "ip6: 'fd00:9::1'").replace("{ip6:", "{ip: null, ip6:")
    assert generic != text and parse_lock(generic.encode(), "x") == lock


def test_two_ipv6_only_endpoints_with_the_same_low_40_bits_are_a_mac_clash(tmp_path: Path) -> None:
    text = BASE + ("networks:\n  n: {attachable: true, subnet: 'fd00:9::/64'}\nendpoints:\n"
                   "  a: {node: node1, networks: {n: {ipv6_address: 'fd00:9::5'}}}\n"
                   "  b: {node: node2, networks: {n: {ipv6_address: 'fd00:9:0:0:1::5'}}}\n")
    config = _config(tmp_path, text)
    _, _, diags = resolve(config, Lock())
    assert [d.code for d in diags] == ["duplicate-mac"] and "06:00:00:00:00:05" in diags[0].message


# --- compile ---------------------------------------------------------------------------------------
def test_a_dual_stack_network_compiles_ipv6_on_with_both_addresses_and_neighbours(tmp_path: Path) -> None:
    state = compile_for(_config(tmp_path, DUAL), "node1")
    assert [o.ipv6 for o in state if isinstance(o, Sandbox)] == [True]
    eps = [o for o in state if isinstance(o, Endpoint)]
    assert [(e.address, e.address6, e.ipv6) for e in eps] == [
        (IPv4Interface("10.0.9.1/24"), IPv6Interface("fd00:9::1/64"), True)]
    neigh = sorted((str(o.dst), o.lladdr) for o in state if isinstance(o, Neigh))
    assert neigh == [("10.0.9.2", "02:42:0a:00:09:02"), ("fd00:9::2", "02:42:0a:00:09:02")]
    script = render_iproute2(state, title="node1")
    assert "neigh replace fd00:9::2 lladdr 02:42:0a:00:09:02 dev ovx4096 nud permanent" in script
    assert "addr replace fd00:9::1/64 dev eth0 nodad" in script and "disable_ipv6=1" not in script


def test_an_ipv6_only_network_has_no_arp_entries_and_no_ipv4_address(tmp_path: Path) -> None:
    state = compile_for(_config(tmp_path, V6ONLY), "node2")
    assert [str(o.dst) for o in state if isinstance(o, Neigh)] == ["fd00:9::1"]
    eps = [(e.address, str(e.address6)) for e in state if isinstance(e, Endpoint)]
    assert eps == [(None, "fd00:9::2/64")]
    assert "addr replace None" not in render_iproute2(state, title="node2")


def test_ipv4_networks_keep_ipv6_off(tmp_path: Path) -> None:
    text = BASE + "networks:\n  n: {subnet: 10.0.9.0/24}\n" + SERVICE
    state = compile_for(_config(tmp_path, text), "node1")
    assert [o.ipv6 for o in state if isinstance(o, Sandbox | Endpoint)] == [False, False]


def test_ipv6_endpoints_and_neighbours_survive_json() -> None:
    objs: list[KernelObject] = [Neigh(dev="ovx1", dst=IPv6Address("fd00:9::2"), lladdr="02:42:0a:00:09:03"),
            Endpoint(netns="c-web.1", ifname="eth0", host="ovh1", host_mac="0e:00:00:00:00:01", bridge="ovb1",
                     address=None, mac="06:00:00:00:00:01", mtu=1450, alias="overlayc:c:n",
                     address6=IPv6Interface("fd00:9::1/64"))]
    for obj in objs:
        assert from_json(to_json(obj)) == obj
    assert objs[0].key == ("neigh", "ovx1", "fd00:9::2")


def test_an_ndp_entry_and_an_ipv6_address_as_netlink_sends_them() -> None:
    dst = IPv6Address("fd00:9::2")
    body = nn.encode_neigh(5, dst, "02:42:0a:00:09:03")
    assert body == (nn.NDMSG.pack(nn.AF_INET6, 5, nn.NUD_PERMANENT, 0, 0) + attr(nn.NDA_DST, dst.packed)
                    + attr(nn.NDA_LLADDR, bytes.fromhex("02420a000903")))
    assert nn.encode_neigh(5, dst) == nn.NDMSG.pack(nn.AF_INET6, 5, nn.NUD_PERMANENT, 0, 0) + attr(
        nn.NDA_DST, dst.packed)
    fam, plen, flags, _scope, index = nl_link.IFADDRMSG.unpack_from(
        nl_link.addr_body(3, IPv6Interface("fd00:9::1/64")))
    assert (fam, plen, flags, index) == (nl_link.AF_INET6, 64, nl_link.IFA_F_NODAD, 3)
    assert nl_link.IFADDRMSG.unpack_from(nl_link.addr_body(3, IPv4Interface("10.0.9.2/24")))[2] == 0


def test_ndp_entries_take_the_general_path_of_the_executor() -> None:
    ndp = Neigh(dev="ovx1", dst=IPv6Address("fd00:9::2"), lladdr="02:42:0a:00:09:02")
    create = Change(Action.CREATE, ndp.key, None, ndp, Reason.NOT_IN_KERNEL)
    assert entry_messages([create], {"ovx1": 7}, 1) is None  # the bulk path packs 4-byte dsts only
    assert requests_for(create, {"ovx1": 7}) == [
        (nn.RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, nn.encode_neigh(7, ndp.dst, ndp.lladdr))]
    delete = Change(Action.DELETE, ndp.key, ndp, None, Reason.NOT_IN_CONFIG)
    assert requests_for(delete, {"ovx1": 7}) == [(nn.RTM_DELNEIGH, 0, nn.encode_neigh(7, ndp.dst))]


def test_the_assignment_cache_keeps_ipv6_addresses(tmp_path: Path) -> None:
    six = "{subnets: [10.0.9.0/24, fd00:9::/64]}\n  s: {subnet: 'fd00:a::/64'}"
    text = DUAL.replace("{subnets: [10.0.9.0/24, fd00:9::/64]}", six)
    text = text.replace("networks: [n]", "networks: [n, s]")
    config = _config(tmp_path, text)
    assignment = assign(config, clean=True)
    assert {a.ip for a in assignment.attachments["s"]} == {None}
    state = tmp_path / "state"
    state.mkdir()
    assign_cache.store(state, "k", assignment)
    assert assign_cache.load(state, "k") == assignment


def test_the_node_gateway_of_a_dual_stack_network_stays_ipv4_only(tmp_path: Path) -> None:
    text = DUAL.replace("{subnets: [10.0.9.0/24, fd00:9::/64]}",
                        "{subnets: [10.0.9.0/24, fd00:9::/64], gateway: 10.0.9.254}")
    state = compile_for(_config(tmp_path, text), "node1")
    assert [(str(o.address), o.ipv6) for o in state if isinstance(o, Gateway)] == [("10.0.9.254/24", False)]
    assert [o.ipv6 for o in state if isinstance(o, Sandbox)] == [True]
