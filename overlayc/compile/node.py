"""One node's desired kernel state (DESIGN.md §1): `compile_node(config, assignment, node, ...)`."""

from __future__ import annotations

from datetime import datetime

from overlayc.compile.assign import Assignment
from overlayc.compile.ipsec import compile_ipsec
from overlayc.compile.naming import OFFLINE_OWNER
from overlayc.compile.networks import compile_devices, compile_endpoints, compile_remote, node_vteps
from overlayc.config.model import Config
from overlayc.errors import InputError
from overlayc.gcpause import paused_gc
from overlayc.kernel.state import KernelState


@paused_gc()
def compile_node(
    config: Config, assignment: Assignment, node: str, *, at: datetime, private_key: bytes | None,
    send_epoch: int | None = None, owner: str = OFFLINE_OWNER,
) -> KernelState:
    """The desired KernelState of `node` at time `at`.

    For each network present on the node: its sandbox, named after `owner` (the identity of the
    node's namespace, `namespace_id`; OFFLINE_OWNER for a plan made without a kernel), its bridge
    and vxlan (and gateway veth), an fdb and a neigh entry per
    endpoint of it on another node, and the netns/veth of each local managed endpoint. When an
    encrypted network is present, the SAs and policies of `compile_ipsec` for the peers (other nodes
    sharing a present encrypted network). `private_key` None leaves SA keys unknown (CI plans).
    `send_epoch`: the epoch of the outbound SAs (see compile_ipsec; None: that of `at`).
    Raises InputError when `node` is not in the config."""
    check_node(config, node)
    present = assignment.present(node)
    state = KernelState()
    vteps = node_vteps(config)
    for network in present:
        for obj in compile_devices(config, assignment, node, network, owner):
            state.add(obj)
        compile_remote(config, assignment, node, network, state.entries, vteps)
        state.touched()
    local = assignment.by_node.get(node, ())
    for obj in compile_endpoints(config, assignment, local, set(present), owner):
        state.add(obj)
    encrypted = [n for n in present if config.networks[n].is_encrypted]
    if encrypted:
        peers = ipsec_peers(assignment, node, encrypted)
        for obj in compile_ipsec(config, node, peers, at, private_key, send_epoch=send_epoch):
            state.add(obj)
    return state


def check_node(config: Config, node: str) -> None:
    """Raises InputError when `node` is not in the config (compile_node's first check)."""
    if node not in config.nodes:
        known = ", ".join(sorted(config.nodes)) or "none"
        raise InputError(f"unknown node {node!r} (nodes: {known})")


def ipsec_peers(assignment: Assignment, node: str, encrypted: list[str]) -> list[str]:
    """Sorted other nodes on which at least one of the `encrypted` networks is present."""
    peers: set[str] = set()
    for network in encrypted:
        peers |= assignment.network_nodes[network]
    peers.discard(node)
    return sorted(peers)
