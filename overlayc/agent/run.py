"""The agent on the real kernel: `overlayc reconcile` (rounds of `prepare_target` +
`apply_target`, signals, metrics) and `overlayc status` (compile, observe, sample the counters,
judge)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from overlayc.agent.loop import Control, Reconciler, Sink
from overlayc.agent.report import EXIT_CODES, RoundOutcome
from overlayc.agent.status import Status, build_status
from overlayc.apply.run import Outcome
from overlayc.apply.session import Applied, apply_target, check_fail_closed, save_counters
from overlayc.compile import compile_node
from overlayc.config.load import LoadedConfig
from overlayc.errors import OverlaycError
from overlayc.inputs import Target, prepare_target
from overlayc.kernel.state import KernelState


@dataclass(frozen=True)
class Settings:
    """What `overlayc reconcile` was started with."""

    files: tuple[Path, ...]
    node: str | None = None
    netns: str | None = None
    key_file: Path | None = None
    interval: float = 60.0
    jitter: bool = False
    lock_timeout: float = 10.0
    locked: bool = False
    allow_missing_address: bool = False
    state_dir: Path | None = None


def parse_interval(text: str) -> float:
    """`60s` / `5m` / `1h` / `90` → seconds (> 0); ValueError otherwise."""
    from overlayc.config.model import parse_duration

    value = text.strip()
    seconds = parse_duration(int(value) if value.isdigit() else value)
    if seconds <= 0:
        raise ValueError("the interval must be positive")
    return float(seconds)


def round_target(settings: Settings, at: datetime) -> Target:
    """The Target of one round: everything re-read (configuration, lock, key file, node)."""
    return prepare_target(settings.files, node=settings.node, netns=settings.netns, at=at,
                          key_file=settings.key_file, locked=settings.locked, state_dir=settings.state_dir)


def kernel_reconciler(settings: Settings, control: Control, sinks: Sequence[Sink],
                      note: Callable[[str], None] = lambda line: None) -> Reconciler:
    """A Reconciler on the real kernel: `prepare_target` + `apply_target` without a prompt.

    A round that changes nothing still checks the fail-closed sysctls (apply checks them only
    around changes), so a fail-open node fails every round, naming the sysctl. On a stop, the
    SA counters are saved once more (`save_counters`), its notes going to `note`."""
    def apply(target: Target) -> Applied:
        applied = apply_target(target, confirm=lambda plan: True, lock_timeout=settings.lock_timeout,
                               allow_missing_address=settings.allow_missing_address)
        if applied.result.outcome is Outcome.NOTHING:
            check_fail_closed(target, applied.desired)
        return applied

    def on_stop(target: Target) -> None:
        try:
            for line in save_counters(target, lock_timeout=settings.lock_timeout):
                note(f"overlayc: {line}")
        except (OverlaycError, OSError) as err:
            note(f"overlayc: could not save the SA counters on exit: {err}")

    return Reconciler(prepare=lambda at: round_target(settings, at), apply=apply,
                      interval=settings.interval, control=control, sinks=sinks, jitter=settings.jitter,
                      node_hint=settings.node, on_stop=on_stop)


def _install_signals(control: Control) -> dict[int, Any]:
    """SIGTERM/SIGINT → stop after the round; SIGHUP → a new round right after this one."""
    previous: dict[int, Any] = {}
    for sig, handler in ((signal.SIGTERM, control.request_stop), (signal.SIGINT, control.request_stop),
                         (signal.SIGHUP, control.request_reload)):
        previous[sig] = signal.signal(sig, _handler(handler))
    return previous


def _handler(action: Callable[[], None]) -> Callable[[int, Any], None]:
    def handle(_signum: int, _frame: Any) -> None:
        action()

    return handle


def run_agent(settings: Settings, *, once: bool, metrics_port: int | None, metrics_address: str,
              out: Sink, note: Callable[[str], None]) -> int:
    """Run the agent on the real kernel: every round's report to `out` (the CLI prints its JSON
    line), notes to `note`.

    Returns the exit code: with `once`, the round's (EXIT_CODES); else 0 after SIGTERM/SIGINT.
    Raises NeedsPrivileges (77) up front when the process cannot administer the network."""
    from overlayc.apply.preflight import check_privileges

    check_privileges("reconcile")
    control = Control()
    sinks: list[Sink] = [out]
    stop_server: Callable[[], None] = lambda: None  # noqa: E731
    if metrics_port is not None:
        from overlayc.agent.metrics import round_metrics

        sink, stop_server = round_metrics(settings.netns, metrics_port, metrics_address, note)
        sinks.append(sink)
    previous = _install_signals(control)
    try:
        last = kernel_reconciler(settings, control, sinks, note).run(once=once)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop_server()
    if once:
        return last.exit_code if last is not None else EXIT_CODES[RoundOutcome.ERROR]
    return 0


def node_status(loaded: LoadedConfig, *, node: str | None, netns: str | None, at: str | None,
                key_file: Path | None, sample: float, state_dir: Path | None = None) -> Status:
    """`overlayc status`: the node's desired state (the lock read, never written; its outbound SAs
    on the epoch its saved SA counters call for, as apply would), the live kernel of `netns`, one
    or two counter readings `sample` seconds apart, judged."""
    from overlayc.apply.continuity import view_counters
    from overlayc.inputs import choose_node_of
    from overlayc.kernel.xfrm_marks import owned_reqids
    from overlayc.netlink.netns import Namespace, namespace_id
    from overlayc.observe.counters import sample_health
    from overlayc.observe.kernel import observe
    from overlayc.render import hints

    name = choose_node_of(loaded, node, netns)
    update = hints.command("plan", *hints.config_args(loaded.files), "--node", name, "--state", "empty")
    target = prepare_target(loaded, node=name, netns=netns, at=at, key_file=key_file, locked=True,
                            why=f"status reads the lock as committed; `{update}` updates it",
                            state_dir=state_dir)
    config = target.config

    def build(send: int | None) -> KernelState:
        return compile_node(config, target.assignment, target.node, at=target.at,
                            private_key=target.private_key, send_epoch=send, owner=namespace_id(netns))

    with Namespace(netns) as ns:
        live = observe(ns, config.cluster.name)
        desired, counters, lines = view_counters(config, target.at, target.address, (netns, state_dir),
                                                 build(None), live.owned, build)
        first, second = sample_health(ns, target.address, seconds=sample,
                                      sysctls=bool(desired.of_kind("xfrm-policy")),
                                      reqids=owned_reqids(config.cluster.name))
    return build_status(config, target.node, target.at, desired, live, first, second, counters=counters,
                        continuity=lines)
