"""Ownership and identity: how overlayc marks what it owns in the kernel, and how it names it.

Ownership (DESIGN.md §1): every owned link carries an IFLA_IFALIAS tag
`overlayc:<cluster>:<network>[:<netns>]` (built by `network_alias` / `endpoint_alias`, read back by
`parse_alias`) and sits in `LINK_GROUP`; fdb/neigh entries live on owned vxlan devices; XFRM SAs,
policy templates and policy priorities carry their cluster's marks, and a policy is owned only in
exactly the shape overlayc writes (overlayc.kernel.xfrm_marks). Anything without these marks is
foreign and never touched.

Identity: every kernel object has a `Key` (names, never ifindex); `key_text` is its one text form
(`vxlan ovx4096`), used wherever a key is shown to a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

ALIAS_PREFIX = "overlayc:"  # IFLA_IFALIAS of every owned link: "overlayc:<cluster>:<network>[:<netns>]"
LINK_GROUP = 0x6F76  # IFLA_GROUP of every owned link ("ov"), so all can be removed in one request
# The XFRM marks of the release before per-cluster marks (overlayc.kernel.xfrm_marks.LEGACY): the
# same for every cluster. Nodes it applied are moved to their cluster's marks by one apply.
REQID = 0x6F7663  # reqid of every SA and policy template ("ovc")
PRIO_PEER = 0x6F00  # per-peer ESP policies
PRIO_BLOCK = 0x6F10  # fail-closed catch-all block policies (numerically larger = evaluated later)

Key: TypeAlias = tuple[str, ...]


def key_text(key: Key) -> str:
    """A key as people read it: its parts joined by spaces (`fdb ovx4096 0e:… 10.0.0.2`)."""
    return " ".join(key)


@dataclass(frozen=True, slots=True)
class Alias:
    """A parsed ownership tag `overlayc:<cluster>:<network>[:<netns>]`."""

    cluster: str
    network: str
    netns: str | None


NETNS_NETWORK = "-"  # the network field of a namespace's tag (on its `lo`): never a network name


def netns_tag(cluster: str, owner: str) -> str:
    """IFLA_IFALIAS of `lo` inside a namespace overlayc made: `overlayc:<cluster>:-:<owner>`,
    `owner` naming the node's own namespace (`namespace_id`): /run/netns is shared by every
    namespace of the machine, so a lab of several nodes must not take each other's. Set before
    the namespace has a name, so a namespace overlayc made is provably its own from the start."""
    return f"{ALIAS_PREFIX}{cluster}:{NETNS_NETWORK}:{owner}"


OFFLINE_OWNER = "ns0"  # the node-namespace identity of a plan made without a kernel (no inode is 0)


def sandbox_name(cluster: str, network: str, owner: str) -> str:
    """Named netns of `network`'s sandbox on the node whose namespace is `owner` (`ns<inode>`,
    `namespace_id`): `<cluster>-sb.<network>.<owner>`.

    /run/netns is shared by every namespace of the machine, so the name carries the node's own
    namespace identity: two node namespaces never pick the same name. It never equals an endpoint's
    (`<cluster>-<endpoint>`: an endpoint name has no '.', a task's only `.<digits>` at its end)."""
    return f"{cluster}{SANDBOX_MARK}{network}.{owner}"


SANDBOX_MARK = "-sb."  # `<cluster>-sb.<network>.<owner>`: no endpoint namespace name contains it


def is_sandbox_name(name: str) -> bool:
    """Whether a /run/netns name has the shape of a sandbox's (of any node)."""
    return SANDBOX_MARK in name


def parse_sandbox_name(name: str) -> tuple[str, str, str] | None:
    """(cluster, network, owner) of a sandbox name (`sandbox_name`'s inverse), or None."""
    cluster, mark, rest = name.partition(SANDBOX_MARK)
    network, dot, owner = rest.rpartition(".")
    if not (cluster and mark and network and dot and owner) or "." in network:
        return None
    return cluster, network, owner


def network_alias(cluster: str, network: str) -> str:
    """IFLA_IFALIAS of the bridge and the vxlan of `network`: `overlayc:<cluster>:<network>`."""
    return f"{ALIAS_PREFIX}{cluster}:{network}"


def endpoint_alias(cluster: str, network: str, netns: str) -> str:
    """IFLA_IFALIAS of a veth host side: `overlayc:<cluster>:<network>:<netns>`."""
    return f"{ALIAS_PREFIX}{cluster}:{network}:{netns}"


def parse_alias(alias: str) -> Alias | None:
    """The tag in an IFLA_IFALIAS, or None when the link is not overlayc's."""
    if not alias.startswith(ALIAS_PREFIX):
        return None
    parts = alias[len(ALIAS_PREFIX):].split(":")
    if len(parts) not in (2, 3) or not all(parts):
        return None
    return Alias(parts[0], parts[1], parts[2] if len(parts) == 3 else None)
