"""observe: the live kernel (over netlink) → Observed. The only reading side effects.

What is overlayc's is read in full and normalised exactly as compile normalises it (lower-case
MACs, `ipaddress` objects), so an applied state diffs empty. Of everything else only what is
needed to detect a collision with a desired object is kept (`Observed.foreign*`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from ipaddress import IPv4Interface, IPv6Interface

from overlayc.errors import DumpInterrupted, EnvironmentProblem, OverlaycError
from overlayc.gcpause import paused_gc
from overlayc.kernel.entries import Entries
from overlayc.kernel.objects import Bridge, Endpoint, KernelObject, Netns, Vxlan
from overlayc.kernel.ownership import Alias, Key, is_sandbox_name, parse_alias, parse_sandbox_name
from overlayc.kernel.state import KernelState, Observed
from overlayc.netlink import link as nl_link
from overlayc.netlink import neigh as nl_neigh
from overlayc.netlink.entrydump import fdb_keys, neigh_macs
from overlayc.netlink.link import LinkInfo
from overlayc.netlink.netns import NETNS_DIR, Namespace, NamespaceRef, namespace_id, opened
from overlayc.netlink.parallel import both
from overlayc.netlink.sock import NetlinkSocket, Parse, parse_dump
from overlayc.netlink.watch import EntryWatch, Watches
from overlayc.observe import prefetch
from overlayc.observe.sandbox import (
    Sandboxes,
    read_gateway,
    read_sandbox,
    tag_problem,
)
from overlayc.observe.xfrm import observe_xfrm, scope_for


def read_links(rt: NetlinkSocket) -> tuple[dict[int, LinkInfo], dict[int, list[IPv4Interface]]]:
    """Every link of the socket's namespace by ifindex, and its IPv4 addresses by ifindex."""
    links = {}
    for msg in rt.dump(nl_link.RTM_GETLINK, nl_link.ifinfo()):
        if msg.type == nl_link.RTM_NEWLINK:
            info = nl_link.decode_link(msg.body)
            links[info.index] = info
    addrs: dict[int, list[IPv4Interface]] = {}
    body = nl_link.IFADDRMSG.pack(nl_link.AF_INET, 0, 0, 0, 0)
    for msg in rt.dump(nl_link.RTM_GETADDR, body):
        got = nl_link.decode_addr(msg.body) if msg.type == nl_link.RTM_NEWADDR else None
        if got is not None:
            addrs.setdefault(got[0], []).append(got[1])
    return links, addrs


def _owner(info: LinkInfo, cluster: str | None) -> tuple[Alias | None, str | None]:
    """(tag, None) for a link we observe, (None, description) for one we do not own."""
    tag = parse_alias(info.alias)
    kind = info.kind or "link"
    if tag is None or info.kind not in ("bridge", "vxlan", "veth"):
        return None, f"{kind}, not overlayc's"
    if cluster is not None and tag.cluster != cluster:
        return None, f"{kind}, overlayc's but of cluster {tag.cluster!r}"
    return tag, None


def clusters_seen(links: Iterable[LinkInfo]) -> set[str]:
    """The clusters whose ownership tag is on one of `links`: the clusters present on the node,
    whose XFRM marks are known (overlayc.observe.xfrm.scope_for)."""
    return {tag.cluster for info in links if (tag := parse_alias(info.alias)) is not None}


def _link_object(info: LinkInfo, links: dict[int, LinkInfo],
                 addrs: dict[int, list[IPv4Interface]]) -> Bridge | Vxlan | None:
    if info.kind == "bridge":
        mine = sorted(addrs.get(info.index, []))
        return Bridge(name=info.name, mac=info.mac, mtu=info.mtu, alias=info.alias,
                      address=mine[0] if mine else None)
    vx = info.vxlan
    if info.kind == "vxlan" and vx is not None and vx.local is not None:
        master = links[info.master].name if info.master in links else ""
        return Vxlan(name=info.name, mac=info.mac, vni=vx.vni, local=vx.local, port=vx.port, mtu=info.mtu,
                     master=master, alias=info.alias, learning=vx.learning, proxy=vx.proxy,
                     udp6zerocsumtx=vx.udp6zerocsumtx, udp6zerocsumrx=vx.udp6zerocsumrx)
    return None


def read_endpoint(host: LinkInfo, tag: Alias, links: dict[int, LinkInfo]) -> tuple[list[KernelObject], str]:
    """(Netns + Endpoint, "") for an owned host-side veth, its peer read inside `tag.netns`; or
    (what is left, why it is broken) when the namespace, the peer or its address is gone: such a
    veth is then reported as a foreign link, so a plan names it instead of failing on EEXIST."""
    ns = tag.netns
    if ns is None or not os.path.exists(os.path.join(NETNS_DIR, ns)):
        return [], f"veth tagged as overlayc's, but its namespace {ns} is gone"
    with Namespace(ns) as inner:
        peer_links, peer_addrs = read_links(inner.route)
        peer = peer_links.get(host.peer)
        addr = sorted(peer_addrs.get(peer.index, [])) if peer is not None else []
        addr6 = read_global_ipv6(inner.route, peer.index) if peer is not None and peer.ipv6 else []
    if peer is None or not (addr or addr6):
        return [Netns(ns)], f"veth tagged as overlayc's, but its peer in {ns} is gone or has no address"
    bridge = links[host.master].name if host.master in links else ""
    return [Netns(ns), Endpoint(netns=ns, ifname=peer.name, host=host.name, host_mac=host.mac,
                                bridge=bridge, address=addr[0] if addr else None, mac=peer.mac, mtu=peer.mtu,
                                alias=host.alias, ipv6=peer.ipv6, address6=addr6[0] if addr6 else None)], ""


def read_global_ipv6(rt: NetlinkSocket, index: int) -> list[IPv6Interface]:
    """The IPv6 addresses of link `index`, sorted, without link-local ones (every interface with
    IPv6 on has one of its own, fe80::/64 from its MAC; overlayc never configures them)."""
    body = nl_link.IFADDRMSG.pack(nl_link.AF_INET6, 0, 0, 0, index)
    out = []
    for msg in rt.dump(nl_link.RTM_GETADDR, body):
        got = nl_link.decode_any_addr(msg.body) if msg.type == nl_link.RTM_NEWADDR else None
        address = got[1] if got is not None and got[0] == index else None
        if isinstance(address, IPv6Interface) and not address.is_link_local:
            out.append(address)
    return sorted(out)


def read_fdb_neigh(ns: Namespace, vxlans: dict[int, str], into: Entries,
                   prefetched: prefetch.Dumps | None = None, watch: EntryWatch | None = None) -> None:
    """Permanent `self` FDB entries with a dst, and permanent neighbours, on the given devices,
    written into `into` as compact keys (overlayc.kernel.entries); none given, as in a node's
    namespace whose networks all live in sandboxes: no dump. Anything else on those devices
    (learned, reachable or stale entries, the bridge's own) is not overlayc's: left out. A dump
    in `prefetched` (overlayc.observe.prefetch) is decoded instead of dumping again.

    Two live dumps run at once, the FDB one on the namespace's second route socket on a worker
    thread (overlayc.netlink.parallel): it is the longer in the kernel (vxlan_fdb_dump walks the
    whole table again for every 32 KiB skb, and netlink caps a dump skb at 32 KiB), and its
    kernel time then overlaps the neighbour dump and the decoding.

    With a `watch` of the namespace (overlayc.netlink.watch) the FDB entries are what it holds
    when it can say them all, and only the neighbours are dumped; else the FDB dump seeds it."""
    if not vxlans:
        return
    fdb = {index: into.fdb.setdefault(dev, set()) for index, dev in vxlans.items()}
    # AF_UNSPEC: ARP and NDP entries in one dump (neigh_dump_info walks every neighbour table)
    neigh = {index: into.neigh.setdefault(dev, {}) for index, dev in vxlans.items()}
    # a prefetched dump is taken from `prefetched` only when it is decoded, so that its buffers
    # are let go as soon as it is (a dump held while the other is decoded: +2 MB peak RSS)
    def read_fdb(rt: NetlinkSocket) -> None:
        _neigh_dump(rt, nl_neigh.AF_BRIDGE, lambda buf, off: fdb_keys(buf, fdb, off),
                    None if prefetched is None else prefetched.pop(nl_neigh.AF_BRIDGE, None))

    def read_neigh() -> None:
        _neigh_dump(ns.route, nl_neigh.AF_UNSPEC, lambda buf, off: neigh_macs(buf, neigh, off),
                    None if prefetched is None else prefetched.pop(nl_neigh.AF_UNSPEC, None))

    known = watch.answer(vxlans) if watch is not None else None
    if known is not None:
        for index, dev in vxlans.items():
            if fdb[index]:
                fdb[index] |= known[index]
            else:
                into.fdb[dev] = fdb[index] = known[index]
        read_neigh()
    elif prefetched is None or nl_neigh.AF_BRIDGE not in prefetched:
        second = ns.second_route  # made here, on the thread that may enter the namespace
        both(lambda: read_fdb(second), read_neigh)
    else:
        read_fdb(ns.route)
        read_neigh()
    if watch is not None and known is None:
        for index in vxlans:
            watch.seed(index, fdb[index])
    for table in (into.fdb, into.neigh):
        for dev in [dev for dev in vxlans.values() if not table.get(dev, True)]:
            del table[dev]


def _neigh_dump(rt: NetlinkSocket, family: int, parse: Parse, got: tuple[int, list[bytes]] | None) -> None:
    """The RTM_GETNEIGH dump of `family` through `parse`: the prefetched one (`got`: its sequence
    number and buffers), else a live one on `rt`."""
    if got is None:
        rt.dump_parsed(nl_neigh.RTM_GETNEIGH, nl_neigh.encode_dump(family), parse)
        return
    seq, buffers = got
    parse_dump(seq, _next_of(buffers), parse, lambda _buf: None)


def _next_of(buffers: list[bytes]) -> Callable[[], bytes]:
    """`recv` for `parse_dump` over prefetched buffers (they end with the dump's last message)."""
    pending = iter(buffers)

    def recv() -> bytes:
        buf = next(pending, None)
        if buf is None:
            raise EnvironmentProblem("a prefetched netlink dump ended without its last message")
        return buf
    return recv


def netns_owner(name: str, cluster: str | None, owner: str) -> str | None:
    """None when /run/netns/<name> is a namespace overlayc made for the node whose namespace is
    `owner` (its `lo` carries `netns_tag(cluster, owner)`, set before the namespace had a name),
    else why it is not ours."""
    try:
        with Namespace(name) as ns:
            links, _ = read_links(ns.route)
    except DumpInterrupted:  # a table changed while it was read: observe reads everything again
        raise
    except (OverlaycError, OSError):  # a stale file, a namespace going away, no privileges
        return "network namespace, not overlayc's"
    return tag_problem(links.get(1), cluster, owner)


def unclaimed_netns(claimed: Iterable[str], cluster: str | None,
                    owner: str) -> tuple[list[Netns], dict[Key, str]]:
    """The named namespaces in /run/netns no owned endpoint refers to: those overlayc made for
    the node of namespace `owner` (an apply stopped before their endpoint existed), and every
    other one as foreign."""
    mine = set(claimed)
    try:
        names = sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return [], {}
    owned: list[Netns] = []
    foreign: dict[Key, str] = {}
    for name in names:
        if name in mine or is_sandbox_name(name):  # sandboxes: overlayc.observe.sandbox
            continue
        if _identity(name) == owner:  # the node's own namespace: no endpoint's, never opened here
            foreign[("netns", name)] = "network namespace, the node's own"
            continue
        why = netns_owner(name, cluster, owner)
        if why is None:
            owned.append(Netns(name))
        else:
            foreign[("netns", name)] = why
    return owned, foreign


def _identity(name: str) -> str | None:
    """`ns<inode>` of /run/netns/<name> (None when it is gone), as `namespace_id` names it."""
    try:
        return f"ns{os.stat(os.path.join(NETNS_DIR, name)).st_ino}"
    except OSError:
        return None


# --- the node's sandboxes (overlayc.observe.sandbox) -------------------------------------------
def observe_sandboxes(cluster: str | None, owner: str, watches: Watches | None = None) -> Sandboxes:
    """Every sandbox of the node of namespace `owner` (of `cluster`, or of any cluster when None)
    and the objects in it; the entries of each through its watch in `watches` (started here when
    it has none), see read_fdb_neigh."""
    found = Sandboxes()
    try:
        names = sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return found
    for name in names:
        parsed = parse_sandbox_name(name)
        if parsed is None or parsed[2] != owner:
            continue
        try:
            with Namespace(name) as ns:
                _observe_one(ns, name, cluster, owner, found, watches)
        except DumpInterrupted:  # an OSError (EAGAIN), but no sign of a foreign namespace: read again
            raise
        except (OverlaycError, OSError):  # a stale file, a namespace going away
            found.foreign[("sandbox", name)] = "network namespace, not overlayc's"
    return found


def _observe_one(ns: Namespace, name: str, cluster: str | None, owner: str, found: Sandboxes,
                 watches: Watches | None) -> None:
    watch = watches.of(ns) if watches is not None else None  # before the links are listed
    links, addrs = read_links(ns.route)
    if watch is not None:
        watch.note_links(links)
    lo = links.get(1)
    if tag_problem(lo, None, owner) is None and lo is not None and (tag := parse_alias(lo.alias)):
        found.clusters.add(tag.cluster)
    why = tag_problem(lo, cluster, owner)
    if why is not None:
        found.foreign[("sandbox", name)] = why
        return
    found.objects.append(read_sandbox(ns, name))
    found.links[name] = links
    vxlans: dict[int, str] = {}
    for info in links.values():
        tag = parse_alias(info.alias)
        if tag is None or info.index == 1 or (cluster is not None and tag.cluster != cluster):
            continue
        if info.kind == "veth" and tag.netns is not None:
            objs, broken = read_endpoint(info, tag, links)
            found.objects.extend(dataclasses.replace(o, sandbox=name) if isinstance(o, Endpoint) else o
                                 for o in objs)
            if broken:
                found.foreign_links[info.name] = broken
        elif (obj := _link_object(info, links, addrs)) is not None:
            found.objects.append(dataclasses.replace(obj, sandbox=name))
            if isinstance(obj, Vxlan):
                vxlans[info.index] = info.name
    read_fdb_neigh(ns, vxlans, found.entries, prefetch.taken(name, os.fstat(ns.fd()).st_ino), watch)


DUMP_ATTEMPTS = 3


def observe(netns: NamespaceRef, cluster: str | None = None, watches: Watches | None = None) -> Observed:
    """The owned live state of namespace `netns`: a handle (its sockets are used), or a name
    (None: the current namespace) for which a handle is opened for this call.

    `cluster` None observes every overlayc-owned link; else only links tagged with that cluster
    (links of other clusters are then reported as foreign). XFRM objects are owned by the marks
    of `cluster` (None: of every cluster seen on the node), see overlayc.observe.xfrm. A dump
    the kernel marks as interrupted (a table changed while it was read) is read again, up to
    DUMP_ATTEMPTS times. With `watches` (apply's), FDB and neighbour entries come from each
    place's watch where it can say them (overlayc.netlink.watch). Raises NeedsPrivileges /
    EnvironmentProblem."""
    with opened(netns) as ns:
        for _ in range(DUMP_ATTEMPTS - 1):
            try:
                return _observe_once(ns, cluster, watches)
            except DumpInterrupted:
                continue
        try:
            return _observe_once(ns, cluster, watches)
        except DumpInterrupted:
            raise EnvironmentProblem("the kernel tables kept changing while overlayc read them") from None


@paused_gc()
def _observe_once(ns: Namespace, cluster: str | None, watches: Watches | None) -> Observed:
    owner = namespace_id(ns.name)
    sandboxes = observe_sandboxes(cluster, owner, watches)
    objects: list[KernelObject] = list(sandboxes.objects)
    foreign_links: dict[str, str] = {}
    rt = ns.route
    watch = watches.of(ns) if watches is not None else None  # before the links are listed
    links, addrs = read_links(rt)
    if watch is not None:
        watch.note_links(links)
    vxlans: dict[int, str] = {}
    for info in links.values():
        tag, why = _owner(info, cluster)
        if tag is None:
            foreign_links[info.name] = why or ""
        elif info.kind == "veth" and tag.netns is None:  # the node side of a gateway
            gateway, broken = read_gateway(info, tag, sandboxes, addrs.get(info.index, []))
            if gateway is not None:
                objects.append(gateway)
            else:
                foreign_links[info.name] = broken
        elif info.kind == "veth":
            found, broken = read_endpoint(info, tag, links)
            objects.extend(found)
            if broken:
                foreign_links[info.name] = broken
        elif (obj := _link_object(info, links, addrs)) is not None:
            objects.append(obj)
            if info.kind == "vxlan":
                vxlans[info.index] = info.name
        else:
            foreign_links[info.name] = f"{info.kind} tagged as overlayc's, but not as overlayc makes it"
    entries = sandboxes.entries
    read_fdb_neigh(ns, vxlans, entries, watch=watch)
    seen = clusters_seen(links.values()) | sandboxes.clusters
    xfrm_owned, foreign = observe_xfrm(ns.xfrm, scope_for(cluster, seen))
    objects.extend(xfrm_owned)
    orphans, foreign_ns = unclaimed_netns((o.name for o in objects if isinstance(o, Netns)), cluster,
                                          owner)
    objects.extend(orphans)
    foreign.update(foreign_ns)
    foreign.update(sandboxes.foreign)
    foreign_links.update(sandboxes.foreign_links)
    return Observed(owned=KernelState(objects, entries), foreign_links=foreign_links, foreign=foreign)
