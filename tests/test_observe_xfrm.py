"""observe_xfrm over dump messages (pure: a stand-in socket replays kernel-shaped messages).
SAs cannot be created on the development kernel (no ESP), so SA dumps are exercised here; and
the exact ownership of policies (overlayc.kernel.xfrm_marks) is decided here policy by policy."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from ipaddress import IPv4Address, IPv4Network

import pytest

from overlayc.kernel.objects import XfrmPolicy, XfrmState, XfrmTemplate, fingerprint
from overlayc.kernel.xfrm_marks import LEGACY, LEGACY_REQID, REQID_MIN, marks_of, owns_policy
from overlayc.netlink import xfrm as nx
from overlayc.netlink.core import Message
from overlayc.observe.xfrm import observe_xfrm, scope_for

A, B = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")
ANY = IPv4Network("0.0.0.0/0")
SECRET = bytes(range(20))
X = marks_of("p17x-x")
Y = marks_of("p17x-y")
PORT = 4800
OURS = XfrmState(A, B, 0x1234, fingerprint(SECRET), reqid=X.reqid, secret=SECRET)
THEIRS = XfrmState(A, B, 0x5678, fingerprint(SECRET), reqid=0xD0C4E3, secret=SECRET)
OUR_POLICY = XfrmPolicy("out", IPv4Network("10.0.0.1/32"), IPv4Network("10.0.0.2/32"), PORT,
                        X.peer_priority(PORT), "allow", XfrmTemplate(A, B, reqid=X.reqid))
OUR_BLOCK = XfrmPolicy("in", ANY, ANY, PORT, X.block_priority(PORT), "block")
THEIR_POLICY = XfrmPolicy("out", IPv4Network("10.0.0.1/32"), IPv4Network("10.0.0.3/32"), 4789, 100, "allow",
                          XfrmTemplate(A, IPv4Address("10.0.0.3"), reqid=0xD0C4E3))


class ReplaySocket:
    """Answers dumps with prepared message bodies (what the kernel would send)."""

    def __init__(self, sas: Sequence[XfrmState], policies: Sequence[bytes]) -> None:
        self.sas, self.policies = sas, policies

    def dump(self, msg_type: int, body: bytes) -> Iterator[Message]:
        if msg_type == nx.XFRM_MSG_GETSA:
            for sa in self.sas:
                yield Message(nx.XFRM_MSG_NEWSA, 2, 1, nx.encode_sa(sa))
        else:
            for raw in self.policies:
                yield Message(nx.XFRM_MSG_NEWPOLICY, 2, 1, raw)


def replay(sas: Sequence[XfrmState], policies: Sequence[XfrmPolicy]) -> ReplaySocket:
    return ReplaySocket(sas, [nx.encode_policy(p) for p in policies])


def test_owned_in_full_foreign_as_collision_keys() -> None:
    sock = replay([OURS, THEIRS], [OUR_POLICY, THEIR_POLICY])
    owned, foreign = observe_xfrm(sock, scope_for("p17x-x", []))
    assert owned == [OURS, OUR_POLICY]
    got_sa = owned[0]
    assert isinstance(got_sa, XfrmState) and got_sa.secret == SECRET and got_sa.key_fp == fingerprint(SECRET)
    assert set(foreign) == {THEIRS.key, THEIR_POLICY.key}
    assert "reqid 0xd0c4e3, not overlayc's" in foreign[THEIRS.key]
    assert "priority 100, not overlayc's" in foreign[THEIR_POLICY.key]


def test_marks_are_deterministic_per_cluster_and_apart() -> None:
    assert marks_of("p17x-x") == X and X.reqid != Y.reqid
    assert X.reqid >= REQID_MIN and X.reqid != LEGACY_REQID
    assert X.peer_priority(PORT) < X.block_priority(PORT)
    assert X.peer_priority(PORT) != Y.peer_priority(PORT)
    assert X.block_priority(PORT) != X.block_priority(PORT + 1)  # the port is part of the mark


def near(prio: int) -> list[XfrmPolicy]:
    """Foreign policies next to, between and equal to `prio`, on other ports and selectors."""
    host = IPv4Network("10.0.0.9/32")
    return [
        XfrmPolicy("in", ANY, ANY, PORT + 1, prio, "block"),  # equal priority, other port
        XfrmPolicy("in", IPv4Network("10.0.0.0/8"), ANY, PORT, prio, "block"),  # equal, other selector
        XfrmPolicy("out", ANY, ANY, PORT, prio, "block", proto=6),  # equal, other protocol
        XfrmPolicy("in", ANY, ANY, PORT + 2, prio - 1, "block"),  # next to
        XfrmPolicy("in", ANY, ANY, PORT + 2, prio + 1, "block") if prio % 8 else
        XfrmPolicy("in", ANY, ANY, PORT + 3, prio + 1, "block"),
        XfrmPolicy("out", host, host, PORT, prio + 3, "allow", XfrmTemplate(A, B, reqid=X.reqid)),  # between
        XfrmPolicy("out", host, host, PORT, prio, "allow", XfrmTemplate(A, B, reqid=0xD0C4E3)),  # other reqid
        XfrmPolicy("out", host, host, PORT, prio, "allow"),  # no template
    ]


@pytest.mark.parametrize("prio", [X.peer_priority(PORT), X.block_priority(PORT)])
def test_policies_near_overlaycs_priorities_are_foreign(prio: int) -> None:
    for pol in near(prio):
        assert not owns_policy(X, pol), pol
        assert not owns_policy(LEGACY, pol), pol


def test_policies_with_extras_overlayc_never_writes_are_foreign() -> None:
    marked = nx.encode_policy(OUR_BLOCK, nx.Mark(0x10))
    sport = bytearray(nx.encode_policy(OUR_BLOCK))
    sport[36:40] = b"\x00\x35\xff\xff"  # selector sport 53, mask ffff
    owned, foreign = observe_xfrm(ReplaySocket([], [marked]), scope_for("p17x-x", []))
    assert owned == [] and "overlayc never writes" in foreign[OUR_BLOCK.key]
    owned, foreign = observe_xfrm(ReplaySocket([], [bytes(sport)]), scope_for("p17x-x", []))
    assert owned == [] and "a source port" in foreign[OUR_BLOCK.key]


def test_other_clusters_objects_are_named_never_owned() -> None:
    their_block = XfrmPolicy("in", ANY, ANY, PORT, Y.block_priority(PORT), "block")
    their_sa = XfrmState(A, B, 0x9999, fingerprint(SECRET), reqid=Y.reqid, secret=SECRET)
    owned, foreign = observe_xfrm(replay([their_sa], [their_block]), scope_for("p17x-x", ["p17x-y"]))
    assert owned == []
    assert "cluster 'p17x-y'" in foreign[their_sa.key]
    why = foreign[their_block.key]
    assert "clusters 'p17x-x' and 'p17x-y'" in why and "data port 4800" in why


def test_legacy_marks_are_adopted_only_when_no_other_cluster_is_seen() -> None:
    legacy_block = XfrmPolicy("in", ANY, ANY, PORT, LEGACY.block_priority(PORT), "block")
    legacy_sa = XfrmState(A, B, 0x4444, fingerprint(SECRET), reqid=LEGACY_REQID, secret=SECRET)
    sock = replay([legacy_sa], [legacy_block])
    assert observe_xfrm(sock, scope_for("p17x-x", []))[0] == [legacy_sa, legacy_block]
    owned, foreign = observe_xfrm(sock, scope_for("p17x-x", ["p17x-y"]))
    assert owned == [] and "before per-cluster XFRM marks" in foreign[legacy_block.key]


def test_destroy_of_all_clusters_owns_every_seen_clusters_objects() -> None:
    mine = XfrmPolicy("in", ANY, ANY, PORT + 1, Y.block_priority(PORT + 1), "block")
    owned, _ = observe_xfrm(replay([OURS], [OUR_BLOCK, mine]), scope_for(None, ["p17x-x", "p17x-y"]))
    assert owned == [OURS, OUR_BLOCK, mine]
