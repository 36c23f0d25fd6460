"""Kernel objects overlayc owns, as frozen dataclasses with canonical values and an explicit key.

Canonical values are fixed at construction (lower-case MACs, `ipaddress` objects, ints), on the
desired and on the live side alike, so that diff only compares. Keys use names, never ifindex.

How overlayc marks the objects it owns (alias tag, link group, reqid, priority band) lives in
`overlayc.kernel.ownership`. Secret fields (`XfrmState.key`) are `repr=False`, excluded from
comparison, and appear in JSON only as their fingerprint.
"""

from __future__ import annotations

import hashlib
import re
import socket
import sys
from dataclasses import dataclass, field, fields
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_address,
    ip_network,
)
from typing import Any, ClassVar, Literal, TypeAlias

from overlayc.kernel.ownership import REQID, Key

IPAddress: TypeAlias = IPv4Address | IPv6Address
"""An address of either family: node (VTEP) addresses and XFRM endpoints may be IPv6."""
IPNetwork: TypeAlias = IPv4Network | IPv6Network
"""A prefix of either family: XFRM selectors follow the family of the node addresses."""

IFNAMSIZ = 15
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")

def canonical_mac(value: str) -> str:
    """`02-42-0A-00-01-02` / `02:42:a:0:1:2` → `02:42:0a:00:01:02`; raises ValueError otherwise."""
    parts = re.split(r"[:-]", value.strip().lower())
    if len(parts) != 6 or not all(1 <= len(p) <= 2 for p in parts):
        raise ValueError(f"not a MAC address: {value!r}")
    mac = ":".join(p.zfill(2) for p in parts)
    if not _MAC_RE.match(mac):
        raise ValueError(f"not a MAC address: {value!r}")
    return mac


DEVICE_MAC_PREFIX = "0e"  # 0x02 set (locally administered), 0x01 clear (unicast); not Docker's 02:42


def device_mac(*parts: str) -> str:
    """The MAC overlayc gives a device it creates: `0e:` + the first 5 bytes of sha256 of `parts`.

    Deterministic, so a device recreated by a plan or a rollback gets the MAC (and so the IPv6
    link-local address) it had, instead of a random one. The parts are joined with NUL, which no
    name contains, so different tuples never hash the same text."""
    digest = hashlib.sha256("\0".join(("overlayc-mac", *parts)).encode()).digest()
    return ":".join([DEVICE_MAC_PREFIX, *(f"{b:02x}" for b in digest[:5])])


def fingerprint(secret: bytes) -> str:
    """A short, non-reversible stand-in for key material in every human or JSON output."""
    return "sha256:" + hashlib.sha256(b"overlayc-fp\0" + secret).hexdigest()[:12]


def _quad(address: IPAddress) -> str:
    """`str(address)`, computed about twice as fast for IPv4 (keys of fdb/neigh entries are built
    per entry); IPv6 addresses print through `str` (its compressed, canonical form)."""
    packed = address.packed
    return socket.inet_ntoa(packed) if len(packed) == 4 else str(address)


def _check_ifname(name: str) -> None:
    if not name or len(name) > IFNAMSIZ or "/" in name or " " in name:
        raise ValueError(f"invalid interface name {name!r} (1..{IFNAMSIZ} chars, no '/' or space)")


def _check_mac(value: str) -> None:
    """MACs are canonical input (callers normalise with canonical_mac): refuse anything else."""
    if not _MAC_RE.match(value):
        raise ValueError(f"MAC {value!r} is not canonical (six lower-case hex pairs joined by ':')")


@dataclass(frozen=True, slots=True)
class Bridge:
    """A Linux bridge for one network on this node (L2 only unless the network has a gateway).

    `mac` is set at creation: a bridge given its address keeps it, instead of taking the smallest
    MAC of its ports (which changes whenever a port comes or goes)."""

    kind: ClassVar[str] = "bridge"
    name: str
    mac: str
    mtu: int
    alias: str
    address: IPv4Interface | None = None
    sandbox: str = ""  # the network's sandbox namespace ("": the node's own, the layout before sandboxes)

    def __post_init__(self) -> None:
        _check_ifname(self.name)
        _check_mac(self.mac)

    @property
    def key(self) -> Key:
        return (self.kind, self.name)


@dataclass(frozen=True, slots=True)
class Vxlan:
    """A VXLAN device: `address <mac> ... id vni local <node> dstport <port> nolearning proxy`,
    enslaved to `master`. `local` may be IPv6 (an IPv6 underlay, docs/ipv6.md): the device then
    sends and receives over UDP/IPv6, with UDP checksums computed on send and required on receipt
    (`udp6zerocsumtx`/`udp6zerocsumrx` off; the kernel reports both flags for every device)."""

    kind: ClassVar[str] = "vxlan"
    name: str
    mac: str
    vni: int
    local: IPAddress
    port: int
    mtu: int
    master: str
    alias: str
    learning: bool = False
    proxy: bool = True
    sandbox: str = ""  # where the device is; its UDP socket stays in the node's namespace
    udp6zerocsumtx: bool = False
    udp6zerocsumrx: bool = False

    def __post_init__(self) -> None:
        _check_ifname(self.name)
        _check_mac(self.mac)
        if not 1 <= self.vni <= 0xFFFFFF:
            raise ValueError(f"VNI {self.vni} out of range 1..16777215")

    @property
    def key(self) -> Key:
        return (self.kind, self.name)


@dataclass(frozen=True, slots=True)
class Fdb:
    """`bridge fdb replace <lladdr> dev <dev> dst <dst> self permanent`."""

    kind: ClassVar[str] = "fdb"
    dev: str
    lladdr: str
    dst: IPAddress
    # The key, built once here: a plan of 50k entries looks it up several times per entry.
    # Not a value of the entry (init/repr/compare off, left out of JSON).
    _key: Key = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # interned: the few remote VTEPs are the dst of many entries each
        object.__setattr__(self, "_key", (self.kind, self.dev, self.lladdr, sys.intern(_quad(self.dst))))

    @property
    def key(self) -> Key:
        return self._key


@dataclass(frozen=True, slots=True)
class Neigh:
    """`ip neigh replace <dst> lladdr <lladdr> dev <dev> nud permanent` (ARP, or NDP for IPv6)."""

    kind: ClassVar[str] = "neigh"
    dev: str
    dst: IPAddress
    lladdr: str
    _key: Key = field(init=False, repr=False, compare=False)  # built once, as Fdb's

    def __post_init__(self) -> None:
        object.__setattr__(self, "_key", (self.kind, self.dev, _quad(self.dst)))

    @property
    def key(self) -> Key:
        return self._key


@dataclass(frozen=True, slots=True)
class Netns:
    """A named network namespace overlayc made for a managed endpoint (`/run/netns/<name>`)."""

    kind: ClassVar[str] = "netns"
    name: str

    @property
    def key(self) -> Key:
        return (self.kind, self.name)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One attachment of a managed endpoint: a veth pair, `host` side (MAC `host_mac`) enslaved to
    `bridge` in the network's `sandbox` ("": the node's namespace, the layout before sandboxes;
    tagged with `alias`), `ifname` side inside `netns` with `address` (IPv4, None on a network
    without an IPv4 subnet), `address6` (IPv6, `nodad`) and `mac`, with IPv6 on it only when
    `ipv6`."""

    kind: ClassVar[str] = "endpoint"
    netns: str
    ifname: str
    host: str
    host_mac: str
    bridge: str
    address: IPv4Interface | None
    mac: str
    mtu: int
    alias: str
    sandbox: str = ""
    ipv6: bool = True
    address6: IPv6Interface | None = None

    def __post_init__(self) -> None:
        _check_ifname(self.ifname)
        _check_ifname(self.host)
        _check_mac(self.host_mac)

    @property
    def key(self) -> Key:
        return (self.kind, self.netns, self.ifname)


@dataclass(frozen=True, slots=True)
class Sandbox:
    """The namespace of one network on this node (`/run/netns/<name>`, as Docker's overlay
    sandboxes): it holds the network's bridge, vxlan and the host sides of its endpoints' veths.
    IPv4 forwarding on only when `forwarding`, IPv6 on only when `ipv6`."""

    kind: ClassVar[str] = "sandbox"
    name: str
    forwarding: bool = False
    ipv6: bool = False

    @property
    def key(self) -> Key:
        return (self.kind, self.name)


@dataclass(frozen=True, slots=True)
class Gateway:
    """The node joining a network (`gateway:`): a veth whose `name` side is in the node's
    namespace with `address` (MAC `mac`), and whose `peer` side (MAC `peer_mac`) is enslaved to
    `bridge` in `sandbox`. Both sides are tagged with `alias`; IPv6 is on `name` only when `ipv6`."""

    kind: ClassVar[str] = "gateway"
    name: str
    mac: str
    peer: str
    peer_mac: str
    sandbox: str
    bridge: str
    address: IPv4Interface
    mtu: int
    alias: str
    ipv6: bool = False

    def __post_init__(self) -> None:
        _check_ifname(self.name)
        _check_ifname(self.peer)
        _check_mac(self.mac)
        _check_mac(self.peer_mac)

    @property
    def key(self) -> Key:
        return (self.kind, self.name)


@dataclass(frozen=True, slots=True)
class XfrmState:
    """An ESP SA, transport mode, AEAD `rfc4106(gcm(aes))`.

    `secret` holds key‖salt (20 or 36 bytes) or None when the private key is unavailable (CI plans):
    it never appears in repr/JSON and is not compared; `key_fp` (its fingerprint, or None when
    unknown) stands in for it. `epoch` is informational (not observable in the kernel)."""

    kind: ClassVar[str] = "xfrm-state"
    src: IPAddress
    dst: IPAddress
    spi: int
    key_fp: str | None
    reqid: int = REQID
    algo: str = "rfc4106(gcm(aes))"
    key_bits: int = 160
    icv_bits: int = 128
    replay_window: int = 128
    esn: bool = True
    mode: Literal["transport"] = "transport"
    secret: bytes | None = field(default=None, repr=False, compare=False)
    epoch: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not 0x100 <= self.spi <= 0xFFFFFFFF:
            raise ValueError(f"SPI {self.spi:#x} out of range 0x100..0xffffffff")

    @property
    def key(self) -> Key:
        return (self.kind, str(self.dst), "esp", f"{self.spi:#010x}")


@dataclass(frozen=True, slots=True)
class XfrmTemplate:
    src: IPAddress
    dst: IPAddress
    reqid: int = REQID
    proto: Literal["esp"] = "esp"
    mode: Literal["transport"] = "transport"


@dataclass(frozen=True, slots=True)
class XfrmPolicy:
    """`ip xfrm policy add src <src> dst <dst> proto udp dport <dport> dir <dir> priority <p>
    [tmpl ...] | action block`."""

    kind: ClassVar[str] = "xfrm-policy"
    dir: Literal["in", "out"]
    src: IPNetwork
    dst: IPNetwork
    dport: int
    priority: int
    action: Literal["allow", "block"]
    tmpl: XfrmTemplate | None = None
    proto: int = 17

    @property
    def key(self) -> Key:
        return (self.kind, self.dir, str(self.src), str(self.dst), str(self.proto), str(self.dport))


KernelObject: TypeAlias = (
    Sandbox | Bridge | Vxlan | Gateway | Fdb | Neigh | Netns | Endpoint | XfrmState | XfrmPolicy
)

KINDS: dict[str, type[KernelObject]] = {
    cls.kind: cls
    for cls in (Sandbox, Bridge, Vxlan, Gateway, Fdb, Neigh, Netns, Endpoint, XfrmState, XfrmPolicy)
}

# Dependency order for creation (DESIGN.md §6); deletion runs in reverse.
KIND_ORDER: tuple[str, ...] = (
    "sandbox", "bridge", "vxlan", "gateway", "netns", "endpoint", "fdb", "neigh", "xfrm-state",
    "xfrm-policy",
)


# --- JSON -------------------------------------------------------------------------------------
def _encode(value: Any) -> Any:
    if isinstance(value, IPAddress | IPNetwork | IPv4Interface | IPv6Interface):
        return str(value)
    if isinstance(value, XfrmTemplate):
        return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}
    return value


def to_json(obj: KernelObject) -> dict[str, Any]:
    """A JSON-able dict; secret fields are left out (their fingerprint is a field of its own), and
    so are derived ones (`init=False`: the cached key)."""
    out: dict[str, Any] = {"kind": obj.kind}
    for f in fields(obj):
        if f.name == "secret" or not f.init:
            continue
        out[f.name] = _encode(getattr(obj, f.name))
    return out


def from_json(data: dict[str, Any]) -> KernelObject:
    """Inverse of `to_json`; raises ValueError/KeyError/TypeError on malformed input."""
    data = dict(data)
    cls = KINDS[data.pop("kind")]
    if cls is Vxlan:
        data["local"] = ip_address(data["local"])
        data["mac"] = canonical_mac(data["mac"])
    elif cls is Bridge:
        data["address"] = None if data.get("address") is None else IPv4Interface(data["address"])
        data["mac"] = canonical_mac(data["mac"])
    elif cls is Fdb or cls is Neigh:
        data["dst"] = ip_address(data["dst"])
        data["lladdr"] = canonical_mac(data["lladdr"])
    elif cls is Gateway:
        data["address"] = IPv4Interface(data["address"])
        data["mac"], data["peer_mac"] = canonical_mac(data["mac"]), canonical_mac(data["peer_mac"])
    elif cls is Endpoint:
        data["address"] = None if data.get("address") is None else IPv4Interface(data["address"])
        data["address6"] = None if data.get("address6") is None else IPv6Interface(data["address6"])
        data["mac"] = canonical_mac(data["mac"])
        data["host_mac"] = canonical_mac(data["host_mac"])
    elif cls is XfrmState:
        data["src"], data["dst"] = ip_address(data["src"]), ip_address(data["dst"])
    elif cls is XfrmPolicy:
        data["src"], data["dst"] = ip_network(data["src"]), ip_network(data["dst"])
        t = data.get("tmpl")
        if t is not None:
            data["tmpl"] = XfrmTemplate(
                src=ip_address(t["src"]), dst=ip_address(t["dst"]), reqid=int(t["reqid"]),
                proto=t.get("proto", "esp"), mode=t.get("mode", "transport"),
            )
    return cls(**data)
