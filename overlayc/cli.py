"""The `overlayc` command line: arguments, calling stages, rendering, exit codes. No logic.

Exit codes (also in `overlayc --help` and the README):
  0 success / no changes · 1 error · 2 changes present (plan/apply --detailed-exitcode)
  3 apply failed and was rolled back · 4 apply failed and rollback is incomplete
  65 invalid configuration · 75 lock busy · 77 needs privileges
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from overlayc.compile import assign_with_lock, compile_node
from overlayc.compile import epoch as epoch_mod
from overlayc.compile import keys as keys_mod
from overlayc.config.load import LoadedConfig, load_config
from overlayc.config.schema import render_schema
from overlayc.errors import ConfigError, InputError, OverlaycError
from overlayc.kernel.state import KernelState, Observed
from overlayc.render.diagnostics import render_json, render_text
from overlayc.render.iproute2 import render_iproute2

if TYPE_CHECKING:
    from overlayc.apply.counters import Counters
    from overlayc.apply.session import Applied
    from overlayc.compile import Assignment
    from overlayc.plan import Plan

EPILOG = (
    "Exit codes: 0 ok/no changes, 1 error, 2 changes (--detailed-exitcode), 3 apply rolled back, "
    "4 rollback incomplete, 65 invalid config, 75 lock busy, 77 needs privileges."
)

app = typer.Typer(
    name="overlayc",
    help="Declarative compiler from YAML to the kernel state of secure VXLAN overlay networks.\n\n"
    "Example: overlayc validate -f examples/seed/overlay.yaml",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


# --- shared options: time and node key as inputs of compile (DESIGN.md §4) --------------------
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at", metavar="RFC3339",
        help="compile for this instant, e.g. 2026-01-01T12:00:00Z (default: now, UTC); "
        "shows a key rotation before it happens",
    ),
]
KeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--key-file", metavar="PATH",
        help="the node's X25519 private key (default: $OVERLAYC_KEY_DIR or /etc/overlayc/keys, "
        "<node>.key; when that is missing, keys show as unavailable)",
    ),
]
StateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir", metavar="DIR",
        help="the node's state directory, where SA counters are saved so that they survive "
        "restarts (default: $OVERLAYC_STATE_DIR or /var/lib/overlayc)",
    ),
]


def resolve_at(at: str | None) -> datetime:
    """The instant an `--at` option names (now when absent); InputError when unparsable."""
    return epoch_mod.parse_at(at)


def resolve_key(node: str, key_file: Path | None) -> bytes | None:
    """The private key a `--key-file` option names for `node`, or None when unavailable."""
    return keys_mod.resolve_private_key(node, key_file)


keys_app = typer.Typer(
    help="Node key pairs: the private key stays on the node, the public key goes in the YAML.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


@keys_app.command("gen")
def keys_gen(
    node: Annotated[str, typer.Option("--node", help="node name, as in the YAML")],
    out: Annotated[Path | None, typer.Option("--out", metavar="PATH", help="where to write the key")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing key file")] = False,
) -> None:
    """Write a new X25519 private key (mode 0600) and print the public key line for the YAML."""
    path = out if out is not None else keys_mod.default_key_path(node)
    public = keys_mod.generate_key_file(path, force=force)
    typer.echo(f"wrote {path} (mode 0600); add under nodes.{node} in the YAML:", err=True)
    typer.echo(f"public_key: {keys_mod.encode_key(public)}")


@keys_app.command("show")
def keys_show(
    node: Annotated[str | None, typer.Option("--node", help="read the node's default key file")] = None,
    key_file: Annotated[Path | None, typer.Option("--key-file", metavar="PATH")] = None,
) -> None:
    """Print the public key and its fingerprint of a private key file (never the private key)."""
    if (node is None) == (key_file is None):
        raise typer.BadParameter("give exactly one of --node and --key-file")
    path = key_file if key_file is not None else keys_mod.default_key_path(node or "")
    public = keys_mod.public_key_of(keys_mod.read_private_key(path))
    typer.echo(f"public_key: {keys_mod.encode_key(public)}")
    typer.echo(f"fingerprint: {keys_mod.public_key_fingerprint(public)}")


# --- shared options: the configuration (every command that reads one uses these) ------------
FileOption = Annotated[
    list[Path],
    typer.Option(
        "-f", "--file", metavar="FILE|DIR",
        help="configuration file, or a directory of *.yaml files; repeat to merge several",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output (JSON)")]


def load_or_exit(files: list[Path], json_output: bool = False) -> LoadedConfig:
    """Load and validate the configuration; on problems print them and exit.

    Invalid configuration: every diagnostic (text on stderr, or the JSON envelope on stdout with
    `json_output`), then exit 65. Unreadable input: one clear line on stderr, exit 1."""
    try:
        return load_config(files)
    except ConfigError as err:
        if json_output:
            typer.echo(render_json(err.diagnostics), nl=False)
        else:
            colour = sys.stderr.isatty()
            typer.echo(render_text(err.diagnostics, err.sources, colour=colour), nl=False, err=True)
        raise typer.Exit(err.exit_code) from None
    except InputError as err:
        typer.echo(f"overlayc: error: {err}", err=True)
        raise typer.Exit(err.exit_code) from None


@app.command()
def validate(files: FileOption, json_output: JsonOption = False) -> None:
    """Check the configuration without touching any kernel: exit 0 valid, 65 invalid, 1 unreadable.

    Example: overlayc validate -f examples/seed/overlay.yaml --json"""
    loaded = load_or_exit(files, json_output)
    if json_output:
        typer.echo(render_json([]), nl=False)
    else:
        c = loaded.config
        typer.echo(f"{', '.join(str(f) for f in loaded.files)}: valid ({len(c.nodes)} nodes, "
                   f"{len(c.networks)} networks, {len(c.services)} services, {len(c.endpoints)} endpoints)")


# --- render (issue 3): one node's desired state as JSON or as an ip/bridge script ------------
class RenderFormat(enum.StrEnum):
    json = "json"
    iproute2 = "iproute2"


LockedOption = Annotated[
    bool,
    typer.Option("--locked", help="fail (exit 1, listing the changes) instead of updating overlayc.lock"),
]


@app.command("render")
def render(
    files: FileOption,
    node: Annotated[str, typer.Option("--node", help="the node to compile for")],
    fmt: Annotated[RenderFormat, typer.Option("--format", help="json or iproute2")] = RenderFormat.json,
    at: AtOption = None,
    key_file: KeyFileOption = None,
    locked: LockedOption = False,
) -> None:
    """Print the desired kernel state of one node (updates overlayc.lock unless --locked).

    Example: overlayc render -f examples/seed/overlay.yaml --node node2 --format iproute2"""
    loaded = load_or_exit(files)
    assignment = assign_with_lock(loaded, locked=locked)
    state = compile_node(
        loaded.config, assignment, node, at=resolve_at(at), private_key=resolve_key(node, key_file)
    )
    text = state.dumps() if fmt is RenderFormat.json else render_iproute2(state, title=node)
    typer.echo(text, nl=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the configuration (checked in as schemas/overlayc.schema.json)."""
    typer.echo(render_schema(), nl=False)


@app.command()
def observe(
    netns: Annotated[str | None, typer.Option("--netns", help="named network namespace to read")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="only this cluster's links")] = None,
    json_output: JsonOption = False,
) -> None:
    """Print the overlayc-owned live kernel state (secrets only as fingerprints). Needs root.

    Example: overlayc observe --netns node1 --json"""
    from overlayc.observe.kernel import observe as observe_kernel
    from overlayc.observe.text import format_observed

    live = observe_kernel(netns, cluster)
    typer.echo(live.owned.dumps() if json_output else format_observed(live), nl=False)


def _desired_with_counters(
    loaded: LoadedConfig, node: str, at: datetime, private_key: bytes | None, live: Observed,
    netns: str | None, state_dir: Path | None, *, locked: bool,
) -> tuple[KernelState, Counters | None, tuple[str, ...]]:
    """The node's desired state as apply would compile it against `live` (outbound SAs on the
    send epoch its saved counters call for), the saved counters and lines about them."""
    from overlayc.apply.continuity import view_counters

    assignment = assign_with_lock(loaded, locked=locked)
    config = loaded.config

    def build(send: int | None) -> KernelState:
        return compile_node(config, assignment, node, at=at, private_key=private_key, send_epoch=send)

    return view_counters(config, at, config.nodes[node].address, (netns, state_dir), build(None),
                         live.owned, build)


def _send_epoch(loaded: LoadedConfig, assignment: Assignment, node: str, at: datetime, netns: str | None,
                state_dir: Path | None, live: Observed) -> int | None:
    from overlayc.apply.continuity import send_epoch_for

    return send_epoch_for(loaded.config, assignment, node, at, (netns, state_dir), live.owned)


# --- plan (issue 6): desired × live → ordered changes; saved plans for `apply PLAN` --------------
def _plan_live(netns: str | None, state: str | None, cluster: str) -> Observed:
    """The live side of a plan: a snapshot (`--state FILE|empty`) or the kernel of `netns`."""
    from overlayc.observe.kernel import observe as observe_kernel
    from overlayc.observe.snapshot import observe_snapshot

    return observe_snapshot(state) if state is not None else observe_kernel(netns, cluster)


def _plan_node_name(loaded: LoadedConfig, node: str | None, netns: str | None) -> str:
    """`--node`, or the one configured node whose address is on a local interface of `netns`."""
    from overlayc.observe.addresses import choose_node

    return choose_node({name: n.address for name, n in loaded.config.nodes.items()}, node, netns)


PlanNodeOption = Annotated[
    str | None, typer.Option("--node", help="node to plan for (default: the one whose address is local)")
]
PlanNetnsOption = Annotated[str | None, typer.Option("--netns", help="named network namespace to plan for")]
PlanOutOption = Annotated[
    Path | None, typer.Option("-o", "--out", metavar="FILE", help="save the plan (JSON) for `apply FILE`")
]
DetailedExitcodeOption = Annotated[
    bool, typer.Option("--detailed-exitcode", help="exit 0 no changes, 1 error, 2 changes present")
]
StateOption = Annotated[
    str | None,
    typer.Option("--state", metavar="SNAPSHOT|empty",
                 help="plan offline against `overlayc observe --json` output, or `empty`"),
]


@app.command("plan")
def plan_command(
    files: FileOption,
    node: PlanNodeOption = None,
    netns: PlanNetnsOption = None,
    at: AtOption = None,
    key_file: KeyFileOption = None,
    json_output: JsonOption = False,
    out: PlanOutOption = None,
    detailed_exitcode: DetailedExitcodeOption = False,
    locked: LockedOption = False,
    state: StateOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Show what apply would change on one node, in execution order (updates overlayc.lock
    unless --locked).

    Example: overlayc plan -f examples/seed/overlay.yaml --node node2 --state empty"""
    from overlayc.plan import plan_node, save_plan
    from overlayc.render.plan_json import render_json as render_plan_json
    from overlayc.render.text import render_text as render_plan_text

    loaded = load_or_exit(files, json_output)
    name = _plan_node_name(loaded, node, netns)
    assignment = assign_with_lock(loaded, locked=locked)
    live = _plan_live(netns, state, loaded.config.cluster.name)
    when, private_key = resolve_at(at), resolve_key(name, key_file)
    # against this node's kernel: the send epoch its saved counters call for (offline: none)
    send = None if state is not None else _send_epoch(loaded, assignment, name, when, netns, state_dir, live)
    plan = plan_node(loaded.config, assignment, name, at=when, private_key=private_key, live=live,
                     netns=netns, send_epoch=send)
    if out is not None:
        save_plan(plan, out)
        typer.echo(f"overlayc: saved the plan to {out}; `overlayc apply {out}` applies exactly it", err=True)
    if json_output:
        typer.echo(render_plan_json(plan), nl=False)
    else:
        typer.echo(render_plan_text(plan, color=sys.stdout.isatty()), nl=False)
    if detailed_exitcode and not plan.empty:
        raise typer.Exit(2)


# --- apply / destroy (issue 6): execute, verify, roll back -------------------------------------
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]
LockTimeoutOption = Annotated[
    float,
    typer.Option("--lock-timeout", metavar="SECONDS",
                 help="wait this long for another overlayc on the same namespace (then exit 75)"),
]
ApplyExitcodeOption = Annotated[
    bool,
    typer.Option("--detailed-exitcode",
                 help="exit 0 nothing to do, 2 changed and verified, 3 failed and rolled back, "
                 "4 failed and rollback incomplete"),
]


def _confirm_on_terminal(yes: bool, saved: bool) -> Callable[[Plan], bool]:
    """The confirmation policy: --yes or a saved plan apply without asking; a terminal is asked
    (after seeing the plan); anything else is refused before a change is made."""
    from overlayc.render.text import render_text as render_plan_text

    def confirm(plan: Plan) -> bool:
        typer.echo(render_plan_text(plan, color=sys.stdout.isatty()), nl=False)
        if yes or saved:
            return True
        if not sys.stdin.isatty():
            raise InputError("refusing to apply without confirmation: stdin is not a terminal; "
                             "pass --yes, or apply a saved plan (`plan -o FILE`, then `apply FILE`)")
        answer = typer.prompt("Do you want to perform these actions? Only 'yes' will be accepted",
                              default="", show_default=False)
        if answer.strip() != "yes":
            typer.echo("Apply cancelled: nothing was changed.")
            return False
        return True

    return confirm


def _progress_bar(total: int) -> Callable[[int], None] | None:
    """A progress bar on stderr for long plans on a terminal (None otherwise)."""
    if total < 200 or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    task = bar.add_task("applying", total=total)
    bar.start()

    def update(done: int) -> None:
        bar.update(task, completed=done)
        if done >= total:
            bar.stop()

    return update


def _report_apply(applied: Applied, detailed: bool) -> None:
    from overlayc.apply.run import Outcome

    result, plan = applied.result, applied.plan
    for line in applied.notes:
        typer.echo(f"overlayc: note: {line}", err=True)
    if result.outcome is Outcome.NOTHING:
        if plan.empty:
            typer.echo(f"No changes. Node {plan.node} matches the configuration.")
        raise typer.Exit(0)
    if result.outcome is Outcome.CHANGED:
        s = plan.summary()
        typer.echo(f"Apply complete for {plan.node}: {s['add']} added, {s['change']} changed, "
                   f"{s['replace']} replaced, {s['destroy']} destroyed; verified against the kernel.")
        raise typer.Exit(2 if detailed else 0)
    for line in result.failures:
        typer.echo(f"overlayc: error: {line}", err=True)
    if result.outcome is Outcome.ROLLED_BACK:
        typer.echo(f"overlayc: apply failed; rolled back {result.executed} change(s): "
                   "the kernel is as it was before.", err=True)
    else:
        for line in result.rollback_problems:
            typer.echo(f"overlayc: error: {line}", err=True)
        typer.echo("overlayc: apply failed and the rollback is INCOMPLETE: run `overlayc plan` "
                   "to see what differs.", err=True)
    raise typer.Exit(int(result.outcome))


@app.command("apply")
def apply_command(
    files: FileOption,
    plan_file: Annotated[Path | None, typer.Argument(metavar="[PLAN]",
                                                     help="a plan saved with `plan -o`")] = None,
    node: PlanNodeOption = None,
    netns: PlanNetnsOption = None,
    at: AtOption = None,
    key_file: KeyFileOption = None,
    yes: YesOption = False,
    lock_timeout: LockTimeoutOption = 0.0,
    detailed_exitcode: ApplyExitcodeOption = False,
    locked: LockedOption = False,
    state_dir: StateDirOption = None,
) -> None:
    """Make one node's kernel match the configuration: plan, confirm, execute, verify by reading
    the kernel back, and roll back everything on any failure. A second apply changes nothing.

    Examples: overlayc apply -f overlay.yaml --node node2 --yes;
    overlayc plan -f overlay.yaml -o p.json && overlayc apply -f overlay.yaml p.json"""
    from overlayc.apply.session import Target, apply_target
    from overlayc.plan import load_plan

    loaded = load_or_exit(files)
    saved = load_plan(plan_file) if plan_file is not None else None
    name = saved.node if saved is not None else _plan_node_name(loaded, node, netns)
    target = Target(loaded.config, assign_with_lock(loaded, locked=locked or saved is not None), name,
                    saved.netns if saved is not None else netns,
                    saved.at if saved is not None else resolve_at(at), resolve_key(name, key_file), state_dir)
    applied = apply_target(target, confirm=_confirm_on_terminal(yes, saved is not None), saved=saved,
                           lock_timeout=lock_timeout, progress=_progress_bar)
    _report_apply(applied, detailed_exitcode)


@app.command("destroy")
def destroy_command(
    netns: PlanNetnsOption = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="only this cluster's objects")] = None,
    yes: YesOption = False,
    lock_timeout: LockTimeoutOption = 0.0,
) -> None:
    """Remove everything overlayc owns in the namespace (links, FDB/ARP entries, endpoint
    namespaces, SAs and policies) and nothing else.

    Example: overlayc destroy --netns node1 --yes"""
    from overlayc.apply.session import destroy_netns

    applied = destroy_netns(netns, cluster, confirm=_confirm_on_terminal(yes, False),
                            lock_timeout=lock_timeout)
    if applied.plan.empty:
        typer.echo("Nothing to destroy: overlayc owns nothing here.")
    elif applied.result.executed:
        typer.echo(f"Destroy complete: {len(applied.plan.changes)} object(s) removed.")


# --- reconcile / status (issue 9): the node agent and its health check --------------------------
@app.command("reconcile")
def reconcile_command(
    files: FileOption,
    node: PlanNodeOption = None,
    netns: PlanNetnsOption = None,
    key_file: KeyFileOption = None,
    interval: Annotated[str, typer.Option("--interval", metavar="DURATION",
                                          help="time between rounds, e.g. 60s, 5m")] = "60s",
    jitter: Annotated[bool, typer.Option("--jitter", help="spread rounds by ±10 % of the interval")] = False,
    once: Annotated[bool, typer.Option("--once", help="one round, exit with apply's detailed codes "
                                       "(0 nothing, 2 changed, 3 rolled back, 4 incomplete, "
                                       "65 invalid config, 1 error)")] = False,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", metavar="PORT",
                                                     help="serve Prometheus metrics on this port")] = None,
    metrics_address: Annotated[str, typer.Option("--metrics-address", metavar="ADDR",
                                                 help="address of the metrics server")] = "127.0.0.1",
    lock_timeout: LockTimeoutOption = 10.0,
    locked: LockedOption = False,
    state_dir: StateDirOption = None,
) -> None:
    """Keep one node's kernel matching the configuration: every round re-reads it, plans,
    applies without asking and verifies; a round also runs right after each key epoch begins.
    One JSON line per round on stdout. SIGTERM: finish the round, save the SA counters, exit 0;
    SIGHUP: new round now.

    Example: overlayc reconcile -f /etc/overlayc/overlay.yaml --interval 60s --jitter"""
    from overlayc.reconcile import Settings, parse_interval, run_agent

    try:
        seconds = parse_interval(interval)
    except ValueError as err:
        raise typer.BadParameter(f"{interval!r}: {err}", param_hint="--interval") from None
    settings = Settings(tuple(files), node, netns, key_file, seconds, jitter, lock_timeout, locked, state_dir)
    code = run_agent(settings, once=once, metrics_port=metrics_port, metrics_address=metrics_address,
                     out=lambda line: typer.echo(line), note=lambda line: typer.echo(line, err=True))
    raise typer.Exit(code)


@app.command("status")
def status_command(
    files: FileOption,
    node: PlanNodeOption = None,
    netns: PlanNetnsOption = None,
    at: AtOption = None,
    key_file: KeyFileOption = None,
    json_output: JsonOption = False,
    sample: Annotated[float, typer.Option("--sample", metavar="SECONDS",
                                          help="read the counters twice this far apart to see them "
                                          "grow (0: once, never judged)")] = 1.0,
    state_dir: StateDirOption = None,
) -> None:
    """One node's health: networks (desired vs live), SAs per peer and epoch with their counters,
    the fail-closed sysctls, XFRM error counters and drift. Exit 0 healthy, 1 degraded. Read-only
    (the lock file is not updated).

    Example: overlayc status -f overlay.yaml --netns node1 --json"""
    from overlayc.observe.counters import sample_health
    from overlayc.observe.kernel import observe as observe_kernel
    from overlayc.status import build_status
    from overlayc.status import render_json as render_status_json
    from overlayc.status import render_text as render_status_text

    loaded = load_or_exit(files, json_output)
    name = _plan_node_name(loaded, node, netns)
    config, when = loaded.config, resolve_at(at)
    live = observe_kernel(netns, config.cluster.name)
    desired, counters, lines = _desired_with_counters(loaded, name, when, resolve_key(name, key_file),
                                                      live, netns, state_dir, locked=True)
    first, second = sample_health(netns, config.nodes[name].address, seconds=sample,
                                  sysctls=bool(desired.of_kind("xfrm-policy")))
    status = build_status(config, name, when, desired, live, first, second, counters=counters,
                          continuity=lines)
    typer.echo(render_status_json(status) if json_output else render_status_text(status), nl=False)
    raise typer.Exit(status.exit_code)


def report(err: OverlaycError) -> int:
    """Print an error the way users read it (no traceback) and return its exit code."""
    if isinstance(err, ConfigError):  # every diagnostic, with source lines, never just a count
        typer.echo(render_text(err.diagnostics, err.sources, colour=sys.stderr.isatty()), nl=False, err=True)
        return err.exit_code
    typer.echo(f"overlayc: error: {err}", err=True)
    return err.exit_code


def main() -> None:
    try:
        app()
    except OverlaycError as err:  # stages raise, the CLI reports
        sys.exit(report(err))
    except KeyboardInterrupt:
        sys.exit(130)
