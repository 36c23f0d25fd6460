"""What `ip`/`bridge` show of a node namespace and its endpoint namespaces, with only what the
kernel assigns or ages on its own removed: two dumps are equal exactly when the state is (the
kernel tests compare them before and after apply, rollback and recovery)."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support.counters import netns_list
from tests.support.host import run_in

# "tentative": an IPv6 address is tentative while its DAD timer runs and the kernel clears the flag
# on its own (seen on 6.18: a new veth's link-local was tentative for ~1.1 s, dad_transmits 1 x
# retrans_time_ms 1000), so a dump taken right after apply or rollback catches it at random; a
# duplicate shows as "dadfailed", which is still compared.
VOLATILE = {"ifindex", "link_index", "link_netnsid", "stats", "stats64", "addr_info_valid", "operstate",
            "linkinfo_slave_data_changes", "used", "updated", "confirmed", "ifi_index", "tentative"}


# A bridge port's number and the port ids made of it ("id" = priority << 12 | number), within
# info_slave_data only (a vxlan's info_data "id" is its VNI): like an ifindex, the kernel assigns
# the lowest free number when a device is enslaved (br_if.c find_portno) and no request can set
# it, so it records the order of enslavement, which a rollback cannot replay (seen: a rollback
# that moved an endpoint back before re-creating the vxlan left the two with "no" 0x1 and 0x2
# swapped).
PORT_NUMBERING = {"no", "id", "designated_port"}


def _scrub(value: Any, parent: str = "") -> Any:
    if isinstance(value, dict):
        drop = VOLATILE | (PORT_NUMBERING if parent == "info_slave_data" else set())
        # bridge timers (hello_timer, gc_timer, ...) count down on their own
        return {k: _scrub(v, k) for k, v in sorted(value.items())
                if k not in drop and not k.endswith("timer")}
    if isinstance(value, list):
        return sorted((_scrub(v, parent) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


def _configured(fdb: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FDB entries without the learned ones (state ""): the bridge learns an endpoint's MAC from
    frames the endpoint sends on its own (IPv6 DAD, MLD, router solicitations), forgets it when the
    port leaves and after ageing_time, so whether one is there depends on when the dump is taken
    (seen: present before a plan, gone right after a rollback re-enslaved the endpoint)."""
    return [e for e in fdb if e.get("state") != ""]


def _has_link_local(link: dict[str, Any]) -> bool:
    return any(a.get("family") == "inet6" and a.get("scope") == "link" for a in link.get("addr_info", []))


def _ipv6_off(ns: str) -> set[str]:
    """The devices of `ns` whose IPv6 is off (never to get a link-local: sandboxes, endpoints of
    IPv4-only networks)."""
    out = run_in(ns, "sh", "-c", "grep -H . /proc/sys/net/ipv6/conf/*/disable_ipv6", check=False).stdout
    return {line.split("/")[-2] for line in out.splitlines() if line.endswith(":1")}


def _settled(links: list[dict[str, Any]], off: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether addrconf has caught up: every up ethernet device with carrier has its IPv6
    link-local. The kernel adds it only once the linkwatch worker has marked the device
    operationally up (addrconf_link_ready), after the request that made the device was
    acknowledged (seen: a veth re-created by a rollback dumped with LOWER_UP and no inet6 address,
    its link-local appearing moments later). `operstate` is dropped for the same reason."""
    return all(_has_link_local(x) for x in links
               if x.get("link_type") == "ether" and {"UP", "LOWER_UP"} <= set(x.get("flags", []))
               and x.get("ifname") not in off)


def _addresses(ns: str, *options: str) -> Any:
    """`ip -j OPTIONS addr show` in `ns`, read again (for at most 5 s) until addrconf has settled."""
    deadline = time.monotonic() + 5
    off = _ipv6_off(ns)
    while True:
        got = json.loads(run_in(ns, "ip", "-j", *options, "addr", "show").stdout or "[]")
        if _settled(got, off) or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def _links(ns: str, prefix: str, parts: dict[str, Any]) -> None:
    parts[f"{prefix}addr"] = _scrub(_addresses(ns))
    for name, cmd in (("link", ["ip", "-d", "-j", "link", "show"]), ("fdb", ["bridge", "-j", "fdb", "show"]),
                      ("neigh", ["ip", "-j", "neigh", "show"])):
        parts[prefix + name] = _scrub(json.loads(run_in(ns, *cmd).stdout or "[]"))
    parts[f"{prefix}fdb"] = _configured(parts[f"{prefix}fdb"])


def dump(ns: str, cluster: str) -> str:
    """Everything `ip`/`bridge` show of the node namespace, its sandboxes and the endpoint
    namespaces overlayc made for `cluster`, with only kernel-assigned indices, counters, timers
    and learned entries removed."""
    from tests.support.host import sandboxes_of

    parts: dict[str, Any] = {}
    _links(ns, "", parts)
    boxes = sandboxes_of(ns)
    for box in boxes:
        _links(box, f"sb:{box}:", parts)
    parts["xfrm-policy"] = run_in(ns, "ip", "xfrm", "policy", "show").stdout
    endpoints = sorted(n for n in netns_list() if n.startswith(f"{cluster}-") and n not in boxes)
    for ep in endpoints:
        parts[f"ep:{ep}"] = _scrub(_addresses(ep, "-d"))
    return json.dumps(parts, indent=1, sort_keys=True)
