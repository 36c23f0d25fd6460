"""order: deletes in reverse dependency order, creates forward, make-before-break for IPsec."""

from __future__ import annotations

import random
from collections.abc import Sequence

from overlayc.diff import Action, Change, Reason
from overlayc.kernel.objects import KernelObject
from overlayc.plan import order
from tests.support.planobjects import (
    LOCAL,
    PEERS,
    block_policy,
    bridge,
    endpoint,
    fdb,
    neigh,
    netns,
    peer_policy,
    sa,
    vxlan,
)

MAC = "02:42:0a:01:00:02"


def create(obj: KernelObject) -> Change:
    return Change(Action.CREATE, obj.key, None, obj, Reason.NOT_IN_KERNEL)


def delete(obj: KernelObject) -> Change:
    return Change(Action.DELETE, obj.key, obj, None, Reason.NOT_IN_CONFIG)


def names(changes: Sequence[Change]) -> list[str]:
    return [f"{c.action} {' '.join(c.key[:2])}" for c in changes]


def test_creates_follow_dependency_order_whatever_the_input_order() -> None:
    objs: list[KernelObject] = [neigh("a", "10.1.0.2", MAC), fdb("a", MAC, PEERS[0]),
                                endpoint("t", "a", "10.1.0.3/24", MAC), netns("t"), vxlan("a"), bridge("a")]
    expected = ["create bridge", "create vxlan", "create netns", "create endpoint", "create fdb",
                "create neigh"]
    for seed in range(5):
        shuffled = [create(o) for o in objs]
        random.Random(seed).shuffle(shuffled)
        assert [n.split()[0] + " " + n.split()[1] for n in names(order(shuffled))] == expected


def test_deletes_come_first_in_reverse_dependency_order() -> None:
    objs: list[KernelObject] = [bridge("a"), vxlan("a"), netns("t"), endpoint("t", "a", "10.1.0.3/24", MAC),
                                fdb("a", MAC, PEERS[0]), neigh("a", "10.1.0.2", MAC)]
    changes = [delete(o) for o in objs]
    changes.append(create(bridge("b")))
    assert [c.kind + ":" + c.action for c in order(changes)] == [
        "neigh:delete", "fdb:delete", "endpoint:delete", "netns:delete", "vxlan:delete",
        "bridge:create", "bridge:delete"]  # a bridge goes after its slaves could have moved away


def test_ipsec_creates_are_inbound_sas_then_outbound_then_block_then_peer_policies() -> None:
    objs: list[KernelObject] = [peer_policy("out", PEERS[0]), peer_policy("in", PEERS[0]), block_policy("in"),
            block_policy("out"), sa(LOCAL, PEERS[0], 0x2000), sa(PEERS[0], LOCAL, 0x1001),
            sa(PEERS[0], LOCAL, 0x1000)]
    got = order([create(o) for o in objs], LOCAL)
    assert [(c.kind, c.key[1:3]) for c in got] == [
        ("xfrm-state", ("10.0.0.1", "esp")), ("xfrm-state", ("10.0.0.1", "esp")),
        ("xfrm-state", ("10.0.0.2", "esp")),
        ("xfrm-policy", ("in", "0.0.0.0/0")), ("xfrm-policy", ("out", "0.0.0.0/0")),
        ("xfrm-policy", ("in", "10.0.0.2/32")), ("xfrm-policy", ("out", "10.0.0.1/32")),
    ]
    assert [c.key[3] for c in got[:2]] == ["0x00001000", "0x00001001"]


def test_ipsec_removal_drops_peer_policies_then_block_policies_and_sas_last() -> None:
    objs: list[KernelObject] = [sa(PEERS[0], LOCAL, 0x1000), sa(LOCAL, PEERS[0], 0x2000), block_policy("out"),
            peer_policy("in", PEERS[0]), peer_policy("out", PEERS[0]), block_policy("in"), vxlan("a")]
    got = order([delete(o) for o in objs], LOCAL)
    assert [(c.kind, c.key[1]) for c in got] == [
        ("xfrm-policy", "in"), ("xfrm-policy", "out"),   # per-peer (allow) first
        ("xfrm-policy", "in"), ("xfrm-policy", "out"),   # block policies last among policies
        ("vxlan", "vx-a"),
        ("xfrm-state", "10.0.0.2"), ("xfrm-state", "10.0.0.1"),  # outbound SA, then inbound
    ]
    assert [p.after is None and p.before.action for p in got[:4]] == [  # type: ignore[union-attr]
        "allow", "allow", "block", "block"]


def test_rotation_creates_the_new_sa_before_deleting_the_old_one() -> None:
    old, new = sa(LOCAL, PEERS[0], 0x2000), sa(LOCAL, PEERS[0], 0x2001)
    got = order([delete(old), create(new)], LOCAL)
    assert [(c.action, c.key[3]) for c in got] == [("create", "0x00002001"), ("delete", "0x00002000")]


def test_replace_sits_at_its_kinds_creation_position() -> None:
    rep = Change(Action.REPLACE, vxlan("a").key, vxlan("a", vni=1), vxlan("a"), Reason.CANNOT_UPDATE,
                 ("vni",))
    got = order([create(fdb("a", MAC, PEERS[0])), rep, delete(neigh("a", "10.1.0.2", MAC)),
                 create(bridge("b"))])
    assert [c.kind + ":" + c.action for c in got] == [
        "neigh:delete", "bridge:create", "vxlan:replace", "fdb:create"]
