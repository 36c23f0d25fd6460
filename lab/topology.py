"""A multi-node lab on one machine: one network namespace per node on a shared L2 underlay.

    with Lab(["node1", "node2"]) as lab:
        lab.netns("node1")                 # "ocl3f2a-node1": pass to `overlayc apply --netns`
        lab.address("node2")               # IPv4Address('192.0.2.2') on lab.underlay_dev ("eth0")

`subnet` may be IPv6 (`Lab(nodes, subnet="2001:db8:15::/64")`): the node addresses are then IPv6,
added `nodad` (usable at once: a tentative address cannot be a VXLAN source).
        lab.exec("node1", "ip", "-j", "addr")
        assert lab.ping("node1", lab.address("node2"))

Layout: an underlay namespace `<prefix>u-<hex>` holds bridge `br0`; each node namespace
`<tag>-<node>` (tag = prefix without "-" + the same 4 hex digits, e.g. `ocl3f2a`) has lo up,
rp_filter off and a veth `eth0` whose peer `n<i>` is a port of `br0`. Name overlayc's cluster
`lab.tag` so its endpoint namespaces (`<cluster>-<task>`) start with the tag: teardown deletes every
namespace starting with `<tag>-`, the underlay, and any `extra` names, also when the test failed,
after killing the processes still running inside them. Nothing touches the host's own interfaces.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import signal
import subprocess
from collections.abc import Iterable, Mapping
from types import TracebackType

from lab import probe
from lab.netns import in_netns

UNDERLAY_DEV = "eth0"
BRIDGE = "br0"


class LabError(RuntimeError):
    """A lab command failed; the message holds the command and the kernel's error."""


def _run(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise LabError(f"`{' '.join(cmd)}` failed ({res.returncode}): {res.stderr.strip()}")
    return res


def list_netns() -> list[str]:
    """Names of the named network namespaces (`ip netns list`)."""
    return [line.split()[0] for line in _run(["ip", "netns", "list"]).stdout.splitlines() if line.strip()]


class Lab:
    """Context manager building the topology on enter and removing it on exit (see module doc)."""

    def __init__(
        self,
        nodes: Iterable[str],
        prefix: str = "ocl-",
        subnet: str = "192.0.2.0/24",
        addresses: Mapping[str, str] | None = None,
        extra: Iterable[str] = (),
    ) -> None:
        self.nodes = list(nodes)
        if len(set(self.nodes)) != len(self.nodes) or not self.nodes:
            raise ValueError(f"nodes must be a non-empty list of unique names: {self.nodes}")
        hex4 = secrets.token_hex(2)
        self.tag = prefix.rstrip("-") + hex4
        self.underlay = f"{prefix}u-{hex4}"
        self.network = ipaddress.ip_network(subnet)
        hosts = self.network.hosts()
        given = dict(addresses or {})
        self._addr: dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address] = {
            n: ipaddress.ip_address(given[n] if n in given else str(next(hosts))) for n in self.nodes
        }
        self.extra: list[str] = list(extra)
        self._made: list[str] = []

    @property
    def underlay_dev(self) -> str:
        """The underlay device inside every node namespace."""
        return UNDERLAY_DEV

    def netns(self, node: str) -> str:
        """The namespace playing `node` (for `overlayc apply --netns`)."""
        if node not in self._addr:
            raise KeyError(f"no node {node!r} in this lab (nodes: {', '.join(self.nodes)})")
        return f"{self.tag}-{node}"

    def address(self, node: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The node's underlay address (of the lab subnet's family)."""
        self.netns(node)
        return self._addr[node]

    def exec(self, node: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `cmd` inside the node's namespace (text output captured); LabError if check fails."""
        return _run(["ip", "netns", "exec", self.netns(node), *cmd], check=check)

    def ping(self, node: str, dst: ipaddress.IPv4Address | ipaddress.IPv6Address | str, count: int = 1,
             wait: float = 2.0) -> bool:
        """True when every one of `count` ICMP echo requests from `node` to `dst` is answered."""
        answered = in_netns(self.netns(node), probe.ping, str(dst), count, wait)["received"]
        return bool(answered == count)

    def __enter__(self) -> Lab:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _add_netns(self, name: str) -> None:
        _run(["ip", "netns", "add", name])
        self._made.append(name)
        _run(["ip", "-n", name, "link", "set", "lo", "up"])

    def _build(self) -> None:
        self._add_netns(self.underlay)
        _run(["ip", "-n", self.underlay, "link", "add", BRIDGE, "type", "bridge"])
        _run(["ip", "-n", self.underlay, "link", "set", BRIDGE, "up"])
        prefixlen = str(self.network.prefixlen)
        for i, node in enumerate(self.nodes):
            ns = self.netns(node)
            self._add_netns(ns)
            port = f"n{i}"
            # both ends are created directly in their target namespaces: the host's never sees them
            _run(["ip", "link", "add", UNDERLAY_DEV, "netns", ns, "type", "veth",
                  "peer", "name", port, "netns", self.underlay])  # fmt: skip
            _run(["ip", "-n", self.underlay, "link", "set", port, "master", BRIDGE, "up"])
            nodad = ["nodad"] if self.network.version == 6 else []
            _run(["ip", "-n", ns, "addr", "add", f"{self._addr[node]}/{prefixlen}", "dev", UNDERLAY_DEV,
                  *nodad])
            _run(["ip", "-n", ns, "link", "set", UNDERLAY_DEV, "up"])
            for conf in ("all", "default", UNDERLAY_DEV):
                self.exec(node, "sh", "-c", f"echo 0 > /proc/sys/net/ipv4/conf/{conf}/rp_filter")

    def owned(self) -> list[str]:
        """Existing namespaces this lab owns: the ones it made, `<tag>-*`, and the extra names."""
        mine = set(self._made) | set(self.extra) | {self.underlay}
        return sorted(ns for ns in list_netns() if ns in mine or ns.startswith(self.tag + "-"))

    def close(self) -> None:
        """Kill the processes left in the lab's namespaces (by PID) and delete the namespaces."""
        for ns in self.owned():
            pids = _run(["ip", "netns", "pids", ns], check=False).stdout.split()
            for pid in pids:
                if pid.isdigit() and int(pid) != os.getpid():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
            _run(["ip", "netns", "del", ns], check=False)
