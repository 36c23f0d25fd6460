"""Sandboxes on the writing side: finding the node's sandboxes and their links, making and
removing a sandbox, and writing sysctls (DESIGN.md §1; the reading side: overlayc.observe.sandbox).

A sandbox is made as `ip netns add` makes a namespace (overlayc.netlink.netns.create_netns), its
`lo` tagged `netns_tag(cluster, owner)` before it has a name; then, before any link is in it,
IPv6 is turned off (unless the network has an IPv6 subnet) for every interface that will come
(`default`) and `lo` (`all`), and IPv4 forwarding is off, as in Docker's overlay sandboxes.
"""

from __future__ import annotations

import errno as E
import os
from collections.abc import Mapping
from pathlib import Path

from overlayc.errors import OverlaycError, StepFailed
from overlayc.kernel.objects import KernelObject, Sandbox
from overlayc.kernel.ownership import LINK_GROUP, netns_tag, parse_sandbox_name
from overlayc.netlink import link as nl
from overlayc.netlink.core import attr_u32
from overlayc.netlink.link import LinkInfo
from overlayc.netlink.netns import NETNS_DIR, Namespace, create_netns, remove_netns
from overlayc.netlink.sock import NetlinkSocket
from overlayc.netlink.watch import Watches
from overlayc.observe.sandbox import FORWARDING, IPV6_OFF


def write_sysctls(ns: Namespace, values: Mapping[str, str], obj: KernelObject) -> None:
    """Write `/proc/sys` values inside `ns` (from its worker thread); an absent sysctl is skipped
    (no IPv6 in this kernel: nothing to turn off). Raises StepFailed naming the sysctl."""

    def write() -> None:
        for name, value in values.items():
            path = Path("/proc/sys", *name.split("."))
            if not path.exists():
                continue
            try:
                path.write_text(value)
            except OSError as err:
                raise StepFailed(obj, f"set {name}={value}", err.errno or E.EIO, str(err)) from None

    ns.run(write)


def sandbox_sysctls(box: Sandbox) -> dict[str, str]:
    """The sysctls that make a namespace the sandbox `box` describes."""
    off = "0" if box.ipv6 else "1"
    return {FORWARDING: "1" if box.forwarding else "0", **{name: off for name in IPV6_OFF}}


def ipv6_sysctl(ifname: str, on: bool) -> dict[str, str]:
    """The sysctl turning IPv6 on or off on one interface."""
    return {f"net.ipv6.conf.{ifname}.disable_ipv6": "0" if on else "1"}


class Places:
    """The node's sandboxes (those named for the node of namespace `owner`), a handle on each,
    and their links by name; `where[name]` is the sandbox a link is in (absent: the node's).
    `watches`: the FDB watches of the apply (a sandbox made gets one at once, one deleted
    loses its own), or None."""

    def __init__(self, owner: str, watches: Watches | None = None) -> None:
        self.owner = owner
        self.watches = watches
        self.handles: dict[str, Namespace] = {}
        self.links: dict[str, dict[str, LinkInfo]] = {}
        self.where: dict[str, str] = {}

    def names(self) -> list[str]:
        """The sandbox-shaped names in /run/netns of this node."""
        try:
            names = os.listdir(NETNS_DIR)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if (p := parse_sandbox_name(n)) is not None and p[2] == self.owner)

    def handle(self, name: str) -> Namespace:
        """The (cached) handle on sandbox `name`; EnvironmentProblem when it does not exist."""
        ns = self.handles.get(name)
        if ns is None:
            ns = self.handles[name] = Namespace(name)
        return ns

    def refresh(self) -> None:
        """Re-read the links of every sandbox of the node."""
        self.links, self.where = {}, {}
        from overlayc.observe.kernel import read_links

        for name in self.names():
            try:
                by_index, _ = read_links(self.handle(name).route)
            except (OverlaycError, OSError):  # not a namespace (a placeholder): nothing in it
                continue
            self.links[name] = {info.name: info for info in by_index.values()}
            self.where.update((link, name) for link in self.links[name])

    def forget(self, name: str) -> None:
        if self.watches is not None:
            self.watches.forget(name)
        ns = self.handles.pop(name, None)
        if ns is not None:
            ns.close()

    def close(self) -> None:
        for name in list(self.handles):
            self.forget(name)


def create_sandbox(places: Places, box: Sandbox) -> None:
    """Make the sandbox namespace `box` with its sysctls, tagged for the cluster its name
    carries and the node of `places`. Raises StepFailed."""
    parsed = parse_sandbox_name(box.name)
    if parsed is None:
        raise StepFailed(box, "create", E.EINVAL, f"{box.name} is not a sandbox name")
    try:
        create_netns(box.name, netns_tag(parsed[0], places.owner))
    except OSError as exc:
        raise StepFailed(box, "create", exc.errno or E.EIO, str(exc)) from None
    if places.watches is not None:  # from its birth on: every FDB entry in it is then known
        places.watches.made(places.handle(box.name))
    write_sysctls(places.handle(box.name), sandbox_sysctls(box), box)


def delete_sandbox(places: Places, box: Sandbox) -> None:
    """Remove sandbox `box`: first the links overlayc put in it (by link group, at once: a
    namespace's devices otherwise die with it only later, in the kernel's cleanup work, and a
    VNI still held there refuses its re-creation with EEXIST), then the namespace."""
    if box.name in places.names():
        sock: NetlinkSocket = places.handle(box.name).route
        body = nl.ifinfo(0) + attr_u32(nl.IFLA_GROUP, LINK_GROUP)
        for err, text in sock.transact([(nl.RTM_DELLINK, 0, body)]):
            if err and err != E.ENODEV:
                raise StepFailed(box, "delete its links", err, text)
    places.forget(box.name)
    try:
        remove_netns(box.name)
    except OSError as exc:
        raise StepFailed(box, "delete", exc.errno or E.EIO, str(exc)) from None
