"""compile_node and resolve on small hand-written clusters (no IPsec unless stubbed)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

import pytest

from overlayc.compile import Lock, resolve
from overlayc.compile import node as node_mod
from overlayc.compile.addressing import mac_from_ip
from overlayc.config.model import Config
from overlayc.errors import InputError, Location
from overlayc.kernel.objects import (
    Bridge,
    Endpoint,
    Fdb,
    Gateway,
    Neigh,
    Netns,
    Sandbox,
    Vxlan,
    XfrmPolicy,
    device_mac,
)
from overlayc.kernel.state import KernelState
from tests.support.builders import assign, compile_for


def seedlike(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "cluster": {"name": "seed", "id": "seed-cluster-0001"},
        "nodes": {f"node{i}": {"address": f"192.0.2.{i}"} for i in (1, 2, 3)},
        "networks": {
            "insecure": {"subnet": "198.51.100.0/24", "attachable": True, "gateway": "198.51.100.1"},
            "back": {"subnet": "10.9.0.0/24", "vni": 4096, "mtu": 1400},
        },
        "services": {"web": {"replicas": 2, "networks": ["insecure", "back"],
                             "constraints": ["node.hostname != node1"]}},
        "endpoints": {
            "probe": {"node": "node1", "networks": {"insecure": {"ipv4_address": "198.51.100.200"}}},
            "ext": {"node": "node3", "networks": ["insecure"], "managed": False},
        },
    }
    data.update(extra)
    return data


def compiled(data: dict[str, Any], node: str) -> KernelState:
    return compile_for(Config.model_validate(data), node, clean=True)


def test_vnis_skip_fixed_ones_and_addresses_skip_gateway() -> None:
    assignment, lock, _ = resolve(Config.model_validate(seedlike()), Lock())
    assert dict(assignment.vnis) == {"back": 4096, "insecure": 4097}
    assert lock.vnis == {"insecure": 4097}  # fixed VNIs live in the config, not the lock
    ips = {a.endpoint: a.ip for a in assignment.attachments["insecure"]}
    assert ips == {
        "web.1": IPv4Address("198.51.100.2"), "web.2": IPv4Address("198.51.100.3"),
        "ext": IPv4Address("198.51.100.4"), "probe": IPv4Address("198.51.100.200"),
    }
    assert all(a.ip is not None and a.mac == mac_from_ip(a.ip) for a in assignment.attachments["insecure"])
    assert mac_from_ip(IPv4Address("10.0.1.2")) == "02:42:0a:00:01:02"


def test_devices_of_a_present_network_are_in_its_sandbox() -> None:
    state = compiled(seedlike(), "node2")
    sandbox = "seed-sb.insecure.ns0"  # cluster, network, the node namespace's identity (offline: ns0)
    assert state.get(("sandbox", sandbox)) == Sandbox(name=sandbox, forwarding=False, ipv6=False)
    assert state.get(("bridge", "ovb4097")) == Bridge(  # L2 only: the gateway is the node's veth
        name="ovb4097", mac="0e:92:7f:8a:ea:50", mtu=1450, alias="overlayc:seed:insecure", sandbox=sandbox,
    )
    assert state.get(("gateway", "ovg4097")) == Gateway(
        name="ovg4097", mac=device_mac("seed", "insecure", "gateway"), peer="ovgp4097",
        peer_mac=device_mac("seed", "insecure", "gateway-peer"), sandbox=sandbox, bridge="ovb4097",
        address=IPv4Interface("198.51.100.1/24"), mtu=1450, alias="overlayc:seed:insecure", ipv6=False,
    )
    assert state.get(("vxlan", "ovx4096")) == Vxlan(
        name="ovx4096", mac=device_mac("seed", "back", "vxlan"), vni=4096, local=IPv4Address("192.0.2.2"),
        port=4789, mtu=1400, master="ovb4096", alias="overlayc:seed:back", learning=False, proxy=True,
        sandbox="seed-sb.back.ns0",
    )
    assert not state.of_kind("gateway")[1:]  # `back` has no gateway: the node holds no address in it
    assert {o.sandbox for o in state.of_kind("endpoint") if isinstance(o, Endpoint)} <= {
        sandbox, "seed-sb.back.ns0"}
    assert not any(o.ipv6 for o in state.of_kind("endpoint") if isinstance(o, Endpoint))


def test_sandbox_names_carry_the_node_namespace_so_two_nodes_never_share_one() -> None:
    data = seedlike()
    config = Config.model_validate(data)
    a = compile_for(config, "node2", clean=True, owner="ns111")
    b = compile_for(config, "node2", clean=True, owner="ns222")
    names_a = {o.name for o in a.of_kind("sandbox") if isinstance(o, Sandbox)}
    names_b = {o.name for o in b.of_kind("sandbox") if isinstance(o, Sandbox)}
    assert names_a == {"seed-sb.insecure.ns111", "seed-sb.back.ns111"}
    assert not names_a & names_b


def test_fdb_and_neigh_for_every_remote_endpoint_only() -> None:
    state = compiled(seedlike(), "node2")
    fdb = {(o.lladdr, str(o.dst)) for o in state.of_kind("fdb") if isinstance(o, Fdb) and o.dev == "ovx4097"}
    assert fdb == {
        ("02:42:c6:33:64:03", "192.0.2.3"),  # web.2
        ("02:42:c6:33:64:04", "192.0.2.3"),  # ext: unmanaged, still reachable
        ("02:42:c6:33:64:c8", "192.0.2.1"),  # probe
    }
    neigh = {str(o.dst) for o in state.of_kind("neigh") if isinstance(o, Neigh) and o.dev == "ovx4097"}
    assert neigh == {"198.51.100.3", "198.51.100.4", "198.51.100.200"}


def test_remote_endpoints_sharing_an_address_are_one_entry_or_an_error() -> None:
    from dataclasses import replace

    from overlayc.compile.assign import Attachment
    from overlayc.compile.networks import compile_remote
    from overlayc.kernel.entries import Entries

    config = Config.model_validate(seedlike())
    assignment, _, _ = resolve(config, Lock())
    ip = IPv4Address("198.51.100.9")

    def entries(*macs: str) -> Entries:
        atts = tuple(Attachment(endpoint=f"e{i}", node="node3", network="insecure", ip=ip, mac=mac,
                                managed=True) for i, mac in enumerate(macs))
        into = Entries()
        compile_remote(config, replace(assignment, attachments={"insecure": atts}), "node2", "insecure", into)
        return into

    same = entries("02:42:c6:33:64:09", "02:42:c6:33:64:09")
    assert same.neigh == {"ovx4097": {ip.packed: bytes.fromhex("0242c6336409")}}
    assert len(same.fdb["ovx4097"]) == 1
    with pytest.raises(ValueError, match="two different objects"):
        entries("02:42:c6:33:64:09", "02:42:c6:33:64:0a")


def test_managed_local_endpoints_get_netns_and_veths() -> None:
    state = compiled(seedlike(), "node2")
    assert [o.name for o in state.of_kind("netns") if isinstance(o, Netns)] == ["seed-web.1"]
    eps = [o for o in state.of_kind("endpoint") if isinstance(o, Endpoint)]
    assert [(e.ifname, e.bridge, str(e.address), e.mtu) for e in eps] == [
        ("eth0", "ovb4096", "10.9.0.1/24", 1400), ("eth1", "ovb4097", "198.51.100.2/24", 1450)
    ]
    assert all(e.host.startswith("ov") and len(e.host) == 12 for e in eps)
    assert eps[1].alias == "overlayc:seed:insecure:seed-web.1"
    assert [e.host_mac for e in eps] == [device_mac("seed", "seed-web.1", net, "host")
                                         for net in ("back", "insecure")]


def test_device_macs_are_deterministic_local_unicast_and_not_dockers() -> None:
    assert device_mac("seed", "insecure", "bridge") == "0e:92:7f:8a:ea:50"  # pinned: a change renames MACs
    macs = {device_mac(c, n, role) for c in ("a", "b") for n in ("x", "y") for role in ("bridge", "vxlan")}
    assert len(macs) == 8
    for mac in macs:
        first = int(mac[:2], 16)
        assert first & 0x02 and not first & 0x01 and not mac.startswith("02:42:")
    assert device_mac("a:b", "c") != device_mac("a", "b:c")


def test_unmanaged_endpoint_produces_nothing_locally() -> None:
    state = compiled(seedlike(), "node3")
    assert [o.name for o in state.of_kind("netns") if isinstance(o, Netns)] == ["seed-web.2"]


def test_absent_network_has_no_objects_unless_all_nodes() -> None:
    state = compiled(seedlike(), "node1")
    assert {o.name for o in state.of_kind("bridge") if isinstance(o, Bridge)} == {"ovb4097"}
    data = seedlike()
    data["networks"]["back"]["all_nodes"] = True
    state = compiled(data, "node1")
    assert {o.name for o in state.of_kind("bridge") if isinstance(o, Bridge)} == {"ovb4096", "ovb4097"}
    assert len([o for o in state.of_kind("fdb") if isinstance(o, Fdb) and o.dev == "ovx4096"]) == 2


def test_docker_mtu_option_and_explicit_macs() -> None:
    data = seedlike()
    data["networks"]["insecure"]["driver_opts"] = {"com.docker.network.driver.mtu": "1400"}
    data["endpoints"]["probe"]["networks"]["insecure"]["mac_address"] = "02:AA:00:00:00:01"
    state = compiled(data, "node2")
    vx = state.get(("vxlan", "ovx4097"))
    assert isinstance(vx, Vxlan) and vx.mtu == 1350
    assert ("neigh", "ovx4097", "198.51.100.200") in state
    neigh = state.get(("neigh", "ovx4097", "198.51.100.200"))
    assert isinstance(neigh, Neigh) and neigh.lladdr == "02:aa:00:00:00:01"


def test_unknown_node_is_an_input_error() -> None:
    config = Config.model_validate(seedlike())
    assignment = assign(config)
    with pytest.raises(InputError, match="unknown node 'node9'"):
        compile_for(config, "node9", assignment=assignment)


def test_encrypted_network_uses_its_port_and_asks_ipsec_for_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, list[str]]] = []
    anywhere = IPv4Network("0.0.0.0/0")
    block = XfrmPolicy(dir="out", src=anywhere, dst=anywhere, dport=4800, priority=0x6F10, action="block")

    def fake(config: Config, node: str, peers: Sequence[str], at: datetime, key: bytes | None, *,
             send_epoch: int | None = None) -> list[Any]:
        assert send_epoch is None  # the epoch of `at` unless the saved SA counters say otherwise
        calls.append((node, list(peers)))
        return [block]

    monkeypatch.setattr(node_mod, "compile_ipsec", fake)
    data = seedlike()
    data["networks"]["back"]["encrypted"] = True
    state = compiled(data, "node2")
    vx = state.get(("vxlan", "ovx4096"))
    assert isinstance(vx, Vxlan) and vx.port == 4800
    assert calls == [("node2", ["node3"])]
    assert block.key in state
    compiled(data, "node1")  # back is absent on node1: no IPsec at all
    assert calls == [("node2", ["node3"])]


def test_exhaustion_diagnostic_names_network_at_its_subnet() -> None:
    data = seedlike()
    data["networks"]["back"]["subnet"] = "10.9.0.0/30"
    data["services"]["web"]["replicas"] = 3
    data["services"]["web"]["constraints"] = []
    located: list[tuple[str | int, ...]] = []

    def locate(path: tuple[str | int, ...]) -> Location:
        located.append(path)
        return Location("overlay.yaml", 7, 13)

    _, _, diags = resolve(Config.model_validate(data), Lock(), locate)
    assert [(d.code, d.location.line) for d in diags] == [("subnet-exhausted", 7)]
    assert "'back'" in diags[0].message and "web.3" in diags[0].message
    assert located == [("networks", "back", "subnet")]


def test_locked_vnis_survive_new_networks_sorting_before_them() -> None:
    data = seedlike()
    config = Config.model_validate(data)
    _, lock, _ = resolve(config, Lock())
    data["networks"]["aaa"] = {"subnet": "10.50.0.0/24", "attachable": True}
    data["endpoints"]["probe"]["networks"]["aaa"] = None
    assignment, _, diags = resolve(Config.model_validate(data), lock)
    assert diags == []
    assert dict(assignment.vnis) == {"aaa": 4098, "back": 4096, "insecure": 4097}
