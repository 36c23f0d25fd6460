"""What the cases feed the kernel: one node with N remote endpoints, XFRM peers, many networks.

The same objects are written three ways: by overlayc (Changes), as iproute2 batch lines, and as
pre-packed netlink messages for the raw sender (bench/rawnl.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from overlayc.compile import Assignment, Lock, compile_node, resolve
from overlayc.config.model import Config
from overlayc.diff import Action, Change, Reason
from overlayc.kernel.objects import (
    Bridge,
    Fdb,
    IPAddress,
    KernelObject,
    Neigh,
    Vxlan,
    XfrmPolicy,
    XfrmTemplate,
)
from overlayc.kernel.ownership import PRIO_BLOCK, PRIO_PEER, REQID
from overlayc.kernel.state import KernelState
from tests.support.layout import flat

CLUSTER = "ocb"
NODE = "node1"
AT = datetime(2026, 1, 1, tzinfo=UTC)
REMOTE_NODES = 32


def endpoints_config(n: int) -> dict[str, Any]:
    """A cluster whose node1 sees `n` remote endpoints on one network (tasks on 32 other nodes)."""
    nodes = {f"node{i}": {"address": f"10.0.0.{i}"} for i in range(1, REMOTE_NODES + 2)}
    return {
        "version": 1,
        "cluster": {"name": CLUSTER, "id": "ocb-bench"},
        "nodes": nodes,
        "networks": {"big": {"subnet": "172.16.0.0/14", "all_nodes": True}},
        "services": {"app": {"replicas": n, "networks": ["big"], "managed": False,
                             "constraints": [f"node.hostname != {NODE}"]}},
    }


def create(obj: KernelObject) -> Change:
    return Change(Action.CREATE, obj.key, None, obj, Reason.NOT_IN_KERNEL)


@dataclass
class Endpoints:
    """node1 of `endpoints_config(n)`: resolved once; `desired()` compiles (that is timed)."""

    n: int

    @cached_property
    def config(self) -> Config:
        return Config.model_validate(endpoints_config(self.n))

    @cached_property
    def assignment(self) -> Assignment:
        assignment, _lock, diags = resolve(self.config, Lock())
        if diags:
            raise RuntimeError(f"bench config does not resolve: {diags[0]}")
        return assignment

    @property
    def local(self) -> IPAddress:
        return self.config.nodes[NODE].address

    def desired(self) -> KernelState:
        """The node's desired state in the layout before sandboxes (tests.support.layout): the
        in-process cases time the FDB/neighbour paths, the same in both layouts, against
        `ip -n NS`; the process case (bench.case_process) runs the sandbox layout."""
        return flat(compile_node(self.config, self.assignment, NODE, at=AT, private_key=None))

    @cached_property
    def state(self) -> KernelState:
        return self.desired()

    @cached_property
    def links(self) -> list[Bridge | Vxlan]:
        return [o for o in self.state if isinstance(o, Bridge | Vxlan)]

    @cached_property
    def entries(self) -> list[Fdb | Neigh]:
        return [o for o in self.state if isinstance(o, Fdb | Neigh)]

    @property
    def vxlan(self) -> str:
        return next(o.name for o in self.links if isinstance(o, Vxlan))

    def neigh_lines(self) -> str:
        """`ip -batch` input: every neighbour entry, as `ip neigh replace` (what overlayc sends)."""
        return "".join(f"neigh replace {o.dst} lladdr {o.lladdr} dev {o.dev} nud permanent\n"
                       for o in self.entries if isinstance(o, Neigh))

    def fdb_lines(self) -> str:
        """`bridge -batch` input: every fdb entry, as `bridge fdb replace ... self permanent`."""
        return "".join(f"fdb replace {o.lladdr} dev {o.dev} dst {o.dst} self permanent\n"
                       for o in self.entries if isinstance(o, Fdb))


# --- raw RTM_NEWNEIGH, packed here (independently of overlayc.netlink) -------------------------
RTM_NEWNEIGH = 28
NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_CREATE = 0x1, 0x4, 0x100, 0x400
AF_INET, AF_BRIDGE = 2, 7
NDA_DST, NDA_LLADDR = 1, 2
NTF_SELF, NUD_NOARP, NUD_PERMANENT = 0x02, 0x40, 0x80
_FDB = struct.Struct("=IHHII" "B3xiHBB" "HH6s2x" "HH4s")
_NEIGH = struct.Struct("=IHHII" "B3xiHBB" "HH4s" "HH6s2x")
_FLAGS = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE


def pack_entries(entries: list[Fdb | Neigh], ifindex: int) -> list[bytes]:
    """One complete RTM_NEWNEIGH message (header included, seq = position + 1) per entry."""
    out = []
    for seq, o in enumerate(entries, start=1):
        mac = bytes.fromhex(o.lladdr.replace(":", ""))
        if isinstance(o, Fdb):
            out.append(_FDB.pack(_FDB.size, RTM_NEWNEIGH, _FLAGS, seq, 0, AF_BRIDGE, ifindex,
                                 NUD_NOARP | NUD_PERMANENT, NTF_SELF, 0, 10, NDA_LLADDR, mac,
                                 8, NDA_DST, o.dst.packed))
        else:
            out.append(_NEIGH.pack(_NEIGH.size, RTM_NEWNEIGH, _FLAGS, seq, 0, AF_INET, ifindex,
                                   NUD_PERMANENT, 0, 0, 8, NDA_DST, o.dst.packed, 10, NDA_LLADDR, mac))
    return out


# --- XFRM: per-peer in/out ESP policies + the two fail-closed blocks --------------------------
XFRM_PORT = 4790
ANY = IPv4Network("0.0.0.0/0")
LOCAL = IPv4Address("10.0.0.1")


def xfrm_policies(peers: int, local: IPv4Address = LOCAL) -> list[XfrmPolicy]:
    """What compile_ipsec makes for `peers` peers on the encrypted data port."""
    out = [XfrmPolicy(d, ANY, ANY, XFRM_PORT, PRIO_BLOCK, "block") for d in ("out", "in")]
    for i in range(peers):
        peer = IPv4Address(int(IPv4Address("10.1.0.0")) + i + 1)
        out.append(XfrmPolicy("out", IPv4Network(f"{local}/32"), IPv4Network(f"{peer}/32"), XFRM_PORT,
                              PRIO_PEER, "allow", XfrmTemplate(local, peer)))
        out.append(XfrmPolicy("in", IPv4Network(f"{peer}/32"), IPv4Network(f"{local}/32"), XFRM_PORT,
                              PRIO_PEER, "allow", XfrmTemplate(peer, local)))
    return out


def xfrm_lines(policies: list[XfrmPolicy]) -> str:
    """`ip -batch` input adding the same policies (`ip xfrm policy add ...`)."""
    lines = []
    for p in policies:
        head = (f"xfrm policy add src {p.src} dst {p.dst} proto udp dport {p.dport} dir {p.dir} "
                f"priority {p.priority}")
        if p.tmpl is None:
            lines.append(f"{head} action block\n")
        else:
            lines.append(f"{head} tmpl src {p.tmpl.src} dst {p.tmpl.dst} proto esp reqid {REQID} "
                         "mode transport\n")
    return "".join(lines)


# --- networks for teardown ---------------------------------------------------------------------
def network_link_lines(networks: int, group: int, cluster: str = CLUSTER) -> str:
    """`ip -batch` input making `networks` bridge + vxlan pairs tagged as overlayc's (alias, group).

    The alias is set by a separate `link set` (the kernel ignores IFLA_IFALIAS on create)."""
    lines = []
    for i in range(1, networks + 1):
        vni, alias = 4096 + i, f"overlayc:{cluster}:net{i}"
        lines.append(f"link add ovb{vni} group {group} type bridge\n")
        lines.append(f"link add ovx{vni} group {group} type vxlan id {vni} local 10.0.0.1 dstport 4789 "
                     "nolearning proxy\n")
        lines.append(f"link set ovx{vni} master ovb{vni}\n")
        lines.append(f"link set ovb{vni} alias {alias}\nlink set ovx{vni} alias {alias}\n")
    return "".join(lines)


def network_del_lines(networks: int) -> str:
    return "".join(f"link del ovx{4096 + i}\nlink del ovb{4096 + i}\n" for i in range(1, networks + 1))
