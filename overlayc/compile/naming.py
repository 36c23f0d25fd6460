"""Deterministic kernel names of compiled objects (pure; ownership tags: kernel/ownership.py).

Every link name is at most 15 characters (IFNAMSIZ − 1): bridge `ovb<vni>` and vxlan `ovx<vni>`
(a VNI has at most 8 digits, so at most 11 chars), gateway veth `ovg<vni>` / `ovgp<vni>`, veth
host side `ov` + 10 hex digits. Link names stay unique per node although they live in sandboxes.
"""

from __future__ import annotations

import hashlib
from itertools import compress, repeat
from operator import and_, itemgetter, not_

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


def natural_keys(names: list[str]) -> dict[str, tuple[str, int, str]]:
    """`{name: natural_key(name) for name in names}` by C-level maps over the names (task names:
    `<service>.<n>`, and `<service>.<node>` for a global service's)."""
    parts = list(map(str.rpartition, names, repeat(".")))
    bases, suffixes = list(map(itemgetter(0), parts)), list(map(itemgetter(2), parts))
    dotted, digits = list(map(bool, bases)), list(map(str.isdigit, suffixes))
    numbered = list(map(and_, dotted, digits))  # (base, n, "")
    named = list(map(and_, dotted, map(not_, digits)))  # (base, -1, suffix)
    out = dict(zip(compress(names, numbered),
                   zip(compress(bases, numbered), map(int, compress(suffixes, numbered)), repeat(""),
                       strict=False),  # `repeat` never ends
                   strict=True))
    out.update(zip(compress(names, named),
                   zip(compress(bases, named), repeat(-1), compress(suffixes, named), strict=False),
                   strict=True))
    undotted = list(compress(names, map(not_, dotted)))  # (name, -1, "")
    out.update(zip(undotted, zip(undotted, repeat(-1), repeat(""), strict=False), strict=True))
    return out
