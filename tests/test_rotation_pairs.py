"""Which states of two nodes' `reconcile` agents reach each other over ESP (DESIGN.md §4), from the
SAs compile_ipsec gives each node and the send epoch overlayc.apply.counters chooses for it. These
are the facts tests/esp/test_reconcile_rotation_esp.py relies on, checked without a kernel: an
agent that lags its peer by an epoch is still reached both ways, but two agents that both started
without saved counters reach each other only once both have reconciled in one epoch."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from ipaddress import IPv4Address

from overlayc.apply.counters import Counters, Fallback, send_epoch
from overlayc.compile import keys
from overlayc.compile.epoch import epoch_start
from overlayc.compile.ipsec import compile_ipsec
from overlayc.config.model import Cluster, Config, Encryption, Node
from overlayc.kernel.objects import XfrmState

ROTATION = 20
E = 89_803_637  # the epoch the reconcile ESP test once failed in
PRIVATE = {name: hashlib.sha256(name.encode()).digest() for name in ("node1", "node2")}
ADDR = {"node1": IPv4Address("192.0.2.1"), "node2": IPv4Address("192.0.2.2")}
CONFIG = Config(
    version=1,
    cluster=Cluster(name="t", id="rotation-pairs", encryption=Encryption(rotation=ROTATION)),
    nodes={n: Node(address=ADDR[n], public_key=keys.encode_key(keys.public_key_of(PRIVATE[n])))
           for n in ADDR},
)
PEER = {"node1": "node2", "node2": "node1"}


@dataclass(frozen=True)
class Agent:
    """A node whose agent had its first round (no saved counters, nothing in the kernel) in
    epoch `first` and its last round so far in epoch `last` (>= first)."""

    node: str
    first: int
    last: int

    def sending(self) -> int:
        """The epoch of its outbound SA, as its last round chose it: the first round records the
        fallback of `first`, every later round reads it back from the saved counters."""
        if self.last == self.first:
            return send_epoch(None, cluster=CONFIG.cluster.id, rotation=ROTATION, epoch=self.first,
                              outbound_live=False)
        saved = Counters({}, Fallback(CONFIG.cluster.id, ROTATION, self.first))
        return send_epoch(saved, cluster=CONFIG.cluster.id, rotation=ROTATION, epoch=self.last,
                          outbound_live=True)

    def sas(self) -> list[XfrmState]:
        objs = compile_ipsec(CONFIG, self.node, [PEER[self.node]], epoch_start(self.last, ROTATION),
                             PRIVATE[self.node], send_epoch=self.sending())
        return [o for o in objs if isinstance(o, XfrmState)]


def reaches(sender: Agent, receiver: Agent) -> bool:
    """Whether the receiver holds the SA (SPI and key) the sender sends on."""
    (out,) = [s for s in sender.sas() if s.src == ADDR[sender.node]]
    held = {(s.spi, s.secret) for s in receiver.sas() if s.dst == ADDR[receiver.node]}
    return (out.spi, out.secret) in held


def both_ways(a: Agent, b: Agent) -> bool:
    return reaches(a, b) and reaches(b, a)


def test_a_fresh_agents_first_epoch_is_sent_on_the_next_epochs_sa() -> None:
    assert Agent("node1", E, E).sending() == E + 1
    assert Agent("node1", E, E + 1).sending() == E + 1
    assert Agent("node1", E - 1, E + 1).sending() == E + 1


def test_agents_that_reconciled_in_one_epoch_reach_each_other_while_either_lags_an_epoch() -> None:
    """Both had a round in epoch E (each started in E−1 or E): from then on, whichever of them
    rotates first at a boundary, or sleeps through one, they reach each other both ways."""
    for first1 in (E - 1, E):
        for first2 in (E - 1, E):
            for last1 in range(E, E + 4):
                for last2 in (last1 - 1, last1, last1 + 1):
                    if last2 < E:
                        continue
                    a, b = Agent("node1", first1, last1), Agent("node2", first2, last2)
                    assert both_ways(a, b), (a, b)


def test_an_agent_two_epochs_behind_is_out_of_reach() -> None:
    behind, ahead = Agent("node2", E - 1, E), Agent("node1", E - 1, E + 2)
    assert not reaches(ahead, behind) and not reaches(behind, ahead)
    assert both_ways(Agent("node1", E - 1, E + 1), behind)


def test_a_fresh_agent_cannot_reach_a_peer_that_has_not_rotated_into_its_first_epoch() -> None:
    """node1's first round just after a boundary into E sends on E+1; node2, whose agent has not
    rotated yet (its last round was in E−1), holds E−2, E−1, E: node1's packets to it are
    dropped until node2 rotates. The ESP test must not ping before both hold one epoch's SAs."""
    node1 = Agent("node1", E, E)
    for first2 in (E - 2, E - 1):
        lagging, rotated = Agent("node2", first2, E - 1), Agent("node2", first2, E)
        assert not reaches(node1, lagging) and reaches(lagging, node1)
        assert both_ways(node1, rotated)
