"""Link, endpoint and netns changes, one at a time, over a raw NETLINK_ROUTE socket.

Each operation is a short sequence of requests; a failing request raises StepFailed naming the
object, so the executor can report it in words. Quirk (seen on 6.18, rtnetlink.c creates links
without looking at IFLA_IFALIAS): the alias is ignored by RTM_NEWLINK on create, so every create
is followed by an RTM_SETLINK (by name) that sets the alias — sent only after the create was
acknowledged, so a link that already existed (EEXIST, maybe foreign) is never touched.
"""

from __future__ import annotations

import errno as E
import os
from collections.abc import Sequence
from ipaddress import IPv4Interface

from overlayc.diff import Action, Change
from overlayc.errors import StepFailed
from overlayc.kernel.objects import Bridge, Endpoint, KernelObject, Netns, Vxlan
from overlayc.kernel.ownership import LINK_GROUP, NETNS_NETWORK, netns_tag, parse_alias
from overlayc.netlink import link as nl
from overlayc.netlink.core import NLM_F_CREATE, NLM_F_EXCL, attr_str, attr_u32
from overlayc.netlink.link import LinkInfo
from overlayc.netlink.netns import NETNS_DIR, Namespace, create_netns, remove_netns
from overlayc.netlink.sock import NetlinkSocket, Request
from overlayc.observe.kernel import read_links

CREATE = NLM_F_CREATE | NLM_F_EXCL


def _set_alias(name: str, alias: str) -> Request:
    return nl.RTM_SETLINK, 0, nl.ifinfo() + attr_str(nl.IFLA_IFNAME, name) + attr_str(nl.IFLA_IFALIAS, alias)


def _common(name: str, mac: str, mtu: int) -> bytes:
    """Attributes of every owned link's RTM_NEWLINK: name, MAC (never the kernel's random one, so a
    recreated device is the device it was), MTU and group."""
    return (attr_str(nl.IFLA_IFNAME, name) + nl.lladdr(mac) + attr_u32(nl.IFLA_MTU, mtu)
            + attr_u32(nl.IFLA_GROUP, LINK_GROUP))


class LinkOps:
    """Performs changes of kinds bridge, vxlan, netns, endpoint in the namespace of `rt`."""

    def __init__(self, rt: NetlinkSocket, cluster: str | None = None, owner: str = "") -> None:
        self.rt = rt
        self.owner = owner  # namespace_id of the node's namespace, in the tag of its namespaces
        # the cluster its namespaces are tagged with; None tags them "-", owned only by an
        # observe of every cluster (a destroy without --cluster, the kernel tests)
        self.cluster = cluster
        self.links: dict[str, LinkInfo] = {}
        self.addrs: dict[int, list[IPv4Interface]] = {}
        self.refresh()

    def refresh(self) -> None:
        """Re-read links (names → ifindex change when devices are recreated)."""
        by_index, self.addrs = read_links(self.rt)
        self.links = {info.name: info for info in by_index.values()}

    def index(self, name: str) -> int:
        """ifindex of an existing link (0 when absent)."""
        return self.links[name].index if name in self.links else 0

    def master(self, obj: KernelObject, name: str) -> int:
        """ifindex of the bridge `name`; StepFailed ENODEV when it is missing (index 0 would
        silently mean "no master")."""
        if name not in self.links:
            raise StepFailed(obj, f"enslave to {name}", E.ENODEV, f"bridge {name} does not exist")
        return self.links[name].index

    def _send(self, obj: KernelObject, action: str, requests: Sequence[Request],
              sock: NetlinkSocket | None = None) -> None:
        for err, text in (sock or self.rt).transact(requests):
            if err:
                raise StepFailed(obj, action, err, text)

    def run(self, change: Change) -> None:
        """Perform one change; raises StepFailed. REPLACE is delete then create."""
        before, after = change.before, change.after
        if change.action in (Action.DELETE, Action.REPLACE) and before is not None:
            self.delete(before)
        if change.action in (Action.CREATE, Action.REPLACE) and after is not None:
            self.create(after)
        if change.action == Action.UPDATE and before is not None and after is not None:
            self.update(before, after)
        self.refresh()

    # --- create -------------------------------------------------------------------------------
    def create(self, obj: KernelObject) -> None:
        if isinstance(obj, Netns):
            try:
                create_netns(obj.name, netns_tag(self.cluster or NETNS_NETWORK, self.owner))
            except OSError as exc:
                raise StepFailed(obj, "create", exc.errno or E.EIO, str(exc)) from None
            return
        if isinstance(obj, Endpoint):
            self._create_endpoint(obj)
        elif isinstance(obj, Bridge):
            self._create_bridge(obj)
        elif isinstance(obj, Vxlan):
            data = nl.vxlan_data(obj.vni, obj.local, obj.port, obj.learning, obj.proxy,
                                 (obj.udp6zerocsumtx, obj.udp6zerocsumrx))
            body = (nl.ifinfo(up=True) + _common(obj.name, obj.mac, obj.mtu)
                    + attr_u32(nl.IFLA_MASTER, self.master(obj, obj.master)) + nl.linkinfo("vxlan", data))
            self._send(obj, "create", [(nl.RTM_NEWLINK, CREATE, body)])
            self._send(obj, "set alias", [_set_alias(obj.name, obj.alias)])
        else:
            raise TypeError(f"{obj.kind} is not a link kind")

    def _create_bridge(self, obj: Bridge) -> None:
        # A bridge created with IFLA_ADDRESS keeps it (addr_assign_type NET_ADDR_SET:
        # br_stp_recalculate_bridge_id no longer copies the smallest port MAC; tested in
        # tests/test_link_mac_kernel.py).
        body = nl.ifinfo(up=True) + _common(obj.name, obj.mac, obj.mtu) + nl.linkinfo("bridge")
        self._send(obj, "create", [(nl.RTM_NEWLINK, CREATE, body)])
        # An MTU given at creation is not "set by user" for a bridge: br_mtu_auto_adjust
        # (br_if.c) then makes it follow its smallest port (seen here: an endpoint at 1400
        # pulled the bridge from 1450 to 1400). Only br_change_mtu sets
        # BROPT_MTU_SET_BY_USER, and dev_set_mtu skips it when the value does not change,
        # so we nudge the MTU by one and set it back: from then on it sticks.
        nudge = obj.mtu - 1 if obj.mtu > 68 else obj.mtu + 1
        name = attr_str(nl.IFLA_IFNAME, obj.name)
        self._send(obj, "set alias and MTU", [
            (nl.RTM_SETLINK, 0, nl.ifinfo() + name + attr_str(nl.IFLA_IFALIAS, obj.alias)
             + attr_u32(nl.IFLA_MTU, nudge)),
            (nl.RTM_SETLINK, 0, nl.ifinfo() + name + attr_u32(nl.IFLA_MTU, obj.mtu)),
        ])
        if obj.address is not None:
            self.refresh()
            body = nl.addr_body(self.index(obj.name), obj.address)
            self._send(obj, "add address", [(nl.RTM_NEWADDR, CREATE, body)])

    def _create_endpoint(self, ep: Endpoint) -> None:
        try:
            fd = os.open(os.path.join(NETNS_DIR, ep.netns), os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise StepFailed(ep, "create (open netns)", exc.errno or E.ENOENT, str(exc)) from None
        try:
            data = nl.veth_peer(ep.ifname, fd, ep.mac, ep.mtu)
            body = (nl.ifinfo(up=True) + _common(ep.host, ep.host_mac, ep.mtu)
                    + attr_u32(nl.IFLA_MASTER, self.master(ep, ep.bridge)) + nl.linkinfo("veth", data))
            self._send(ep, "create", [(nl.RTM_NEWLINK, CREATE, body)])
            self._send(ep, "set alias", [_set_alias(ep.host, ep.alias)])
        finally:
            os.close(fd)
        with Namespace(ep.netns) as ns:
            inner = ns.route
            peers, _ = read_links(inner)
            index = {i.name: i.index for i in peers.values()}
            self._send(ep, "configure inside netns", [
                (nl.RTM_NEWLINK, 0, nl.ifinfo(index.get("lo", 0), up=True)),
                (nl.RTM_NEWLINK, 0, nl.ifinfo(index[ep.ifname], up=True)),
                (nl.RTM_NEWADDR, CREATE, nl.addr_body(index[ep.ifname], ep.address)),
            ], inner)

    # --- update -------------------------------------------------------------------------------
    def update(self, before: KernelObject, after: KernelObject) -> None:
        if isinstance(after, Bridge | Vxlan) and isinstance(before, Bridge | Vxlan):
            name, master = after.name, (after.master if isinstance(after, Vxlan) else None)
            mac = after.mac if after.mac != before.mac else None
            self._setlink(after, name, after.mtu, after.alias, master, mac)
            if isinstance(after, Bridge) and isinstance(before, Bridge) and before.address != after.address:
                self._readdress(after, self.rt, self.index(name), before.address, after.address)
        elif isinstance(after, Endpoint) and isinstance(before, Endpoint):
            mac = after.host_mac if after.host_mac != before.host_mac else None
            self._setlink(after, after.host, after.mtu, after.alias, after.bridge, mac)
            with Namespace(after.netns) as ns:
                inner = ns.route
                peers, _ = read_links(inner)
                idx = next((i.index for i in peers.values() if i.name == after.ifname), 0)
                body = nl.ifinfo(idx) + attr_u32(nl.IFLA_MTU, after.mtu) + nl.lladdr(after.mac)
                self._send(after, "update inside netns", [(nl.RTM_SETLINK, 0, body)], inner)
                if before.address != after.address:
                    self._readdress(after, inner, idx, before.address, after.address)
        else:
            raise StepFailed(after, "update", E.EOPNOTSUPP, f"{after.kind} cannot be updated in place")

    def _setlink(self, obj: KernelObject, name: str, mtu: int, alias: str, master: str | None,
                 mac: str | None) -> None:
        """One RTM_SETLINK of MTU and alias, and of the master and the MAC when given (the MAC only
        when it changes: dev_set_mac_address fires NETDEV_CHANGEADDR even for the same address)."""
        body = nl.ifinfo(self.index(name)) + attr_u32(nl.IFLA_MTU, mtu) + attr_str(nl.IFLA_IFALIAS, alias)
        if mac is not None:
            body += nl.lladdr(mac)
        if master is not None:
            body += attr_u32(nl.IFLA_MASTER, self.master(obj, master))
        self._send(obj, "update", [(nl.RTM_SETLINK, 0, body)])

    def _readdress(self, obj: KernelObject, sock: NetlinkSocket, index: int,
                   old: IPv4Interface | None, new: IPv4Interface | None) -> None:
        reqs: list[Request] = []
        if old is not None:
            reqs.append((nl.RTM_DELADDR, 0, nl.addr_body(index, old)))
        if new is not None:
            reqs.append((nl.RTM_NEWADDR, CREATE, nl.addr_body(index, new)))
        self._send(obj, "change address", reqs, sock)

    # --- delete -------------------------------------------------------------------------------
    def delete(self, obj: KernelObject) -> None:
        if isinstance(obj, Netns):
            try:
                remove_netns(obj.name)
            except OSError as exc:
                raise StepFailed(obj, "delete", exc.errno or E.EIO, str(exc)) from None
            return
        name = obj.host if isinstance(obj, Endpoint) else getattr(obj, "name", "")
        info = self.links.get(name)
        if info is None:
            raise StepFailed(obj, "delete", E.ENODEV)
        if parse_alias(info.alias) is None:  # never delete what we cannot prove is ours
            raise StepFailed(obj, "delete", E.EEXIST, f"{name} carries no overlayc alias")
        self._send(obj, "delete", [(nl.RTM_DELLINK, 0, nl.ifinfo(info.index))])
