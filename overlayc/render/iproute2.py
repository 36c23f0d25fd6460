"""A KernelState as the `ip`/`bridge` shell script that creates it in an empty namespace (pure).

Run with `sh` inside the node's network namespace (`ip netns exec NODE sh FILE` or `nsenter
--net=/run/netns/NODE sh FILE`). Objects come in dependency order (sandboxes, bridges, vxlans,
gateways, netns, endpoints, fdb, neigh, SAs, policies). Each network's sandbox is named after the
identity of the namespace the script runs in (`ns<inode>` of /proc/self/ns/net, as overlayc names
it): the script computes it (`$owner`) where a plan made without a kernel shows a stand-in.
Key material is never printed: each SA
reads its key from a shell variable `OVERLAYC_KEY_<dst hex>_<spi hex>` (`set -u` stops the
script when it is unset), with the key's fingerprint in a comment.
"""

from __future__ import annotations

import shlex

from overlayc.kernel.objects import (
    Bridge,
    Endpoint,
    Fdb,
    Gateway,
    IPAddress,
    KernelObject,
    Neigh,
    Netns,
    Sandbox,
    Vxlan,
    XfrmPolicy,
    XfrmState,
)
from overlayc.kernel.ownership import LINK_GROUP, NETNS_NETWORK, OFFLINE_OWNER, netns_tag, parse_sandbox_name
from overlayc.kernel.state import KernelState

SHEBANG = "#!/bin/sh\nset -eu"


def render_iproute2(state: KernelState, *, title: str = "") -> str:
    """The script creating `state`; `title` (e.g. the node name) goes into the header comment."""
    lines = [SHEBANG, f"# overlayc desired state{f' of {title}' if title else ''}: {len(state)} objects"]
    if state.of_kind("netns") or state.of_kind("sandbox"):
        lines.append(NETNS_ADD)
    if state.of_kind("sandbox"):
        lines.append(OWNER)
    for obj in state:
        lines.extend(commands(obj))
    return "\n".join(lines) + "\n"


OWNER = 'owner="ns$(stat -L -c %i /proc/self/ns/net)"  # this namespace\'s identity: sandbox names'


def _sb(name: str) -> str:
    """A sandbox name as the script spells it: the stand-in identity becomes `$owner`."""
    suffix = "." + OFFLINE_OWNER
    if name.endswith(suffix):
        return f'"{name[: -len(suffix)]}.$owner"'
    return _q(name)


def _in(sandbox: str) -> str:
    """`ip` for a command in `sandbox` ("": the node's namespace)."""
    return f"ip -n {_sb(sandbox)}" if sandbox else "ip"


def _at(vxlan: str) -> str:
    """`-n <sandbox> ` of the sandbox the vxlan's commands set (names have no space or glob)."""
    return f"${{sb_{vxlan}:+-n $sb_{vxlan}}} "


def commands(obj: KernelObject) -> list[str]:
    """The commands creating one object (comments included)."""
    if isinstance(obj, Sandbox):
        return _sandbox(obj)
    if isinstance(obj, Gateway):
        return _gateway(obj)
    if isinstance(obj, Bridge):
        return _bridge(obj)
    if isinstance(obj, Vxlan):
        return _vxlan(obj)
    if isinstance(obj, Netns):
        return [_netns_add(obj.name)]
    if isinstance(obj, Endpoint):
        return _endpoint(obj)
    if isinstance(obj, Fdb):
        return [f"bridge {_at(obj.dev)}fdb replace {obj.lladdr} dev {obj.dev} dst {obj.dst} self permanent"]
    if isinstance(obj, Neigh):
        return [f"ip {_at(obj.dev)}neigh replace {obj.dst} lladdr {obj.lladdr} dev {obj.dev} nud permanent"]
    if isinstance(obj, XfrmState):
        return _state(obj)
    return [_policy(obj)]


def _q(text: str) -> str:
    return shlex.quote(text)


# `ip netns exec NODE sh FILE` runs the script in a private mount namespace (ip netns exec
# unshares one and makes `/` a slave of the caller's): a namespace added there is a bind mount
# nobody else sees, and /run/netns/NAME is left an empty file once the script ends. So endpoint
# namespaces are added in the caller's mount namespace when it differs (ip execs the shell, so
# the caller is its parent): the bind mount lands under the shared /run/netns and propagates
# into the script's slave copy as well. (PID 1's namespace is no choice: sandboxes refuse it.)
NETNS_ADD = """\
netns_add() {  # ip netns add, in the caller's mount namespace when ip netns exec gave us our own
  if [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/$PPID/ns/mnt)" ]; then
    nsenter --mount=/proc/$PPID/ns/mnt ip netns add "$1"
  else
    ip netns add "$1"
  fi
}"""


def _netns_add(name: str) -> str:
    return f"netns_add {_q(name)}"


def _owned(dev: str, mtu: int, alias: str, netns: str = "") -> str:
    return f"{_in(netns)} link set {dev} mtu {mtu} group {LINK_GROUP} alias {_q(alias)}"


def _sandbox(obj: Sandbox) -> list[str]:
    """`ip netns add`, `lo` tagged as overlayc's for this node (before anything is in it), and
    the sysctls of a sandbox, run inside it."""
    parsed = parse_sandbox_name(obj.name)
    name, cluster = _sb(obj.name), parsed[0] if parsed is not None else NETNS_NETWORK
    tag = netns_tag(cluster, "$owner")
    off = "0" if obj.ipv6 else "1"
    run = f"ip netns exec {name} sysctl -q"
    return [
        f"netns_add {name}",
        f'ip -n {name} link set lo alias "{tag}" up',
        f"{run} -w net.ipv4.ip_forward={int(obj.forwarding)}",
        f"{run} -e -w net.ipv6.conf.all.disable_ipv6={off} net.ipv6.conf.default.disable_ipv6={off}",
    ]


def _bridge(obj: Bridge) -> list[str]:
    ip = _in(obj.sandbox)
    out = [
        f"{ip} link add {obj.name} address {obj.mac} type bridge",
        _owned(obj.name, obj.mtu, obj.alias, obj.sandbox),
    ]
    if obj.address is not None:
        out.append(f"{ip} addr replace {obj.address} dev {obj.name}")
    out.append(f"{ip} link set {obj.name} up")
    return out


def _vxlan(obj: Vxlan) -> list[str]:
    """Made in the node's namespace and moved into the sandbox: its UDP socket stays here."""
    flags = ("learning" if obj.learning else "nolearning") + (" proxy" if obj.proxy else "")
    ip = _in(obj.sandbox)
    if obj.local.version == 6:  # the checksum flags matter (and are shown) only over IPv6
        flags += (" udp6zerocsumtx" if obj.udp6zerocsumtx else " noudp6zerocsumtx")
        flags += (" udp6zerocsumrx" if obj.udp6zerocsumrx else " noudp6zerocsumrx")
    out = [f"ip link add {obj.name} address {obj.mac} type vxlan id {obj.vni} local {obj.local} "
           f"dstport {obj.port} {flags}"]
    if obj.sandbox:
        out.append(f"ip link set {obj.name} netns {_sb(obj.sandbox)}")
    return [
        *out,
        _owned(obj.name, obj.mtu, obj.alias, obj.sandbox) + f" master {obj.master}",
        f"{ip} link set {obj.name} up",
        f"sb_{obj.name}={_sb(obj.sandbox) if obj.sandbox else ''}  # where its fdb/neigh entries go",
    ]


def _gateway(obj: Gateway) -> list[str]:
    sb = _sb(obj.sandbox)
    ipv6 = "" if obj.ipv6 else f"sysctl -q -e -w net.ipv6.conf.{obj.name}.disable_ipv6=1"
    return [
        f"ip link add {obj.name} address {obj.mac} type veth peer name {obj.peer} address {obj.peer_mac} "
        f"netns {sb}",
        _owned(obj.name, obj.mtu, obj.alias),
        _owned(obj.peer, obj.mtu, obj.alias, obj.sandbox) + f" master {obj.bridge}",
        f"ip -n {sb} link set {obj.peer} up",
        *([ipv6] if ipv6 else []),
        f"ip addr replace {obj.address} dev {obj.name}",
        f"ip link set {obj.name} up",
    ]


def _endpoint(obj: Endpoint) -> list[str]:
    ns = _q(obj.netns)
    ip = _in(obj.sandbox)
    ipv6 = [] if obj.ipv6 else [
        f"ip netns exec {ns} sysctl -q -e -w net.ipv6.conf.{obj.ifname}.disable_ipv6=1"]
    return [
        f"{ip} link add {obj.host} address {obj.host_mac} type veth peer name {obj.ifname} netns {ns}",
        _owned(obj.host, obj.mtu, obj.alias, obj.sandbox) + f" master {obj.bridge}",
        f"{ip} link set {obj.host} up",
        *ipv6,
        f"ip -n {ns} link set {obj.ifname} mtu {obj.mtu} address {obj.mac}",
        *([] if obj.address is None else [f"ip -n {ns} addr replace {obj.address} dev {obj.ifname}"]),
        *([] if obj.address6 is None else [f"ip -n {ns} addr replace {obj.address6} dev {obj.ifname} nodad"]),
        f"ip -n {ns} link set {obj.ifname} up",
    ]


def key_variable(obj: XfrmState) -> str:
    """Name of the shell variable that must hold the SA's key material (0x-prefixed hex)."""
    return f"OVERLAYC_KEY_{int(obj.dst):08x}_{obj.spi:08x}"


def _state(obj: XfrmState) -> list[str]:
    var = key_variable(obj)
    epoch = "" if obj.epoch is None else f" epoch {obj.epoch}"
    fp = obj.key_fp or "unknown (compiled without the private key)"
    esn = " flag esn" if obj.esn else ""
    return [
        f"# SA {obj.src} -> {obj.dst} spi {obj.spi:#010x}{epoch}: ${var} = 0x<key‖salt hex>,"
        f" fingerprint {fp}",
        f"ip xfrm state add src {obj.src} dst {obj.dst} proto esp spi {obj.spi:#010x} reqid {obj.reqid:#x} "
        f"mode {obj.mode} replay-window {obj.replay_window}{esn} "
        f"aead {_q(obj.algo)} \"${var}\" {obj.icv_bits}",
    ]


def _proto(proto: int) -> str:
    return {17: "udp", 6: "tcp", 50: "esp"}.get(proto, str(proto))


def _policy(obj: XfrmPolicy) -> str:
    head = (
        f"ip xfrm policy add src {obj.src} dst {obj.dst} proto {_proto(obj.proto)} dport {obj.dport} "
        f"dir {obj.dir} priority {obj.priority}"
    )
    if obj.action == "block":
        return head + " action block"
    if obj.tmpl is None:
        return head + " action allow"
    t = obj.tmpl
    return head + (
        f" tmpl src {_addr(t.src)} dst {_addr(t.dst)} proto {t.proto} reqid {t.reqid:#x} mode {t.mode}"
    )


def _addr(addr: IPAddress) -> str:
    return str(addr)
