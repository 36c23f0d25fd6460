"""Properties of compile_ipsec over generated small clusters (2-8 nodes, fresh keys, random times):
both ends agree on every SA, keys are never shared, SPIs never collide on a receiver, and a pair
always holds the inbound SA its peer sends with, across epoch boundaries and with skewed clocks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import permutations

from hypothesis import given, settings
from hypothesis import strategies as st

from overlayc.compile import keys
from overlayc.compile.ipsec import compile_ipsec
from overlayc.config.model import Cluster, Config, Encryption, Node
from overlayc.kernel.objects import XfrmPolicy, XfrmState, fingerprint

ROTATIONS = (60, 3600, 12 * 3600)


@dataclass(frozen=True)
class Sample:
    config: Config
    private: dict[str, bytes]
    rotation: int

    @property
    def names(self) -> list[str]:
        return sorted(self.private)

    def states(self, node: str, t: int, with_key: bool = True) -> list[XfrmState]:
        """SAs on `node` at Unix time `t`, every other node being a peer."""
        peers = [n for n in self.names if n != node]
        objs = compile_ipsec(
            self.config, node, peers, at(t), self.private[node] if with_key else None
        )
        return [o for o in objs if isinstance(o, XfrmState)]


def at(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@st.composite
def clusters(draw: st.DrawFn, min_nodes: int = 2, max_nodes: int = 8) -> Sample:
    """A config with 2-8 keyed nodes on distinct addresses, a random cluster id and rotation."""
    n = draw(st.integers(min_nodes, max_nodes))
    secrets = draw(st.lists(st.binary(min_size=32, max_size=32), min_size=n, max_size=n, unique=True))
    publics = [keys.public_key_of(s) for s in secrets]
    # distinct scalars can clamp to the same key: redraw rather than build a cluster with twins
    if len(set(publics)) != n:
        secrets = [keys.generate_private_key() for _ in range(n)]
        publics = [keys.public_key_of(s) for s in secrets]
    hosts = draw(st.lists(st.integers(1, 254), min_size=n, max_size=n, unique=True))
    rotation = draw(st.sampled_from(ROTATIONS))
    cluster_id = draw(st.text("abcdef0123456789-", min_size=8, max_size=24))
    names = [f"n{i}" for i in range(n)]
    config = Config(
        version=1,
        cluster=Cluster(name="c", id=cluster_id, encryption=Encryption(rotation=rotation)),
        nodes={
            name: Node(address=f"10.0.0.{h}", public_key=keys.encode_key(pub))
            for name, h, pub in zip(names, hosts, publics, strict=True)
        },
    )
    return Sample(config, dict(zip(names, secrets, strict=True)), rotation)


TIMES = st.integers(0, 4_000_000_000)


def _sa(states: list[XfrmState], src: object, dst: object, epoch: int) -> XfrmState:
    (found,) = [s for s in states if s.src == src and s.dst == dst and s.epoch == epoch]
    return found


@settings(max_examples=40, deadline=None)
@given(clusters(), TIMES)
def test_outbound_sa_is_byte_identical_to_the_peers_inbound_sa(c: Sample, t: int) -> None:
    epoch = t // c.rotation
    states = {n: c.states(n, t) for n in c.names}
    for x, y in permutations(c.names, 2):
        ax, ay = c.config.nodes[x].address, c.config.nodes[y].address
        out = _sa(states[x], ax, ay, epoch)
        inb = _sa(states[y], ax, ay, epoch)
        assert out == inb
        assert out.secret is not None and out.secret == inb.secret
        fields = ("spi", "algo", "key_bits", "icv_bits", "replay_window", "esn")
        assert [getattr(out, f) for f in fields] == [getattr(inb, f) for f in fields]
        assert len(out.secret) * 8 == out.key_bits == 160


@settings(max_examples=40, deadline=None)
@given(clusters(), TIMES)
def test_no_two_sas_share_a_key_and_spis_are_unique_per_receiver(c: Sample, t: int) -> None:
    all_keys: dict[tuple[object, object, int | None], bytes] = {}
    received: dict[object, dict[int, tuple[object, int | None]]] = {}
    for n in c.names:
        states = c.states(n, t)
        secrets = [s.secret for s in states]
        assert len(set(secrets)) == len(secrets), f"two SAs on {n} share a key"
        assert len(states) == 4 * (len(c.names) - 1)
        for s in states:
            assert s.secret is not None and s.spi >= 0x100
            all_keys.setdefault((s.src, s.dst, s.epoch), s.secret)
            seen = received.setdefault(s.dst, {})
            # one (dst, spi) is one SA: the same SA may be seen from both ends, never two SAs
            assert seen.setdefault(s.spi, (s.src, s.epoch)) == (s.src, s.epoch)
    assert len(set(all_keys.values())) == len(all_keys)


@settings(max_examples=40, deadline=None)
@given(clusters(), TIMES, st.data())
def test_receiver_always_holds_the_sa_its_peer_sends_with(c: Sample, t: int, data: st.DataObject) -> None:
    # peer clocks up to one epoch apart (skew below one rotation), often right at a boundary
    boundary = (t // c.rotation) * c.rotation
    t_x = data.draw(st.sampled_from([t, boundary, boundary - 1, boundary + 1]))
    t_y = t_x + data.draw(st.integers(-(c.rotation - 1), c.rotation - 1))
    x, y = data.draw(st.permutations(c.names))[:2]
    ax, ay = c.config.nodes[x].address, c.config.nodes[y].address
    sending = _sa(c.states(y, t_y), ay, ax, t_y // c.rotation)
    receiving = [s for s in c.states(x, t_x) if s.src == ay and s.dst == ax]
    assert sending in receiving
    (match,) = [s for s in receiving if s.spi == sending.spi]
    assert match.secret == sending.secret


@settings(max_examples=25, deadline=None)
@given(clusters(), TIMES)
def test_without_private_key_every_spi_is_planned_and_no_key_is_known(c: Sample, t: int) -> None:
    node = c.names[0]
    with_key = c.states(node, t)
    without = c.states(node, t, with_key=False)
    def planned(states: list[XfrmState]) -> list[tuple[object, ...]]:
        return [(s.src, s.dst, s.spi, s.epoch) for s in states]

    assert planned(without) == planned(with_key)
    assert all(s.secret is None and s.key_fp is None for s in without)
    assert all(s.key_fp == fingerprint(s.secret) for s in with_key if s.secret)


@settings(max_examples=25, deadline=None)
@given(clusters(min_nodes=3), TIMES)
def test_spis_do_not_depend_on_placement(c: Sample, t: int) -> None:
    node, peer = c.names[0], c.names[1]
    alone = compile_ipsec(c.config, node, [peer], at(t), None)
    everyone = compile_ipsec(c.config, node, c.names[1:], at(t), None)
    assert {o for o in alone if isinstance(o, XfrmState)} <= {o for o in everyone if isinstance(o, XfrmState)}


@settings(max_examples=25, deadline=None)
@given(clusters(), TIMES)
def test_policies_require_esp_per_peer_and_block_the_rest(c: Sample, t: int) -> None:
    node = c.names[0]
    objs = compile_ipsec(c.config, node, c.names[1:], at(t), None)
    policies = [o for o in objs if isinstance(o, XfrmPolicy)]
    me = c.config.nodes[node].address
    allow = [p for p in policies if p.action == "allow"]
    block = [p for p in policies if p.action == "block"]
    assert len(allow) == 2 * (len(c.names) - 1) and len(block) == 2
    for p in allow:
        assert p.tmpl is not None and p.dport == c.config.cluster.encrypted_data_port
        assert (p.tmpl.src, p.tmpl.dst) == (p.src.network_address, p.dst.network_address)
        assert me == (p.src.network_address if p.dir == "out" else p.dst.network_address)
    assert all(p.priority > q.priority for p in block for q in allow)
