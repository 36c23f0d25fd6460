"""Two clusters' XFRM objects in one node namespace, applied the way `apply` does (observe,
diff, order, execute, verify): shared by the kernel tests (policies) and the ESP lab (SAs too)."""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network

from overlayc.apply.kernel import KernelHandle
from overlayc.compile.ipsec import block_policies, peer_policies
from overlayc.diff import Change, diff
from overlayc.kernel.objects import Bridge, Fdb, KernelObject, Neigh, Vxlan, XfrmState, fingerprint
from overlayc.kernel.ownership import network_alias
from overlayc.kernel.state import KernelState
from overlayc.kernel.xfrm_marks import XfrmMarks, marks_of
from overlayc.plan import order
from tests.support.host import run_in

LOCAL, PEER = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")
ANY = IPv4Network("0.0.0.0/0")
TIMERS = re.compile(r"\b\w+_timer +[0-9.]+")


def sas(vni: int, reqid: int) -> list[KernelObject]:
    """One inbound and one outbound ESP SA with PEER (SPIs and keys of their own per `vni`)."""
    out: list[KernelObject] = []
    for n, (src, dst) in enumerate(((PEER, LOCAL), (LOCAL, PEER))):
        secret = bytes([vni & 0xFF, n]) * 10
        out.append(XfrmState(src=src, dst=dst, spi=0x10000 + vni * 2 + n, key_fp=fingerprint(secret),
                             reqid=reqid, secret=secret))
    return out


def cluster_state(cluster: str, vni: int, port: int, marks: XfrmMarks | None = None, *,
                  with_sas: bool = False) -> KernelState:
    """A node's desired state for `cluster`: one network's bridge and vxlan on encrypted data
    port `port` with a remote endpoint's fdb and neighbour entries, the per-peer policies to
    PEER and the block policies (with `marks`, default the cluster's own); `with_sas`: and its
    SAs with PEER (the ESP lab only)."""
    m = marks or marks_of(cluster)
    alias = network_alias(cluster, "n1")
    mac = f"0e:00:00:00:{vni >> 8 & 0xFF:02x}:{vni & 0xFF:02x}"
    br = Bridge(name=f"ovb{vni}", mac=mac, mtu=1416, alias=alias)
    vx = Vxlan(name=f"ovx{vni}", mac=mac.replace("0e:00", "0e:01"), vni=vni, local=LOCAL, port=port,
               mtu=1416, master=br.name, alias=alias)
    remote = f"02:42:0a:{vni >> 8 & 0xFF:02x}:{vni & 0xFF:02x}:02"
    entries: list[KernelObject] = [Fdb(vx.name, remote, PEER),
                                   Neigh(vx.name, IPv4Address(f"10.{vni % 250}.0.2"), remote)]
    objs: list[KernelObject] = [br, vx, *entries, *peer_policies(LOCAL, PEER, port, m),
                                *block_policies(port, m), *(sas(vni, m.reqid) if with_sas else ())]
    return KernelState(objs)


def apply(ns: str, cluster: str, desired: KernelState) -> int:
    """What `apply` does, short of SAs: observe the cluster, diff, order, execute; verify the
    result is the desired state. Returns the number of changes."""
    with KernelHandle(ns, cluster) as h:
        changes = order(diff(desired, h.observe()), LOCAL)
        h.execute(changes)
        assert diff(desired, h.observe()) == [], "apply left a difference"
    return len(changes)


def plan(ns: str, cluster: str, desired: KernelState) -> list[Change]:
    with KernelHandle(ns, cluster) as h:
        return list(diff(desired, h.observe()))


def policies(ns: str) -> str:
    return run_in(ns, "ip", "xfrm", "policy").stdout


def views(ns: str) -> tuple[str, ...]:
    """The iproute2 views a cluster's apply or destroy must leave byte-identical for another
    (the bridge's running timers, which tick by themselves, left out)."""
    out = tuple(run_in(ns, *cmd).stdout for cmd in (
        ("ip", "-d", "link"), ("bridge", "fdb"), ("ip", "neigh"), ("ip", "xfrm", "policy"),
        ("ip", "xfrm", "state")))
    return (TIMERS.sub("", out[0]), *out[1:])


