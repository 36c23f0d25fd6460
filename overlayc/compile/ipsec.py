"""IPsec part of compile (DESIGN.md §4): SPIs, ESP SAs and the fail-closed policy set of one node.

SPI scheme (public data only, so a plan made without private keys shows every SPI):

    spi(S→R, e) = (H30(S, R, e, c) << 2) | (e mod 4)
    H30         = top 30 bits of SHA-256(b"overlayc/spi" ‖ cluster id ‖ 0 ‖ pubS ‖ pubR ‖ e ‖ c)

with e and c as 8-byte big-endian integers. The low two bits carry e mod 4, so the three epochs a
receiver holds at once (e−1, e, e+1) can never collide with each other. Within one receiver and
one epoch, the candidate senders are ALL nodes of the configuration that have a public key (not
just the peers, so the result does not depend on placement), sorted by raw public key: each takes
the value at c = 0, and one whose value is < 0x100 (reserved, RFC 4303 §2.1) or already taken by
an earlier sender increments c and rehashes. Both ends run the same computation on the same
public data, so they agree. One receiver's SPIs for one epoch cost O(nodes) hashes.

SAs on node X, for each peer Y: inbound Y→X for e−1, e, e+1 (the next epoch's SA is in place a
whole epoch before Y sends with it; the old one stays an epoch after) and outbound X→Y for e.
Policies: per peer `out` X/32→Y/32 and `in` Y/32→X/32 (/128 over an IPv6 underlay) on the
encrypted data port requiring the ESP template, and below them the `out` and `in` catch-all
blocks (reference/xfrm-enforcement.md: both catch-alls were shown to be necessary). SAs,
templates and priorities carry the cluster's marks (overlayc.kernel.xfrm_marks).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network, ip_network

from overlayc.compile.epoch import epoch_of
from overlayc.compile.keys import ALGORITHM_KEY_LEN, check_key_pair, derive_sa_key, x25519
from overlayc.config.model import Config
from overlayc.config.sourcemap import YamlPath
from overlayc.config.validate_placement import duplicate_public_key, hosts_of_encrypted, missing_public_key
from overlayc.errors import ConfigError, Location
from overlayc.kernel.objects import IPAddress, IPNetwork, XfrmPolicy, XfrmState, XfrmTemplate, fingerprint
from overlayc.kernel.xfrm_marks import XfrmMarks, marks_of

SPI_INFO = b"overlayc/spi"
SPI_MIN = 0x100  # 0..255 are reserved by IANA (RFC 4303 §2.1)
ANY = IPv4Network("0.0.0.0/0")
ANY6 = IPv6Network("::/0")


# --- SPIs -------------------------------------------------------------------------------------
def _spi_candidate(prefix: hashlib._Hash, pub_src: bytes, epoch: int, counter: int) -> int:
    h = prefix.copy()
    h.update(pub_src + epoch.to_bytes(8, "big", signed=True) + counter.to_bytes(8, "big"))
    top30 = int.from_bytes(h.digest()[:4], "big") >> 2
    return (top30 << 2) | (epoch % 4)


def receiver_spis(
    cluster_id: str, pub_receiver: bytes, senders: Sequence[bytes], epoch: int
) -> dict[bytes, int]:
    """SPI of every sender's SA to `pub_receiver` in `epoch`, collision-free on the receiver.

    `senders` are the public keys of all other keyed nodes of the configuration (order does not
    matter; duplicates and the receiver itself are ignored). Returns {pub_sender: spi}.
    """
    prefix = hashlib.sha256(SPI_INFO + cluster_id.encode("utf-8") + b"\0" + pub_receiver)
    taken: set[int] = set()
    out: dict[bytes, int] = {}
    for pub in sorted(set(senders) - {pub_receiver}):
        counter = 0
        spi = _spi_candidate(prefix, pub, epoch, counter)
        while spi < SPI_MIN or spi in taken:
            counter += 1
            spi = _spi_candidate(prefix, pub, epoch, counter)
        taken.add(spi)
        out[pub] = spi
    return out


def _keyed_nodes(config: Config) -> dict[str, bytes]:
    """{node: raw public key} of every node that has one; ConfigError when two share a key
    (a copy-paste: their SAs would share keys and their SPIs could not be told apart)."""
    keyed: dict[str, bytes] = {}
    owner: dict[bytes, str] = {}
    for name, node in sorted(config.nodes.items()):
        pub = node.public_key_bytes()
        if pub is None:
            continue
        if pub in owner:
            raise ConfigError([duplicate_public_key(name, owner[pub], _no_location)])
        keyed[name], owner[pub] = pub, name
    return keyed


def _public_key(config: Config, keyed: dict[str, bytes], node: str) -> bytes:
    if node not in keyed:
        carried = hosts_of_encrypted(config).get(node)
        raise ConfigError([missing_public_key(node, carried, _no_location)])
    return keyed[node]


def _no_location(path: YamlPath) -> Location:
    """compile has no source map: its diagnostics name the configuration as a whole."""
    return Location("<config>")


# --- SAs and policies -------------------------------------------------------------------------
def _state(
    src: IPAddress, dst: IPAddress, spi: int, epoch: int, secret: bytes | None, key_bits: int,
    reqid: int,
) -> XfrmState:
    return XfrmState(
        src=src, dst=dst, spi=spi, key_fp=None if secret is None else fingerprint(secret),
        reqid=reqid, key_bits=key_bits, secret=secret, epoch=epoch,
    )


def _host(addr: IPAddress) -> IPNetwork:
    """The host prefix of `addr`: /32 for IPv4, /128 for IPv6."""
    return ip_network((addr, addr.max_prefixlen))


def peer_policies(local: IPAddress, remote: IPAddress, port: int, marks: XfrmMarks) -> list[XfrmPolicy]:
    """The per-peer `out` and `in` policies that require ESP between `local` and `remote`, with
    the cluster's `marks` (reqid in the template, peer priority of `port`)."""
    prio, reqid = marks.peer_priority(port), marks.reqid
    return [
        XfrmPolicy(
            dir="out", src=_host(local), dst=_host(remote), dport=port, priority=prio,
            action="allow", tmpl=XfrmTemplate(src=local, dst=remote, reqid=reqid),
        ),
        XfrmPolicy(
            dir="in", src=_host(remote), dst=_host(local), dport=port, priority=prio,
            action="allow", tmpl=XfrmTemplate(src=remote, dst=local, reqid=reqid),
        ),
    ]


def block_policies(port: int, marks: XfrmMarks, ipv6: bool = False) -> list[XfrmPolicy]:
    """The fail-closed catch-alls: any other UDP to `port`, in or out, is blocked (the cluster's
    block priority of `port`); over the underlay's family (`ipv6`: ::/0, else 0.0.0.0/0). The
    other family needs none: an IPv6 vxlan device's UDP socket is IPV6_V6ONLY (vxlan_create_sock
    sets udp_conf.ipv6_v6only) and an IPv4 one is AF_INET, so datagrams of the other family never
    reach overlayc's socket."""
    wild, priority = (ANY6 if ipv6 else ANY), marks.block_priority(port)
    return [
        XfrmPolicy(dir=d, src=wild, dst=wild, dport=port, priority=priority, action="block")
        for d in ("out", "in")
    ]


@dataclass(frozen=True, slots=True)
class _Local:
    """What every peer's SAs of one node at one instant have in common."""

    cluster_id: str
    reqid: int
    address: IPAddress
    pub: bytes
    private_key: bytes | None
    senders: tuple[bytes, ...]
    epoch: int
    send_epoch: int
    length: int
    inbound: dict[int, dict[bytes, int]]

    def secret(self, shared: bytes | None, src: bytes, dst: bytes, epoch: int) -> bytes | None:
        if shared is None:
            return None
        return derive_sa_key(shared, self.cluster_id, src, dst, epoch, self.length)


def _peer_states(local: _Local, pub_peer: bytes, addr: IPAddress) -> list[XfrmState]:
    """Inbound peer→local SAs for e−1, e, e+1, then the outbound local→peer SA for the send
    epoch (e, or e+1 while the node has no saved counters: overlayc.apply.counters)."""
    shared = None if local.private_key is None else x25519(local.private_key, pub_peer)
    bits = local.length * 8
    states = [
        _state(addr, local.address, local.inbound[e][pub_peer], e,
               local.secret(shared, pub_peer, local.pub, e), bits, local.reqid)
        for e in (local.epoch - 1, local.epoch, local.epoch + 1)
    ]
    out = local.send_epoch
    spi_out = receiver_spis(local.cluster_id, pub_peer, local.senders, out)[local.pub]
    secret_out = local.secret(shared, local.pub, pub_peer, out)
    states.append(_state(local.address, addr, spi_out, out, secret_out, bits, local.reqid))
    return states


def compile_ipsec(
    config: Config,
    node: str,
    peers: Sequence[str],
    at: datetime,
    private_key: bytes | None,
    *,
    send_epoch: int | None = None,
) -> list[XfrmState | XfrmPolicy]:
    """Desired SAs and policies on `node` at time `at` for every peer sharing an encrypted network.

    Call it only for a node with at least one encrypted network present (compile_node does).
    `peers`: the other nodes that share with `node` an encrypted network present on both; may be
    empty, and the two block policies are emitted all the same (nothing on the encrypted port may
    go out or come in clear, even before the first peer joins).
    `private_key`: the node's raw 32-byte X25519 key, or None when unavailable: every SA and SPI
    is still produced, with `key_fp` and `secret` None (a CI plan; apply refuses it).
    `send_epoch`: the epoch of the outbound SAs, e or e+1 (None: e, the epoch of `at`); the
    inbound SAs are e−1, e, e+1 either way.

    Raises ConfigError when `node` or a peer has no public key, KeyMismatch when `private_key`
    is not the node's. Output is deterministic: per peer in name order, SAs by epoch.
    """
    keyed = _keyed_nodes(config)
    pub_me = _public_key(config, keyed, node)
    if private_key is not None:
        check_key_pair(private_key, pub_me, node)
    cid, senders = config.cluster.id, tuple(keyed.values())
    epoch = epoch_of(at, config.cluster.encryption.rotation)
    if send_epoch is not None and send_epoch not in (epoch, epoch + 1):
        raise ValueError(f"send epoch {send_epoch} is neither {epoch} nor {epoch + 1}")
    marks = marks_of(config.cluster.name)
    local = _Local(
        cluster_id=cid, reqid=marks.reqid, address=config.nodes[node].address, pub=pub_me,
        private_key=private_key,
        senders=senders, epoch=epoch, send_epoch=epoch if send_epoch is None else send_epoch,
        length=ALGORITHM_KEY_LEN[config.cluster.encryption.algorithm],
        inbound={e: receiver_spis(cid, pub_me, senders, e) for e in (epoch - 1, epoch, epoch + 1)},
    )
    port = config.cluster.encrypted_data_port
    out: list[XfrmState | XfrmPolicy] = []
    for peer in sorted(set(peers) - {node}):
        addr = config.nodes[peer].address
        out.extend(_peer_states(local, _public_key(config, keyed, peer), addr))
        out.extend(peer_policies(local.address, addr, port, marks))
    out.extend(block_policies(port, marks, local.address.version == 6))
    return out
