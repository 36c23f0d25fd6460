"""`overlayc status`: one node's health as a model (pure); `render.status` shows it.

Built from the desired state at `at`, the live state and one or two counter readings
(`overlayc.observe.counters.Health`). The node is HEALTHY (exit 0) unless one of these holds,
each listed in `problems`; exit codes follow the monitoring-plugin convention
(`overlayc.exitcodes.StatusExit`): CRITICAL (2) for 3. and for "blocked" in 1. (the node cannot be
brought to its configuration, or its encryption fails open), DEGRADED (1) for the others.

1. drift: the plan from the live kernel to the configuration is not empty (any object missing,
   different or extra — the first few changes are shown), or no plan can be made because a
   foreign object holds a name, SPI or selector the node needs ("blocked");
2. a peer's SA is missing: an inbound SA for e−1, e or e+1, or the outbound SA for e;
3. fail open: on a node with an encrypted network, a sysctl of `fail_closed_sysctls` is not 0;
4. errors growing: between the two readings (`status --sample SECONDS`), a counter of
   /proc/net/xfrm_stat or an SA's drop counter (replay window, replay, integrity) increased.
   An inbound SA dropping a peer's packets as replays is named with its likely cause (the peer
   re-created its SA without its saved counters), one failing integrity with its own.
   With one reading (`--sample 0`) counters are shown but never judged: a count since boot
   says nothing about now.

Per SA it also shows whether its counters were restored from the state directory when overlayc
created it (`overlayc.apply.continuity`), and for the node whether its SA counters are saved or
it sends on the next epoch's SAs for want of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from overlayc.apply.counters import Counters
from overlayc.compile.epoch import epoch_of, epoch_start
from overlayc.config.model import Config
from overlayc.diff import Change, diff
from overlayc.errors import PlanError
from overlayc.exitcodes import StatusExit
from overlayc.kernel.health import Health, SaCounters
from overlayc.kernel.objects import Bridge, Fdb, IPAddress, Neigh, Vxlan, XfrmState
from overlayc.kernel.ownership import key_text, parse_alias
from overlayc.kernel.state import KernelState, Observed

CRITICAL_PREFIXES = ("blocked: ", "fail open: ")


@dataclass(frozen=True)
class Count:
    desired: int
    live: int


@dataclass(frozen=True)
class NetworkStatus:
    """A network of the configuration on this node: `on_node` when placement puts it here,
    `present` when its bridge and vxlan exist in the kernel."""

    name: str
    encrypted: bool
    on_node: bool
    present: bool
    vxlan: str | None = None
    mtu: Count | None = None
    fdb: Count = Count(0, 0)
    neigh: Count = Count(0, 0)


@dataclass(frozen=True)
class SaStatus:
    direction: str  # "in" | "out"
    epoch: int
    spi: int
    installed: bool
    counters: SaCounters | None = None
    errors_growth: int = 0
    replay_growth: int = 0
    restored: bool = False


@dataclass(frozen=True)
class PeerStatus:
    node: str
    address: IPAddress
    sas: tuple[SaStatus, ...]


@dataclass(frozen=True)
class Status:
    node: str
    address: IPAddress
    at: datetime
    epoch: int | None
    next_rotation: datetime | None
    networks: tuple[NetworkStatus, ...]
    peers: tuple[PeerStatus, ...]
    sysctls: Mapping[str, str | None]
    xfrm_stat: Mapping[str, int]
    xfrm_growth: Mapping[str, int]
    drift: tuple[Change, ...]
    blocked: tuple[str, ...] = ()
    continuity: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def critical(self) -> bool:
        """Blocked (no plan can be made) or failing open (see the module docstring)."""
        return any(p.startswith(CRITICAL_PREFIXES) for p in self.problems)

    @property
    def verdict(self) -> str:
        return "HEALTHY" if self.healthy else "CRITICAL" if self.critical else "DEGRADED"

    @property
    def exit_code(self) -> int:
        """0 healthy, 1 degraded, 2 critical (see the module docstring)."""
        if self.healthy:
            return StatusExit.HEALTHY
        return StatusExit.CRITICAL if self.critical else StatusExit.DEGRADED


# --- building ---------------------------------------------------------------------------------
def _network_of(alias: str) -> str | None:
    tag = parse_alias(alias)
    return tag.network if tag is not None and tag.netns is None else None


def _vxlans(state: KernelState) -> dict[str, Vxlan]:
    """{network: vxlan} from the links' ownership tags."""
    return {n: o for o in state.of_kind("vxlan") if isinstance(o, Vxlan) and (n := _network_of(o.alias))}


def _count(state: KernelState, cls: type[Fdb] | type[Neigh], dev: str | None) -> int:
    """The `cls` entries on `dev`, counted in the state's compact table (no object per entry)."""
    table = state.entries.fdb if cls is Fdb else state.entries.neigh
    return len(table.get(dev, ())) if dev is not None else 0


def network_statuses(config: Config, desired: KernelState, live: KernelState) -> list[NetworkStatus]:
    """One NetworkStatus per network of the configuration, in name order."""
    want, have = _vxlans(desired), _vxlans(live)
    bridges = {o.name for o in live.of_kind("bridge") if isinstance(o, Bridge)}
    out = []
    for name, spec in sorted(config.networks.items()):
        d, v = want.get(name), have.get(name)
        present = v is not None and v.master in bridges
        dev = d.name if d is not None else v.name if v is not None else None
        mtu = Count(d.mtu if d else 0, v.mtu if v else 0) if d or v else None
        out.append(NetworkStatus(
            name, spec.is_encrypted, d is not None, present, dev, mtu,
            Count(_count(desired, Fdb, dev), _count(live, Fdb, dev)),
            Count(_count(desired, Neigh, dev), _count(live, Neigh, dev)),
        ))
    return out


def _replays(c: SaCounters) -> int:
    return c.replay_window_drops + c.replay_drops


def _sa_status(sa: XfrmState, direction: str, live: KernelState, first: Health,
               second: Health | None, counters: Counters | None) -> SaStatus:
    before = first.sa_counters.get(sa.key)
    after = second.sa_counters.get(sa.key) if second is not None else None
    growth = replays = 0
    if before is not None and after is not None:
        growth, replays = after.errors - before.errors, _replays(after) - _replays(before)
    saved = counters.find(sa.src, sa.dst, sa.spi, sa.key_fp) if counters is not None else None
    return SaStatus(direction, sa.epoch if sa.epoch is not None else -1, sa.spi, sa.key in live,
                    after or before, max(0, growth), max(0, replays),
                    saved is not None and saved.restored)


def peer_statuses(config: Config, node: str, desired: KernelState, live: KernelState, first: Health,
                  second: Health | None, counters: Counters | None = None) -> list[PeerStatus]:
    """Per peer (desired SAs grouped by the remote address): inbound SAs by epoch, then outbound."""
    local = config.nodes[node].address
    names = {spec.address: name for name, spec in config.nodes.items()}
    by_peer: dict[IPAddress, list[SaStatus]] = {}
    for sa in desired.of_kind("xfrm-state"):
        if not isinstance(sa, XfrmState):
            continue
        inbound = sa.dst == local
        peer = sa.src if inbound else sa.dst
        by_peer.setdefault(peer, []).append(
            _sa_status(sa, "in" if inbound else "out", live, first, second, counters))
    return [PeerStatus(names.get(a, str(a)), a, tuple(sorted(s, key=lambda x: (x.direction, x.epoch))))
            for a, s in sorted(by_peer.items())]


def growth(first: Mapping[str, int], second: Mapping[str, int] | None) -> dict[str, int]:
    """Counters that increased between two readings, by how much."""
    if second is None:
        return {}
    return {k: v - first.get(k, 0) for k, v in sorted(second.items()) if v > first.get(k, 0)}


def problems_of(status: Status) -> list[str]:
    """What makes `status` degraded (empty: healthy); see the module docstring."""
    out = [f"blocked: {what}" for what in status.blocked]
    if status.drift:
        out.append(f"drift: {len(status.drift)} change(s) needed to match the configuration")
    for peer in status.peers:
        for sa in peer.sas:
            if not sa.installed:
                out.append(f"peer {peer.node}: {sa.direction}bound SA of epoch {sa.epoch} "
                           f"(spi {sa.spi:#010x}) is not installed")
            out += _drop_problems(peer.node, sa)
    out += [f"fail open: {name} = {value} (must be 0)" for name, value in sorted(status.sysctls.items())
            if value not in (None, "0")]
    out += [f"errors growing: {name} +{delta}" for name, delta in status.xfrm_growth.items()]
    return out


def _drop_problems(peer: str, sa: SaStatus) -> list[str]:
    """Why an SA whose drop counters grew is a problem, with the likely cause."""
    out = []
    where = f"peer {peer}: SA spi {sa.spi:#010x}"
    if sa.replay_growth:
        out.append(f"{where} dropped {sa.replay_growth} more packet(s) as replays: {peer}'s sequence "
                   "counter went back (it re-created its SA without its saved counters: state "
                   "directory lost or too old?) or someone replays captured packets")
    other = sa.errors_growth - sa.replay_growth
    if other > 0:
        out.append(f"{where} dropped {other} more packet(s) failing integrity: a wrong key, or a "
                   f"sequence number from {peer} more than 2^32 away from the window (ESN)")
    return out


def build_status(config: Config, node: str, at: datetime, desired: KernelState, live: Observed,
                 first: Health, second: Health | None = None, *, counters: Counters | None = None,
                 continuity: tuple[str, ...] = ()) -> Status:
    """The Status of `node` at `at` (pure). `second`: a later counter reading, or None;
    `counters`: the node's saved SA counters; `continuity`: lines about them for the user."""
    encrypted = bool(desired.of_kind("xfrm-state") or desired.of_kind("xfrm-policy"))
    rotation = config.cluster.encryption.rotation
    epoch = epoch_of(at, rotation) if encrypted else None
    latest = second or first
    blocked: tuple[str, ...] = ()
    try:
        drift = tuple(diff(desired, live))
    except PlanError as err:  # foreign objects hold what the node needs: no plan can be made
        drift, blocked = (), tuple(f"{key_text(key)}: {what}" for key, what in err.collisions)
    status = Status(
        node=node, address=config.nodes[node].address, at=at, epoch=epoch,
        next_rotation=epoch_start(epoch + 1, rotation) if epoch is not None else None,
        networks=tuple(network_statuses(config, desired, live.owned)),
        peers=tuple(peer_statuses(config, node, desired, live.owned, first, second, counters)),
        sysctls=dict(latest.sysctls), xfrm_stat=dict(latest.xfrm_stat),
        xfrm_growth=growth(first.xfrm_stat, second.xfrm_stat if second else None),
        drift=drift, blocked=blocked, continuity=continuity,
    )
    return Status(**{**status.__dict__, "problems": tuple(problems_of(status))})
