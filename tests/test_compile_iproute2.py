"""render_iproute2: each object's commands, and no key material ever printed."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from overlayc.kernel.objects import (
    Bridge,
    Endpoint,
    Fdb,
    Gateway,
    KernelObject,
    Neigh,
    Netns,
    Sandbox,
    Vxlan,
    XfrmPolicy,
    XfrmState,
    XfrmTemplate,
)
from overlayc.kernel.state import KernelState
from overlayc.render.iproute2 import commands, key_variable, render_iproute2

A, B = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (Bridge(name="ovb9", mac="0e:00:00:00:0b:09", mtu=1450, alias="overlayc:c:n",
                address=IPv4Interface("10.0.0.1/24")), [
            "ip link add ovb9 address 0e:00:00:00:0b:09 type bridge",
            "ip link set ovb9 mtu 1450 group 28534 alias overlayc:c:n",
            "ip addr replace 10.0.0.1/24 dev ovb9",
            "ip link set ovb9 up",
        ]),
        (Vxlan(name="ovx9", mac="0e:00:00:00:0a:09", vni=9, local=A, port=4800, mtu=1416, master="ovb9",
               alias="overlayc:c:n", sandbox="c-sb.n.ns0"), [  # made here, moved into the sandbox
            "ip link add ovx9 address 0e:00:00:00:0a:09 type vxlan id 9 local 192.0.2.1 dstport 4800 "
            "nolearning proxy",
            'ip link set ovx9 netns "c-sb.n.$owner"',
            'ip -n "c-sb.n.$owner" link set ovx9 mtu 1416 group 28534 alias overlayc:c:n master ovb9',
            'ip -n "c-sb.n.$owner" link set ovx9 up',
            'sb_ovx9="c-sb.n.$owner"  # where its fdb/neigh entries go',
        ]),
        (Sandbox(name="c-sb.n.ns0"), [
            'netns_add "c-sb.n.$owner"',
            'ip -n "c-sb.n.$owner" link set lo alias "overlayc:c:-:$owner" up',
            'ip netns exec "c-sb.n.$owner" sysctl -q -w net.ipv4.ip_forward=0',
            'ip netns exec "c-sb.n.$owner" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=1 '
            "net.ipv6.conf.default.disable_ipv6=1",
        ]),
        (Gateway(name="ovg9", mac="0e:00:00:00:0c:09", peer="ovgp9", peer_mac="0e:00:00:00:0d:09",
                 sandbox="c-sb.n.ns0", bridge="ovb9", address=IPv4Interface("10.0.0.254/24"), mtu=1450,
                 alias="overlayc:c:n"), [
            'ip link add ovg9 address 0e:00:00:00:0c:09 type veth peer name ovgp9 address 0e:00:00:00:0d:09 '
            'netns "c-sb.n.$owner"',
            "ip link set ovg9 mtu 1450 group 28534 alias overlayc:c:n",
            'ip -n "c-sb.n.$owner" link set ovgp9 mtu 1450 group 28534 alias overlayc:c:n master ovb9',
            'ip -n "c-sb.n.$owner" link set ovgp9 up',
            "sysctl -q -e -w net.ipv6.conf.ovg9.disable_ipv6=1",
            "ip addr replace 10.0.0.254/24 dev ovg9",
            "ip link set ovg9 up",
        ]),
        (Netns(name="c-web.1"), ["netns_add c-web.1"]),  # the script's function (NETNS_ADD)
        (Fdb(dev="ovx9", lladdr="02:42:0a:00:00:02", dst=B),  # in the sandbox its vxlan's lines named
         ["bridge ${sb_ovx9:+-n $sb_ovx9} fdb replace 02:42:0a:00:00:02 dev ovx9 dst 192.0.2.2 self "
          "permanent"]),
        (Neigh(dev="ovx9", dst=IPv4Address("10.0.0.2"), lladdr="02:42:0a:00:00:02"),
         ["ip ${sb_ovx9:+-n $sb_ovx9} neigh replace 10.0.0.2 lladdr 02:42:0a:00:00:02 dev ovx9 nud "
          "permanent"]),
        (XfrmPolicy(dir="in", src=IPv4Network("0.0.0.0/0"), dst=IPv4Network("0.0.0.0/0"), dport=4800,
                    priority=28432, action="block"),
         ["ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport 4800 dir in priority 28432 "
          "action block"]),
        (XfrmPolicy(dir="out", src=IPv4Network("192.0.2.1/32"), dst=IPv4Network("192.0.2.2/32"), dport=4800,
                    priority=28416, action="allow", tmpl=XfrmTemplate(src=A, dst=B)),
         ["ip xfrm policy add src 192.0.2.1/32 dst 192.0.2.2/32 proto udp dport 4800 dir out priority 28416 "
          "tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid 0x6f7663 mode transport"]),
    ],
)
def test_commands_per_object(obj: KernelObject, expected: list[str]) -> None:
    assert commands(obj) == expected


def test_endpoint_creates_veth_into_the_netns_and_configures_both_ends() -> None:
    ep = Endpoint(netns="c-web.1", ifname="eth0", host="ov0123456789", host_mac="0e:00:00:00:0e:09",
                  bridge="ovb9", address=IPv4Interface("10.0.0.2/24"), mac="02:42:0a:00:00:02", mtu=1450,
                  alias="overlayc:c:n:c-web.1")
    assert commands(ep) == [
        "ip link add ov0123456789 address 0e:00:00:00:0e:09 type veth peer name eth0 netns c-web.1",
        "ip link set ov0123456789 mtu 1450 group 28534 alias overlayc:c:n:c-web.1 master ovb9",
        "ip link set ov0123456789 up",
        "ip -n c-web.1 link set eth0 mtu 1450 address 02:42:0a:00:00:02",
        "ip -n c-web.1 addr replace 10.0.0.2/24 dev eth0",
        "ip -n c-web.1 link set eth0 up",
    ]


def test_sa_references_a_variable_and_never_prints_the_key() -> None:
    secret = bytes(range(1, 21))
    sa = XfrmState(src=A, dst=B, spi=0x1234, key_fp="sha256:abcdef012345", secret=secret, epoch=7)
    text = render_iproute2(KernelState([sa]), title="node1")
    assert secret.hex() not in text and secret.hex().upper() not in text
    assert key_variable(sa) == "OVERLAYC_KEY_c0000202_00001234"
    assert f'aead \'rfc4106(gcm(aes))\' "${key_variable(sa)}" 128' in text
    assert "sha256:abcdef012345" in text and "epoch 7" in text
    assert text.startswith("#!/bin/sh\nset -eu\n")


def test_script_follows_dependency_order() -> None:
    br = Bridge(name="ovb9", mac="0e:00:00:00:0b:09", mtu=1450, alias="overlayc:c:n")
    vx = Vxlan(name="ovx9", mac="0e:00:00:00:0a:09", vni=9, local=A, port=4789, mtu=1450, master="ovb9",
               alias="overlayc:c:n")
    fdb = Fdb(dev="ovx9", lladdr="02:42:0a:00:00:02", dst=B)
    lines = render_iproute2(KernelState([fdb, vx, br])).splitlines()
    order = [i for i, line in enumerate(lines) if "link add" in line or "fdb replace" in line]
    assert [lines[i].split()[1:4] for i in order] == [
        ["link", "add", "ovb9"], ["link", "add", "ovx9"], ["${sb_ovx9:+-n", "$sb_ovx9}", "fdb"]
    ]


@pytest.mark.kernel
def test_rendered_seed_script_builds_the_sandbox_layout_in_a_namespace(netns: str) -> None:
    """The script of node2 of the seed example (encryption off), run in a node namespace: the
    kernel holds what observe calls node2's desired state, its sandboxes named after that node."""
    import subprocess
    from datetime import UTC, datetime

    from overlayc.diff import diff
    from overlayc.netlink.netns import namespace_id
    from overlayc.observe.kernel import observe
    from tests.support.builders import seed_example

    config, _ = seed_example("node2")
    config = config.model_copy(update={  # plain (no ESP here), a cluster name of this test's own
        "cluster": config.cluster.model_copy(update={"name": f"p17s{netns[-6:].replace('-', '')}"}),
        "networks": {n: net.model_copy(update={"encrypted": False, "driver_opts": None})
                     for n, net in config.networks.items()}})
    from overlayc.compile import compile_node
    from tests.support.builders import assign

    assignment = assign(config)
    at = datetime.now(UTC)
    offline = compile_node(config, assignment, "node2", at=at, private_key=None)
    script = render_iproute2(offline, title="node2")
    subprocess.run(["ip", "-n", netns, "link", "add", "p17s0", "type", "veth", "peer", "name", "p17s1"],
                   check=True)
    try:
        subprocess.run(["ip", "netns", "exec", netns, "sh", "-s"], input=script, text=True, check=True)
        desired = compile_node(config, assignment, "node2", at=at, private_key=None,
                               owner=namespace_id(netns))
        assert diff(desired, observe(netns, config.cluster.name)) == []
        assert len(desired.of_kind("sandbox")) == 2
    finally:
        from overlayc.apply.session import destroy_netns

        destroy_netns(netns, config.cluster.name, confirm=lambda plan: True)
