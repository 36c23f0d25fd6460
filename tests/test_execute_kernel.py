"""KernelHandle.execute against real kernels in test namespaces: what overlayc writes is what
iproute2 shows and what observe reads back; foreign objects are left byte-identical; failures
are attributed to exactly the failing change."""

from __future__ import annotations

import errno
import os
import re
import subprocess
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network

import pytest

from overlayc.apply.kernel import KernelHandle
from overlayc.diff import Action, Change, Reason
from overlayc.errors import ExecutionError
from overlayc.kernel.objects import (
    Endpoint,
    Fdb,
    KernelObject,
    Neigh,
    Netns,
    XfrmPolicy,
    XfrmState,
    XfrmTemplate,
    fingerprint,
)
from overlayc.kernel.ownership import LINK_GROUP, PRIO_BLOCK, PRIO_PEER
from overlayc.kernel.state import KernelState
from overlayc.kernel.xfrm_marks import marks_of
from overlayc.observe.kernel import observe
from tests.support.host import ip_json, run_in
from tests.support.kernel import (
    ALIAS,
    HOST_MAC,
    bridge,
    create,
    delete,
    entries,
    foreign_snapshot,
    iface,
    link,
    sh,
    vxlan,
)

pytestmark = pytest.mark.kernel

A, B = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")
POLICIES = [
    XfrmPolicy("out", IPv4Network("10.0.0.1/32"), IPv4Network("10.0.0.2/32"), 4790, PRIO_PEER, "allow",
               XfrmTemplate(A, B)),
    XfrmPolicy("in", IPv4Network("10.0.0.2/32"), IPv4Network("10.0.0.1/32"), 4790, PRIO_PEER, "allow",
               XfrmTemplate(B, A)),
    XfrmPolicy("out", IPv4Network("0.0.0.0/0"), IPv4Network("0.0.0.0/0"), 4790, PRIO_BLOCK, "block"),
    XfrmPolicy("in", IPv4Network("0.0.0.0/0"), IPv4Network("0.0.0.0/0"), 4790, PRIO_BLOCK, "block"),
]


def network(n: int = 3) -> list[KernelObject]:
    return [bridge(address=iface("10.1.255.1/16")), vxlan(), *entries(n), *POLICIES]


def apply_all(ns: str, objs: list[KernelObject]) -> None:
    with KernelHandle(ns) as h:
        h.execute([create(o) for o in objs])


def test_created_state_is_what_iproute2_shows_and_observe_reads(netns: str) -> None:
    objs = network()
    done: list[int] = []
    with KernelHandle(netns) as h:
        h.execute([create(o) for o in objs], done.append)
    assert done[-1] == len(objs)
    vx = link(netns, "ovx1")
    data = vx["linkinfo"]["info_data"]
    assert (data["id"], data["local"], data["port"], data["learning"], data["proxy"]) == (
        4096, "10.0.0.1", 4790, False, True)
    assert (vx["mtu"], vx["master"], vx["ifalias"], vx["group"]) == (1450, "ovb1", ALIAS, str(LINK_GROUP))
    assert "UP" in vx["flags"]
    br = link(netns, "ovb1")
    assert (br["linkinfo"]["info_kind"], br["mtu"], br["ifalias"]) == ("bridge", 1450, ALIAS)
    v4 = ip_json(netns, "-4", "addr", "show", "dev", "ovb1")[0]["addr_info"]
    assert [(a["local"], a["prefixlen"]) for a in v4] == [("10.1.255.1", 16)]
    fdb = {(e["mac"], e["dst"]) for e in ip_json(netns, "bridge", "fdb", "show", "dev", "ovx1")
           if "dst" in e and "permanent" in e.get("state", "") and "self" in e["flags"]}
    assert fdb == {(o.lladdr, str(o.dst)) for o in objs if isinstance(o, Fdb)}
    neigh = {(e["dst"], e["lladdr"]) for e in ip_json(netns, "neigh", "show", "dev", "ovx1")
             if e["state"] == ["PERMANENT"]}
    assert neigh == {(str(o.dst), o.lladdr) for o in objs if isinstance(o, Neigh)}
    pol = run_in(netns, "ip", "xfrm", "policy").stdout
    assert pol.count("priority 28416") == 2 and pol.count("action block priority 28432") == 2
    assert "tmpl src 10.0.0.1 dst 10.0.0.2" in pol
    assert observe(netns).owned == KernelState(objs)


def test_update_replace_delete_leave_exactly_the_expected_state(netns: str) -> None:
    objs = network()
    apply_all(netns, objs)
    old_vx, old_neigh, old_pol, gone = objs[1], objs[3], POLICIES[0], objs[2]
    new_vx = vxlan(vni=5000, mtu=1400)
    assert isinstance(old_neigh, Neigh)
    new_neigh = Neigh(old_neigh.dev, old_neigh.dst, "02:00:00:00:00:99")
    marks = marks_of("oct")  # the cluster of ALIAS: a legacy policy moved to its cluster's marks
    assert old_pol.tmpl is not None
    new_pol = XfrmPolicy(old_pol.dir, old_pol.src, old_pol.dst, old_pol.dport, marks.peer_priority(4790),
                         "allow", XfrmTemplate(old_pol.tmpl.src, old_pol.tmpl.dst, reqid=marks.reqid))
    new_br = bridge(mtu=1400, address=iface("10.1.255.2/16"))
    fdb_neigh = [o for o in objs[2:] if isinstance(o, Fdb | Neigh)]
    changes = [
        delete(gone),
        Change(Action.UPDATE, objs[0].key, objs[0], new_br, Reason.DRIFT, ("mtu", "address")),
        Change(Action.REPLACE, old_vx.key, old_vx, new_vx, Reason.CANNOT_UPDATE, ("vni", "mtu")),
        # entries die with the replaced vxlan device: the plan recreates them
        *[create(o) for o in fdb_neigh if o not in (gone, old_neigh)],
        create(new_neigh),
        Change(Action.UPDATE, old_pol.key, old_pol, new_pol, Reason.DRIFT, ("priority",)),
    ]
    with KernelHandle(netns) as h:
        h.execute(changes)
    expected = [new_br, new_vx, *[o for o in fdb_neigh if o not in (gone, old_neigh)], new_neigh, new_pol,
                *POLICIES[1:]]
    assert observe(netns).owned == KernelState(expected)
    assert link(netns, "ovx1")["linkinfo"]["info_data"]["id"] == 5000
    with KernelHandle(netns) as h:
        h.execute([delete(o) for o in reversed(expected)])
    assert len(observe(netns).owned) == 0
    assert run_in(netns, "ip", "xfrm", "policy").stdout == ""
    assert {x["ifname"] for x in ip_json(netns, "link")} == {"lo"}


def test_foreign_objects_are_byte_identical_afterwards(netns: str) -> None:
    sh(netns, "ip link add fvx1 type vxlan id 77 local 10.0.0.1 dstport 4800")
    sh(netns, "bridge fdb append 02:00:00:00:00:01 dev fvx1 dst 10.0.0.9 self permanent")
    sh(netns, "ip neigh replace 10.9.0.1 lladdr 02:00:00:00:00:01 dev fvx1 nud permanent")
    sh(netns, "ip xfrm policy add src 10.0.0.1/32 dst 10.0.0.9/32 proto udp dport 4800 dir out priority 100 "
              "action block")
    before = foreign_snapshot(netns, "fvx1")
    objs = network(20)
    apply_all(netns, objs)
    with KernelHandle(netns) as h:
        h.execute([delete(o) for o in reversed(objs)])
        assert h.destroy_all() == []
    assert foreign_snapshot(netns, "fvx1") == before


def test_one_failing_request_in_a_batch_is_reported_alone(netns: str) -> None:
    apply_all(netns, network(0))
    batch = [create(o) for o in entries(50)]
    missing = Neigh("ovx1", IPv4Address("10.3.3.3"), "02:00:00:00:00:33")
    batch.insert(37, delete(missing))  # the kernel answers ENOENT for this one
    with KernelHandle(netns) as h, pytest.raises(ExecutionError) as caught:
        h.execute(batch)
    err = caught.value
    assert [i for i, _ in err.failures] == [37]
    assert "neigh 10.3.3.3 lladdr 02:00:00:00:00:33 on ovx1: delete" in err.failures[0][1]
    assert "does not exist" in err.failures[0][1]
    assert err.applied == tuple(i for i in range(len(batch)) if i != 37)
    live = observe(netns).owned
    assert len(live.of_kind("fdb")) == 50 and len(live.of_kind("neigh")) == 50


def test_link_errors_name_the_object_and_stop_execution(netns: str) -> None:
    sh(netns, "ip link add ovx4096 type bridge")
    sh(netns, "ip link add fvx type vxlan id 4097 local 10.0.0.1 dstport 4790")
    before = foreign_snapshot(netns, "ovx4096"), foreign_snapshot(netns, "fvx")
    changes = [create(bridge()), create(vxlan("ovx4096")), create(vxlan("ovx2"))]
    with KernelHandle(netns) as h, pytest.raises(ExecutionError) as caught:
        h.execute(changes)
    assert caught.value.applied == (0,)
    assert caught.value.failures == (
        (1, "vxlan ovx4096: create: the kernel refused: device exists and is not overlayc's"),)
    with KernelHandle(netns) as h, pytest.raises(ExecutionError) as caught:
        h.execute([create(vxlan("ovx3", vni=4097))])
    assert "VNI 4097 on UDP port 4790 is already bound by another vxlan device" in caught.value.failures[0][1]
    with KernelHandle(netns) as h, pytest.raises(ExecutionError) as caught:
        h.execute([create(vxlan("ovx3", mtu=70000))])
    assert "invalid (kernel says: MTU must be between 68 and 65535)" in caught.value.failures[0][1]
    assert (foreign_snapshot(netns, "ovx4096"), foreign_snapshot(netns, "fvx")) == before
    assert "ovx2" not in {x["ifname"] for x in ip_json(netns, "link")}


def test_sa_reaches_the_kernel_and_its_refusal_is_explained(netns: str) -> None:
    # no ESP/GCM on this host: the kernel refuses NEWSA, and the message must say so and name the SA
    secret = bytes(range(20))
    sa = XfrmState(A, B, 0x1001, fingerprint(secret), secret=secret)
    with KernelHandle(netns) as h, pytest.raises(ExecutionError) as caught:
        h.execute([create(sa)])
    (index, msg), = caught.value.failures
    assert index == 0
    assert msg.startswith("xfrm SA 10.0.0.1→10.0.0.2 spi 0x00001001: create: the kernel refused")
    assert "Requested AEAD algorithm not found" in msg or "does not support" in msg


def test_endpoint_and_netns_life_cycle(netns: str, endpoint_netns: Callable[[], str]) -> None:
    ep_ns = endpoint_netns()
    ep = Endpoint(ep_ns, "eth0", "ovh1", HOST_MAC, "ovb1", iface("10.1.0.5/24"), "02:42:0a:01:00:05", 1450,
                  f"{ALIAS}:{ep_ns}")
    objs: list[KernelObject] = [bridge(), Netns(ep_ns), ep]
    apply_all(netns, objs)
    inner = ip_json(ep_ns, "-d", "-4", "addr", "show", "dev", "eth0")[0]
    assert (inner["address"], inner["mtu"], inner["operstate"] != "DOWN") == (ep.mac, 1450, True)
    assert [(a["local"], a["prefixlen"]) for a in inner["addr_info"]] == [("10.1.0.5", 24)]
    host = link(netns, "ovh1")
    assert (host["master"], host["ifalias"], host["group"]) == ("ovb1", ep.alias, str(LINK_GROUP))
    assert observe(netns).owned == KernelState(objs)
    moved = Endpoint(ep_ns, "eth0", "ovh1", HOST_MAC, "ovb1", iface("10.1.0.9/24"), "02:42:0a:01:00:09",
                     1400, ep.alias)
    with KernelHandle(netns) as h:
        h.execute([Change(Action.UPDATE, ep.key, ep, moved, Reason.DRIFT, ("address", "mac", "mtu"))])
    assert observe(netns).owned == KernelState([bridge(), Netns(ep_ns), moved])
    with KernelHandle(netns) as h:
        h.execute([delete(moved), delete(Netns(ep_ns))])
    assert not os.path.exists(f"/run/netns/{ep_ns}")
    assert observe(netns).owned == KernelState([bridge()])


def test_destroy_all_in_one_request_or_one_by_one(netns: str) -> None:
    links_and_entries = [bridge(), vxlan(), *entries(2)]
    apply_all(netns, links_and_entries)
    with KernelHandle(netns) as h:
        assert h.destroy_all("oct") == ["ovb1", "ovx1"]
    assert {x["ifname"] for x in ip_json(netns, "link")} == {"lo"}
    apply_all(netns, links_and_entries)
    sh(netns, "ip link add fbr type bridge")
    sh(netns, f"ip link set fbr group {LINK_GROUP}")  # a foreign link in our group
    before = foreign_snapshot(netns, "fbr")
    with KernelHandle(netns) as h:
        assert h.destroy_all() == ["ovb1", "ovx1"]
    assert {x["ifname"] for x in ip_json(netns, "link")} == {"lo", "fbr"}
    assert foreign_snapshot(netns, "fbr") == before


def test_one_failing_xfrm_request_in_a_batch_is_reported_alone(netns: str) -> None:
    sh(netns, "ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport 4790 dir in priority 100 "
              "action block")  # foreign, with the selector of our inbound block policy
    before = run_in(netns, "ip", "xfrm", "policy").stdout
    with KernelHandle(netns) as h, pytest.raises(ExecutionError) as caught:
        h.execute([create(p) for p in POLICIES])
    (index, msg), = caught.value.failures
    assert index == 3
    assert msg.startswith("xfrm policy dir in 0.0.0.0/0→0.0.0.0/0 proto 17 dport 4790: create: ")
    assert "an entry with that key already exists" in msg
    assert caught.value.applied == (0, 1, 2)
    assert observe(netns).owned == KernelState(POLICIES[:3])
    with KernelHandle(netns) as h:
        h.execute([delete(p) for p in POLICIES[:3]])
    assert run_in(netns, "ip", "xfrm", "policy").stdout == before


def test_the_exit_code_comes_from_the_kernels_errnos_not_the_message() -> None:
    refused = ((1, "vxlan ovx1: create: the kernel refused: needs CAP_NET_ADMIN"),)
    err = ExecutionError((0,), refused, errnos=frozenset({errno.EPERM}))
    assert err.exit_code == 77 and err.applied == (0,)
    assert ExecutionError((), refused, errnos=frozenset({errno.EACCES})).exit_code == 77
    assert ExecutionError((), refused, errnos=frozenset({errno.EEXIST})).exit_code == 1
    assert ExecutionError((), refused).exit_code == 1  # the words alone decide nothing


def test_the_executor_carries_the_kernels_errno(netns: str) -> None:
    sh(netns, "ip link add ovx4096 type bridge")
    with KernelHandle(netns) as h, pytest.raises(ExecutionError) as caught:
        h.execute([create(bridge()), create(vxlan("ovx4096"))])
    assert caught.value.errnos == {errno.EEXIST} and caught.value.exit_code == 1



def test_a_batch_refusal_carries_its_errno(netns: str) -> None:
    apply_all(netns, network(0))
    missing = Neigh("ovx1", IPv4Address("10.3.3.3"), "02:00:00:00:00:33")
    with KernelHandle(netns) as h, pytest.raises(ExecutionError) as caught:
        h.execute([delete(missing)])
    assert caught.value.errnos == {errno.ENOENT} and caught.value.exit_code == 1



def test_endpoint_whose_namespace_vanished_is_named_not_hidden(
    netns: str, endpoint_netns: Callable[[], str]
) -> None:
    ep_ns = endpoint_netns()
    ep = Endpoint(ep_ns, "eth0", "ovh1", HOST_MAC, "ovb1", iface("10.1.0.5/24"), "02:42:0a:01:00:05", 1450,
                  f"{ALIAS}:{ep_ns}")
    apply_all(netns, [bridge(), Netns(ep_ns), ep])
    # a process keeps the namespace (and so the veth pair) alive after /run/netns/<name> is removed
    holder = subprocess.Popen(["ip", "netns", "exec", ep_ns, "sh", "-c", "echo in; exec sleep 600"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "in\n"  # it is inside now
        subprocess.run(["ip", "netns", "del", ep_ns], check=True)
        live = observe(netns)
        assert live.owned == KernelState([bridge()])
        assert live.foreign_links["ovh1"] == f"veth tagged as overlayc's, but its namespace {ep_ns} is gone"
        with KernelHandle(netns) as h:
            assert h.destroy_all() == ["ovb1", "ovh1"]
        assert {x["ifname"] for x in ip_json(netns, "link")} == {"lo"}
    finally:
        holder.kill()
        holder.wait()


def _kernel_has_esp_gcm(ns: str) -> bool:
    res = run_in(ns, "ip", "xfrm", "state", "add", "src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp",
                 "spi", "0x100", "mode", "transport", "aead", "rfc4106(gcm(aes))", "0x" + "00" * 20, "128",
                 check=False)
    run_in(ns, "ip", "xfrm", "state", "flush", check=False)
    return res.returncode == 0


@pytest.mark.esp
def test_sa_life_cycle_on_a_kernel_with_esp(netns: str) -> None:
    """Runs in the ESP lab; skipped where the kernel lacks ESP or GCM (this development host)."""
    if not _kernel_has_esp_gcm(netns):
        pytest.skip("this kernel has no ESP/rfc4106(gcm(aes)) (the ESP lab runs this test)")
    secret, other = bytes(range(20)), bytes(range(100, 120))
    sas = [XfrmState(A, B, 0x1001, fingerprint(secret), secret=secret),
           XfrmState(B, A, 0x2002, fingerprint(other), replay_window=64, secret=other),
           XfrmState(B, A, 0x3003, fingerprint(other), esn=False, replay_window=32, secret=other)]
    with KernelHandle(netns) as h:
        h.execute([create(s) for s in sas])
    live = observe(netns).owned
    assert live == KernelState(sas)
    assert {s.spi: s.secret for s in live.of_kind("xfrm-state") if isinstance(s, XfrmState)} == {
        0x1001: secret, 0x2002: other, 0x3003: other}
    shown = run_in(netns, "ip", "xfrm", "state").stdout
    # iproute2 6.1 prints `reqid 7304803` and `aead NAME 0xKEY 128`; newer ones add the hex reqid
    # and the key length in bits
    assert re.search(r"spi 0x00001001 reqid 7304803(\(0x006f7663\))? mode transport", shown), shown
    assert re.search(rf"aead rfc4106\(gcm\(aes\)\) 0x{secret.hex()}( 160)? 128", shown), shown
    with KernelHandle(netns) as h:
        h.execute([delete(s) for s in sas])
    assert run_in(netns, "ip", "xfrm", "state").stdout == ""
