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
from ipaddress import IPv4Interface, IPv6Interface

from overlayc.apply import sandboxes as sb
from overlayc.diff import Action, Change
from overlayc.errors import StepFailed
from overlayc.kernel.objects import Bridge, Endpoint, Gateway, KernelObject, Netns, Sandbox, Vxlan
from overlayc.kernel.ownership import LINK_GROUP, NETNS_NETWORK, netns_tag, parse_alias
from overlayc.netlink import link as nl
from overlayc.netlink.core import NLM_F_CREATE, NLM_F_EXCL, attr_str, attr_u32
from overlayc.netlink.link import LinkInfo
from overlayc.netlink.netns import NETNS_DIR, Namespace, create_netns, remove_netns
from overlayc.netlink.sock import NetlinkSocket, Request
from overlayc.netlink.watch import Watches
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
    """Performs changes of kinds sandbox, bridge, vxlan, gateway, netns, endpoint for the node
    whose namespace is that of `rt` (`node`: its handle, for its sysctls), in it and in its
    sandboxes (a link's `sandbox`; "": the node's namespace). A sandbox it makes gets a watch in
    `watches` at once, when given (overlayc.netlink.watch)."""

    def __init__(self, rt: NetlinkSocket, cluster: str | None = None, owner: str = "",
                 node: Namespace | None = None, watches: Watches | None = None) -> None:
        self.rt = rt
        self.node = node
        self.owner = owner  # namespace_id of the node's namespace, in the tag of its namespaces
        # the cluster its namespaces are tagged with; None tags them "-", owned only by an
        # observe of every cluster (a destroy without --cluster, the kernel tests)
        self.cluster = cluster
        self.places = sb.Places(owner, watches)
        self.links: dict[str, LinkInfo] = {}
        self.addrs: dict[int, list[IPv4Interface]] = {}
        self.refresh()

    def refresh(self) -> None:
        """Re-read links (names → ifindex change when devices are recreated), in the node's
        namespace and in its sandboxes."""
        by_index, self.addrs = read_links(self.rt)
        self.links = {info.name: info for info in by_index.values()}
        self.places.refresh()

    def close(self) -> None:
        self.places.close()

    def context(self, sandbox: str) -> tuple[NetlinkSocket, dict[str, LinkInfo]]:
        """The route socket and the links of `sandbox` ("": the node's namespace)."""
        if not sandbox:
            return self.rt, self.links
        return self.places.handle(sandbox).route, self.places.links.get(sandbox, {})

    def index(self, name: str, sandbox: str = "") -> int:
        """ifindex of an existing link (0 when absent)."""
        links = self.context(sandbox)[1] if sandbox else self.links
        return links[name].index if name in links else 0

    def master(self, obj: KernelObject, name: str, sandbox: str = "") -> int:
        """ifindex of the bridge `name`; StepFailed ENODEV when it is missing (index 0 would
        silently mean "no master")."""
        links = self.context(sandbox)[1] if sandbox else self.links
        if name not in links:
            raise StepFailed(obj, f"enslave to {name}", E.ENODEV, f"bridge {name} does not exist")
        return links[name].index

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
        if isinstance(obj, Sandbox):
            sb.create_sandbox(self.places, obj)
            return
        if isinstance(obj, Gateway):
            self._create_gateway(obj)
            return
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
        elif isinstance(obj, Vxlan) and obj.sandbox:
            self._create_vxlan_in_sandbox(obj)
        elif isinstance(obj, Vxlan):
            data = nl.vxlan_data(obj.vni, obj.local, obj.port, obj.learning, obj.proxy,
                                 (obj.udp6zerocsumtx, obj.udp6zerocsumrx))
            body = (nl.ifinfo(up=True) + _common(obj.name, obj.mac, obj.mtu)
                    + attr_u32(nl.IFLA_MASTER, self.master(obj, obj.master)) + nl.linkinfo("vxlan", data))
            self._send(obj, "create", [(nl.RTM_NEWLINK, CREATE, body)])
            self._send(obj, "set alias", [_set_alias(obj.name, obj.alias)])
        else:
            raise TypeError(f"{obj.kind} is not a link kind")

    def _create_vxlan_in_sandbox(self, obj: Vxlan) -> None:
        """The vxlan is created by the node's socket and put into the sandbox by the same request
        (IFLA_NET_NS_FD, what `ip link add … netns SB` sends; Docker creates it and then moves
        it): vxlan_newlink binds its UDP socket in the requester's namespace (vxlan->net =
        src_net), so the socket — and XFRM on its datagrams — stays in the node's namespace,
        while the device is in the sandbox (tests/test_sandbox_kernel.py proves both)."""
        data = nl.vxlan_data(obj.vni, obj.local, obj.port, obj.learning, obj.proxy,
                             (obj.udp6zerocsumtx, obj.udp6zerocsumrx))
        fd = self.places.handle(obj.sandbox).fd()
        body = (nl.ifinfo() + _common(obj.name, obj.mac, obj.mtu) + attr_u32(nl.IFLA_NET_NS_FD, fd)
                + nl.linkinfo("vxlan", data))
        self._send(obj, "create", [(nl.RTM_NEWLINK, CREATE, body)])
        self.places.refresh()
        sock, _ = self.context(obj.sandbox)
        body = (nl.ifinfo(self.index(obj.name, obj.sandbox), up=True) + attr_str(nl.IFLA_IFALIAS, obj.alias)
                + attr_u32(nl.IFLA_MASTER, self.master(obj, obj.master, obj.sandbox)))
        self._send(obj, "enslave and set alias", [(nl.RTM_SETLINK, 0, body)], sock)

    def _create_bridge(self, obj: Bridge) -> None:
        # A bridge created with IFLA_ADDRESS keeps it (addr_assign_type NET_ADDR_SET:
        # br_stp_recalculate_bridge_id no longer copies the smallest port MAC; tested in
        # tests/test_link_mac_kernel.py).
        sock, _ = self.context(obj.sandbox)
        body = nl.ifinfo(up=True) + _common(obj.name, obj.mac, obj.mtu) + nl.linkinfo("bridge")
        self._send(obj, "create", [(nl.RTM_NEWLINK, CREATE, body)], sock)
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
        ], sock)
        if obj.address is not None:
            self.refresh()
            body = nl.addr_body(self.index(obj.name, obj.sandbox), obj.address)
            self._send(obj, "add address", [(nl.RTM_NEWADDR, CREATE, body)], sock)

    def _create_endpoint(self, ep: Endpoint) -> None:
        try:
            fd = os.open(os.path.join(NETNS_DIR, ep.netns), os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise StepFailed(ep, "create (open netns)", exc.errno or E.ENOENT, str(exc)) from None
        sock, _ = self.context(ep.sandbox)  # the host side is made where it lives
        try:
            data = nl.veth_peer(ep.ifname, fd, ep.mac, ep.mtu)
            body = (nl.ifinfo(up=True) + _common(ep.host, ep.host_mac, ep.mtu)
                    + attr_u32(nl.IFLA_MASTER, self.master(ep, ep.bridge, ep.sandbox))
                    + nl.linkinfo("veth", data))
            self._send(ep, "create", [(nl.RTM_NEWLINK, CREATE, body)], sock)
            self._send(ep, "set alias", [_set_alias(ep.host, ep.alias)], sock)
        finally:
            os.close(fd)
        with Namespace(ep.netns) as ns:
            if not ep.ipv6:  # before the interface is up: it never has a link-local address
                sb.write_sysctls(ns, sb.ipv6_sysctl(ep.ifname, False), ep)
            inner = ns.route
            peers, _ = read_links(inner)
            index = {i.name: i.index for i in peers.values()}
            self._send(ep, "configure inside netns", [
                (nl.RTM_NEWLINK, 0, nl.ifinfo(index.get("lo", 0), up=True)),
                (nl.RTM_NEWLINK, 0, nl.ifinfo(index[ep.ifname], up=True)),
                *[(nl.RTM_NEWADDR, CREATE, nl.addr_body(index[ep.ifname], a))
                  for a in (ep.address, ep.address6) if a is not None],
            ], inner)

    # --- update -------------------------------------------------------------------------------
    def update(self, before: KernelObject, after: KernelObject) -> None:
        if isinstance(after, Sandbox):
            sb.write_sysctls(self.places.handle(after.name), sb.sandbox_sysctls(after), after)
        elif isinstance(after, Gateway) and isinstance(before, Gateway):
            self._update_gateway(before, after)
        elif isinstance(after, Bridge | Vxlan) and isinstance(before, Bridge | Vxlan):
            name, master = after.name, (after.master if isinstance(after, Vxlan) else None)
            mac = after.mac if after.mac != before.mac else None
            self._setlink(after, name, after.mtu, after.alias, master, mac, after.sandbox)
            if isinstance(after, Bridge) and isinstance(before, Bridge) and before.address != after.address:
                sock = self.context(after.sandbox)[0]
                self._readdress(after, sock, self.index(name, after.sandbox), before.address, after.address)
        elif isinstance(after, Endpoint) and isinstance(before, Endpoint):
            self._update_endpoint(before, after)
        else:
            raise StepFailed(after, "update", E.EOPNOTSUPP, f"{after.kind} cannot be updated in place")

    def _update_endpoint(self, before: Endpoint, after: Endpoint) -> None:
        """The host side's MTU, alias, master and MAC; inside the netns the interface's MTU and
        MAC, IPv6 on or off, and its addresses."""
        mac = after.host_mac if after.host_mac != before.host_mac else None
        self._setlink(after, after.host, after.mtu, after.alias, after.bridge, mac, after.sandbox)
        with Namespace(after.netns) as ns:
            inner = ns.route
            peers, _ = read_links(inner)
            idx = next((i.index for i in peers.values() if i.name == after.ifname), 0)
            six = before.address6 != after.address6
            # the old IPv6 address goes while IPv6 is still on: disable_ipv6=1 removes every IPv6
            # address itself, and a delete after it fails ("ipv6: address not found")
            if six and before.address6 is not None:
                self._readdress(after, inner, idx, before.address6, None)
            if before.ipv6 != after.ipv6:
                sb.write_sysctls(ns, sb.ipv6_sysctl(after.ifname, after.ipv6), after)
            body = nl.ifinfo(idx) + attr_u32(nl.IFLA_MTU, after.mtu) + nl.lladdr(after.mac)
            self._send(after, "update inside netns", [(nl.RTM_SETLINK, 0, body)], inner)
            if before.address != after.address:
                self._readdress(after, inner, idx, before.address, after.address)
            if six and after.address6 is not None:
                self._readdress(after, inner, idx, None, after.address6)

    def _setlink(self, obj: KernelObject, name: str, mtu: int, alias: str, master: str | None,
                 mac: str | None, sandbox: str = "") -> None:
        """One RTM_SETLINK of MTU and alias, and of the master and the MAC when given (the MAC only
        when it changes: dev_set_mac_address fires NETDEV_CHANGEADDR even for the same address),
        of link `name` in `sandbox` ("": the node's namespace)."""
        body = (nl.ifinfo(self.index(name, sandbox)) + attr_u32(nl.IFLA_MTU, mtu)
                + attr_str(nl.IFLA_IFALIAS, alias))
        if mac is not None:
            body += nl.lladdr(mac)
        if master is not None:
            body += attr_u32(nl.IFLA_MASTER, self.master(obj, master, sandbox))
        self._send(obj, "update", [(nl.RTM_SETLINK, 0, body)], self.context(sandbox)[0])

    def _readdress(self, obj: KernelObject, sock: NetlinkSocket, index: int,
                   old: IPv4Interface | IPv6Interface | None,
                   new: IPv4Interface | IPv6Interface | None) -> None:
        reqs: list[Request] = []
        if old is not None:
            reqs.append((nl.RTM_DELADDR, 0, nl.addr_body(index, old)))
        if new is not None:
            reqs.append((nl.RTM_NEWADDR, CREATE, nl.addr_body(index, new)))
        self._send(obj, "change address", reqs, sock)

    # --- delete -------------------------------------------------------------------------------
    def delete(self, obj: KernelObject) -> None:
        if isinstance(obj, Sandbox):
            sb.delete_sandbox(self.places, obj)
            return
        if isinstance(obj, Netns):
            try:
                remove_netns(obj.name)
            except OSError as exc:
                raise StepFailed(obj, "delete", exc.errno or E.EIO, str(exc)) from None
            return
        name = obj.host if isinstance(obj, Endpoint) else getattr(obj, "name", "")
        sandbox = "" if isinstance(obj, Gateway) else getattr(obj, "sandbox", "")
        sock, links = self.context(sandbox)
        info = links.get(name)
        if info is None:
            raise StepFailed(obj, "delete", E.ENODEV)
        if parse_alias(info.alias) is None:  # never delete what we cannot prove is ours
            raise StepFailed(obj, "delete", E.EEXIST, f"{name} carries no overlayc alias")
        self._send(obj, "delete", [(nl.RTM_DELLINK, 0, nl.ifinfo(info.index))], sock)

    # --- gateway ------------------------------------------------------------------------------
    def _create_gateway(self, gw: Gateway) -> None:
        """The node's side `gw.name` with the address (IPv6 off unless `gw.ipv6`), its peer made
        directly in the sandbox and enslaved to the network's bridge there."""
        fd = self.places.handle(gw.sandbox).fd()
        data = nl.veth_peer(gw.peer, fd, gw.peer_mac, gw.mtu)
        body = nl.ifinfo() + _common(gw.name, gw.mac, gw.mtu) + nl.linkinfo("veth", data)
        self._send(gw, "create", [(nl.RTM_NEWLINK, CREATE, body)])
        self.refresh()
        sock, _ = self.context(gw.sandbox)
        body = (nl.ifinfo(self.index(gw.peer, gw.sandbox), up=True) + attr_str(nl.IFLA_IFALIAS, gw.alias)
                + attr_u32(nl.IFLA_MASTER, self.master(gw, gw.bridge, gw.sandbox)))
        self._send(gw, "enslave in the sandbox", [(nl.RTM_SETLINK, 0, body)], sock)
        if not gw.ipv6 and self.node is not None:
            sb.write_sysctls(self.node, sb.ipv6_sysctl(gw.name, False), gw)
        index = self.index(gw.name)
        self._send(gw, "set alias, address, up", [
            (nl.RTM_SETLINK, 0, nl.ifinfo(index, up=True) + attr_str(nl.IFLA_IFALIAS, gw.alias)),
            (nl.RTM_NEWADDR, CREATE, nl.addr_body(index, gw.address)),
        ])

    def _update_gateway(self, before: Gateway, after: Gateway) -> None:
        mac = after.mac if after.mac != before.mac else None
        self._setlink(after, after.name, after.mtu, after.alias, None, mac)
        peer_mac = after.peer_mac if after.peer_mac != before.peer_mac else None
        self._setlink(after, after.peer, after.mtu, after.alias, after.bridge, peer_mac, after.sandbox)
        if before.address != after.address:
            self._readdress(after, self.rt, self.index(after.name), before.address, after.address)
        if before.ipv6 != after.ipv6 and self.node is not None:
            sb.write_sysctls(self.node, sb.ipv6_sysctl(after.name, after.ipv6), after)
