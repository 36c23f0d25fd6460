"""Counters that survive restarts, on one node (DESIGN.md §4): read every SA's counters from the
kernel each round, save them under the state directory, restore them when an SA is created
again. The arithmetic and the file format are in `overlayc.apply.counters`.

    counters.json   in the target's state directory (overlayc.files.statedir), mode 0600,
                    replaced atomically (write, fsync, rename); SA identities, key fingerprints,
                    epochs and 64-bit counters: no key material.

A missing or unusable file is never an error: it is reported in words and the node falls back
to sending on the next epoch's SAs (`counters.send_epoch`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from overlayc.apply.counters import (
    Counters,
    CountersUnusable,
    Fallback,
    SaId,
    dumps,
    loads,
    merge,
    readings,
    replay_start,
    send_epoch,
)
from overlayc.compile.assign import Assignment
from overlayc.compile.epoch import epoch_of
from overlayc.compile.ipsec import compile_ipsec
from overlayc.compile.node import ipsec_peers
from overlayc.config.model import Config
from overlayc.errors import InputError
from overlayc.files.safe import MiB, read_capped, write_atomic
from overlayc.files.statedir import target_state_dir, target_state_path
from overlayc.kernel.health import SaCounters
from overlayc.kernel.objects import IPAddress, XfrmState
from overlayc.kernel.state import KernelState
from overlayc.kernel.xfrm_marks import LEGACY_REQID, owned_reqids
from overlayc.netlink import xfrm as nx
from overlayc.observe.counters import decode_sa_counters
from overlayc.observe.xfrm import Dumper

FILE_NAME = "counters.json"
FILE_MODE = 0o600
READ_LIMIT = 16 * MiB


@dataclass(frozen=True)
class Loaded:
    """The state file as read: its counters, or None with the reason in words (`problem`);
    `data`: its bytes (None when unreadable)."""

    path: Path
    counters: Counters | None
    problem: str | None = None
    data: bytes | None = None


def counters_path(netns: str | None, state_dir: Path | None, *, create: bool) -> Path:
    """The counters file of a target; with `create`, its directory is made (0700) if missing."""
    directory = target_state_dir(netns, state_dir) if create else target_state_path(netns, state_dir)
    return directory / FILE_NAME


def load_counters(path: Path) -> Loaded:
    """Read the counters file. Missing, unreadable or corrupt: counters None and why."""
    data = None
    try:
        data = read_capped(path, READ_LIMIT)
        return Loaded(path, loads(data), data=data)
    except CountersUnusable as err:
        return Loaded(path, None, f"{path}: saved counters unusable ({err}); they are ignored")
    except InputError as err:
        if not path.is_symlink() and not path.exists():
            return Loaded(path, None, f"{path}: no saved counters (a first run on this node, or its "
                                      "state directory was lost)")
        return Loaded(path, None, f"{err}; the saved counters are ignored")


def live_sas(xs: Dumper, reqids: frozenset[int]) -> Iterator[tuple[XfrmState, SaCounters]]:
    """Every ESP SA with one of `reqids` (a cluster's) of the socket's namespace with its counters."""
    for msg in xs.dump(nx.XFRM_MSG_GETSA, b""):
        if msg.type != nx.XFRM_MSG_NEWSA:
            continue
        head = nx.decode_sa_header(msg.body)
        if head.reqid not in reqids or head.proto != nx.IPPROTO_ESP or head.family not in nx.FAMILIES:
            continue
        try:
            sa = nx.decode_sa(msg.body)
        except ValueError:
            continue  # not of our shape: observe reports it as foreign
        yield sa, decode_sa_counters(msg.body)[1]


def outbound_sas(desired: KernelState, local: IPAddress) -> list[XfrmState]:
    return [sa for sa in desired.of_kind("xfrm-state") if isinstance(sa, XfrmState) and sa.src == local]


def choose_send_epoch(config: Config, at: datetime, local: IPAddress, desired: KernelState,
                      live: KernelState, counters: Counters | None) -> int | None:
    """The epoch of the node's outbound SAs (`counters.send_epoch`); None when it has none.
    `desired` is compiled for the epoch of `at`; `live` is what the kernel holds."""
    outbound = outbound_sas(desired, local)
    if not outbound:
        return None
    rotation = config.cluster.encryption.rotation
    return send_epoch(counters, cluster=config.cluster.id, rotation=rotation, epoch=epoch_of(at, rotation),
                      outbound_live=all(sa.key in live for sa in outbound))


@dataclass
class CounterKeeper:
    """Counters of one apply: what was loaded, where SAs created now start, what gets saved.

    `start_of` is handed to the executor (KernelHandle.starts); `record` reads the kernel and
    saves. `notes` collects what the user should know (a missing file, a fallback, a failed save)."""

    loaded: Loaded
    cluster: str
    local: IPAddress
    oldest_epoch: int
    fallback: Fallback | None
    reqids: frozenset[int] = frozenset({LEGACY_REQID})  # whose SAs are read: owned_reqids(cluster name)
    current: Counters | None = None
    restored: set[SaId] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    written: bytes | None = field(default=None, init=False)

    def start_of(self, sa: XfrmState) -> nx.ReplayStart | None:
        """Where the counters of `sa`, about to be created, begin (None: at 0): from what was
        loaded, merged with what `record` last read from the kernel (an SA replaced in place,
        e.g. one moved to its cluster's reqid, continues from its live counters)."""
        counters = self.current if self.current is not None else self.loaded.counters
        saved = counters.find(sa.src, sa.dst, sa.spi, sa.key_fp) if counters is not None else None
        try:
            start = replay_start(saved, self.local)
        except CountersUnusable as err:
            self.notes.append(f"SA spi {sa.spi:#010x}: {err}; created with its counters at 0")
            return None
        if start is not None and saved is not None:
            self.restored.add(saved.id)
        return start

    def record(self, desired: KernelState, xs: Dumper) -> None:
        """Read the kernel's counters and save them merged into what is known (a failed save is
        a note, not an error: the network is not taken down for a read-only /var/lib)."""
        sas = [sa for sa in desired.of_kind("xfrm-state") if isinstance(sa, XfrmState)]
        base = self.current if self.current is not None else self.loaded.counters
        self.current = merge(base, readings(sas, live_sas(xs, self.reqids), self.restored),
                             oldest_epoch=self.oldest_epoch, fallback=self.fallback)
        self._save()

    def undo(self, xs: Dumper) -> None:
        """After a rollback, when the kernel holds its prior SAs again: save what the file said of
        them when loaded (the fallback in force then, no epoch dropped), with everything this
        apply recorded (the SAs it made may have sent packets before they were removed), every
        counter the kernel still holds read again. Without this, a rotation change that is
        rolled back would leave a file without the prior epochs' counters or fallback, and the
        next apply would start an SA the peers had heard before at 0."""
        loaded = self.loaded.counters
        made = self.current.sas.values() if self.current is not None else ()
        known = merge(loaded, made, oldest_epoch=0, fallback=None)
        fresh = [replace(saved, oseq=c.oseq, seq=c.seq) for sa, c in live_sas(xs, self.reqids)
                 if (saved := known.sas.get((sa.src, sa.dst, sa.spi, sa.key_fp or ""))) is not None]
        fallback = loaded.fallback if loaded is not None else self.fallback
        self.current = merge(known, fresh, oldest_epoch=0, fallback=fallback)
        self._save()

    def _save(self) -> None:
        if self.current is None:
            return
        data = dumps(self.current, self.cluster)
        if data == self.written:
            return  # nothing moved (an idle node): no write, no fsync
        try:
            write_atomic(self.loaded.path, data, FILE_MODE)
            self.written = data
        except InputError as err:
            self.notes.append(f"could not save the SA counters: {err}")

    def __post_init__(self) -> None:
        self.written = self.loaded.data


def _decide(config: Config, at: datetime, local: IPAddress, loaded: Loaded, desired: KernelState,
            live: KernelState, recompile: Callable[[int], KernelState]
            ) -> tuple[KernelState, Fallback | None]:
    """The desired state on the send epoch that `loaded` and `live` call for, and the fallback
    in force (None: the node sends on the epoch of `at`)."""
    send = choose_send_epoch(config, at, local, desired, live, loaded.counters)
    rotation = config.cluster.encryption.rotation
    epoch = epoch_of(at, rotation)
    if send is None or send == epoch:
        return desired, None
    return recompile(send), Fallback(config.cluster.id, rotation, epoch)


def keep_counters(config: Config, at: datetime, local: IPAddress, where: tuple[str | None, Path | None],
                  desired: KernelState, live: KernelState, recompile: Callable[[int], KernelState]
                  ) -> tuple[KernelState, CounterKeeper | None]:
    """For an apply: the desired state with the outbound SAs on the right epoch, and the keeper
    of its counters (None when the node has no SA: nothing to keep, no state directory made).
    `where`: (netns, explicit state directory); `recompile(send_epoch)` compiles the node again
    for another send epoch."""
    if not desired.of_kind("xfrm-state"):
        return desired, None
    try:
        loaded = load_counters(counters_path(*where, create=True))
    except InputError as err:  # the directory cannot be made (read-only, a planted link): as lost
        loaded = Loaded(counters_path(*where, create=False), None, f"{err}; the SA counters cannot be kept")
    desired, fallback = _decide(config, at, local, loaded, desired, live, recompile)
    keeper = CounterKeeper(loaded, config.cluster.id, local,
                           epoch_of(at, config.cluster.encryption.rotation) - 1, fallback,
                           owned_reqids(config.cluster.name))
    if loaded.problem is not None:
        keeper.notes.append(loaded.problem)
    if fallback is not None and (loaded.counters is None or loaded.counters.fallback != fallback):
        keeper.notes.append(fallback_note(fallback))
    return desired, keeper


def fallback_note(fallback: Fallback) -> str:
    return (f"no saved counters for the SAs of epoch {fallback.epoch}: sending on the SAs of epoch "
            f"{fallback.epoch + 1} until it begins (every peer holds them, unused)")


def view_counters(config: Config, at: datetime, local: IPAddress, where: tuple[str | None, Path | None],
                  desired: KernelState, live: KernelState, recompile: Callable[[int], KernelState]
                  ) -> tuple[KernelState, Counters | None, tuple[str, ...]]:
    """For a read-only command (plan against the kernel, status): the desired state that apply
    would use (same send epoch), the saved counters, and lines describing them. Creates nothing."""
    if not desired.of_kind("xfrm-state"):
        return desired, None, ()
    loaded = load_counters(counters_path(*where, create=False))
    desired, fallback = _decide(config, at, local, loaded, desired, live, recompile)
    lines = []
    if loaded.counters is not None:
        restored = sum(1 for sa in loaded.counters.sas.values() if sa.restored)
        lines.append(f"saved in {loaded.path}: {len(loaded.counters.sas)} SA(s), {restored} created "
                     "with restored counters")
    elif loaded.problem is not None:
        lines.append(loaded.problem)
    if fallback is not None:
        lines.append(fallback_note(fallback))
    return desired, loaded.counters, tuple(lines)


def send_epoch_for(config: Config, assignment: Assignment, node: str, at: datetime,
                   where: tuple[str | None, Path | None], live: KernelState) -> int | None:
    """The send epoch apply would use on `node` against `live` (None: no SA), from the saved
    counters at `where` (netns, explicit state directory). Read-only; compiles the SAs only."""
    encrypted = [n for n in assignment.present(node) if config.networks[n].is_encrypted]
    if not encrypted:
        return None
    sas = compile_ipsec(config, node, ipsec_peers(assignment, node, encrypted), at, None)
    loaded = load_counters(counters_path(*where, create=False))
    return choose_send_epoch(config, at, config.nodes[node].address, KernelState(sas), live, loaded.counters)
