"""observe_xfrm over dump messages (pure: a stand-in socket replays kernel-shaped messages).
SAs cannot be created on the development kernel (no ESP), so SA dumps are exercised here."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network

from overlayc.kernel.objects import XfrmPolicy, XfrmState, XfrmTemplate, fingerprint
from overlayc.kernel.ownership import PRIO_PEER
from overlayc.netlink import xfrm as nx
from overlayc.netlink.core import Message
from overlayc.observe.xfrm import observe_xfrm

A, B = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")
SECRET = bytes(range(20))
OURS = XfrmState(A, B, 0x1234, fingerprint(SECRET), secret=SECRET)
THEIRS = XfrmState(A, B, 0x5678, fingerprint(SECRET), reqid=0xD0C4E3, secret=SECRET)
OUR_POLICY = XfrmPolicy("out", IPv4Network("10.0.0.1/32"), IPv4Network("10.0.0.2/32"), 4790, PRIO_PEER,
                        "allow", XfrmTemplate(A, B))
THEIR_POLICY = XfrmPolicy("out", IPv4Network("10.0.0.1/32"), IPv4Network("10.0.0.3/32"), 4789, 100, "allow",
                          XfrmTemplate(A, IPv4Address("10.0.0.3"), reqid=0xD0C4E3))


class ReplaySocket:
    """Answers dumps with prepared message bodies (what the kernel would send)."""

    def dump(self, msg_type: int, body: bytes) -> Iterator[Message]:
        if msg_type == nx.XFRM_MSG_GETSA:
            for sa in (OURS, THEIRS):
                yield Message(nx.XFRM_MSG_NEWSA, 2, 1, nx.encode_sa(sa))
        else:
            for pol in (OUR_POLICY, THEIR_POLICY):
                yield Message(nx.XFRM_MSG_NEWPOLICY, 2, 1, nx.encode_policy(pol))


def test_owned_in_full_foreign_as_collision_keys() -> None:
    owned, foreign = observe_xfrm(ReplaySocket())
    assert owned == [OURS, OUR_POLICY]
    got_sa = owned[0]
    assert isinstance(got_sa, XfrmState) and got_sa.secret == SECRET and got_sa.key_fp == fingerprint(SECRET)
    assert set(foreign) == {THEIRS.key, THEIR_POLICY.key}
    assert "reqid 13681891, not overlayc's" in foreign[THEIRS.key]
    assert "priority 100, not overlayc's" in foreign[THEIR_POLICY.key]
