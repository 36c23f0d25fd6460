"""Deterministic kernel names of compiled objects (pure; ownership tags: kernel/ownership.py).

Every link name is at most 15 characters (IFNAMSIZ − 1): bridge `ovb<vni>` and vxlan `ovx<vni>`
(a VNI has at most 8 digits, so at most 11 chars), gateway veth `ovg<vni>` / `ovgp<vni>`, veth
host side `ov` + 10 hex digits. Link names stay unique per node although they live in sandboxes.
"""

from __future__ import annotations

import hashlib

from overlayc.kernel.ownership import OFFLINE_OWNER as OFFLINE_OWNER
from overlayc.kernel.ownership import sandbox_name as sandbox_name


def bridge_name(vni: int) -> str:
    """Name of the bridge of the network with VXLAN id `vni`."""
    return f"ovb{vni}"


def vxlan_name(vni: int) -> str:
    """Name of the VXLAN device of the network with VXLAN id `vni`."""
    return f"ovx{vni}"


def gateway_names(vni: int) -> tuple[str, str]:
    """(node side, sandbox side) of the gateway veth of the network with VXLAN id `vni`."""
    return f"ovg{vni}", f"ovgp{vni}"


def netns_name(cluster: str, endpoint: str) -> str:
    """Named netns of a managed endpoint or task: `<cluster>-<endpoint or task name>`."""
    return f"{cluster}-{endpoint}"


def host_ifname(netns: str, network: str) -> str:
    """Host side of the veth pair joining `netns` to `network`: `ov` + 10 hex digits.

    The hash input separates the two names with ':' (which neither may contain), so that
    different (netns, network) pairs never hash the same text."""
    digest = hashlib.sha256(f"{netns}:{network}".encode()).hexdigest()
    return "ov" + digest[:10]


def container_ifname(index: int) -> str:
    """Interface name inside the netns: `eth<i>`, i = index in the endpoint's sorted networks."""
    return f"eth{index}"


def natural_key(name: str) -> tuple[str, int, str]:
    """Sort key placing `web.2` before `web.10` (tasks numbered as Docker does)."""
    base, _, suffix = name.rpartition(".")
    if base and suffix.isdigit():
        return (base, int(suffix), "")
    return (base or name, -1, suffix if base else "")
