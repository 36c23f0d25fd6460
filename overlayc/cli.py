"""The `overlayc` command line: arguments, calling stages, rendering, exit codes. No logic.

Exit codes (also in `overlayc --help` and the README):
  0 success / no changes · 1 error · 2 changes present (plan/apply --detailed-exitcode)
  3 apply failed and was rolled back · 4 apply failed and rollback is incomplete
  65 invalid configuration · 75 lock busy · 77 needs privileges
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from overlayc.cli_options import (
    ApplyExitcodeOption,
    AtOption,
    DetailedExitcodeOption,
    FileOption,
    JsonOption,
    KeyFileOption,
    LockedOption,
    LockTimeoutOption,
    PlanNetnsOption,
    PlanNodeOption,
    PlanOutOption,
    RenderFormat,
    StateDirOption,
    StateOption,
    YesOption,
)
from overlayc.cliflow import confirm_on_terminal, print_lines, progress_bar
from overlayc.compile import compile_node
from overlayc.compile import keys as keys_mod
from overlayc.config.load import LoadedConfig, load_config
from overlayc.config.schema import render_schema
from overlayc.errors import ConfigError, InputError, OverlaycError
from overlayc.files import keys as key_files
from overlayc.inputs import prepare_saved_target, prepare_target
from overlayc.kernel.state import Observed
from overlayc.render.diagnostics import render_diagnostics_json, render_diagnostics_text
from overlayc.render.iproute2 import render_iproute2

if TYPE_CHECKING:
    from overlayc.inputs import Target
    from overlayc.kernel.state import KernelState

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
    path = out if out is not None else key_files.default_key_path(node)
    public = key_files.generate_key_file(path, force=force)
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
    path = key_file if key_file is not None else key_files.default_key_path(node or "")
    public = keys_mod.public_key_of(key_files.read_private_key(path))
    typer.echo(f"public_key: {keys_mod.encode_key(public)}")
    typer.echo(f"fingerprint: {keys_mod.public_key_fingerprint(public)}")


# --- shared options: the configuration (every command that reads one uses these) ------------


def load_or_exit(files: list[Path], json_output: bool = False) -> LoadedConfig:
    """Load and validate the configuration; on problems print them and exit.

    Invalid configuration: every diagnostic (text on stderr, or the JSON envelope on stdout with
    `json_output`), then exit 65. Unreadable input: one clear line on stderr, exit 1."""
    try:
        return load_config(files)
    except ConfigError as err:
        if json_output:
            typer.echo(render_diagnostics_json(err.diagnostics), nl=False)
        else:
            colour = sys.stderr.isatty()
            text = render_diagnostics_text(err.diagnostics, err.sources, colour=colour)
            typer.echo(text, nl=False, err=True)
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
        typer.echo(render_diagnostics_json([]), nl=False)
    else:
        c = loaded.config
        typer.echo(f"{', '.join(str(f) for f in loaded.files)}: valid ({len(c.nodes)} nodes, "
                   f"{len(c.networks)} networks, {len(c.services)} services, {len(c.endpoints)} endpoints)")


# --- render (issue 3): one node's desired state as JSON or as an ip/bridge script ------------


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
    target = prepare_target(load_or_exit(files), node=node, at=at, key_file=key_file, locked=locked)
    state = compile_node(target.config, target.assignment, node, at=target.at, private_key=target.private_key)
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
    from overlayc.render.observed import render_observed_text

    live = observe_kernel(netns, cluster)
    typer.echo(live.owned.dumps() if json_output else render_observed_text(live), nl=False)


def _send_epoch(t: Target, live: KernelState) -> int | None:
    from overlayc.apply.continuity import send_epoch_for

    return send_epoch_for(t.config, t.assignment, t.node, t.at, (t.netns, t.state_dir), live)


# --- plan (issue 6): desired × live → ordered changes; saved plans for `apply PLAN` --------------
def _plan_live(netns: str | None, state: str | None, cluster: str) -> Observed:
    """The live side of a plan: a snapshot (`--state FILE|empty`) or the kernel of `netns`."""
    from overlayc.observe.kernel import observe as observe_kernel
    from overlayc.observe.snapshot import observe_snapshot

    return observe_snapshot(state) if state is not None else observe_kernel(netns, cluster)


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
    from overlayc.files.plans import save_plan
    from overlayc.plan import plan_node
    from overlayc.render.plan import render_plan_json, render_plan_text

    t = prepare_target(load_or_exit(files, json_output), node=node, netns=netns, at=at, key_file=key_file,
                       locked=locked, state_dir=state_dir)
    live = _plan_live(netns, state, t.config.cluster.name)
    # against this node's kernel: the send epoch its saved counters call for (offline: none)
    send = None if state is not None else _send_epoch(t, live.owned)
    plan = plan_node(t.config, t.assignment, t.node, at=t.at, private_key=t.private_key, live=live,
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
    from overlayc.apply.session import apply_target
    from overlayc.files.plans import load_plan
    from overlayc.render.outcome import render_apply_outcome

    loaded = load_or_exit(files)
    saved = load_plan(plan_file) if plan_file is not None else None
    target = (prepare_saved_target(loaded, saved, key_file=key_file, state_dir=state_dir) if saved is not None
              else prepare_target(loaded, node=node, netns=netns, at=at, key_file=key_file, locked=locked,
                                  state_dir=state_dir))
    applied = apply_target(target, confirm=confirm_on_terminal(yes, saved is not None), saved=saved,
                           lock_timeout=lock_timeout, progress=progress_bar)
    print_lines(render_apply_outcome(applied))
    raise typer.Exit(applied.result.outcome.exit_code(detailed_exitcode))


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
    from overlayc.render.outcome import render_destroy_outcome

    applied = destroy_netns(netns, cluster, confirm=confirm_on_terminal(yes, False),
                            lock_timeout=lock_timeout)
    print_lines(render_destroy_outcome(applied))


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
    from overlayc.agent.run import Settings, parse_interval, run_agent
    from overlayc.render.round import render_round_json

    try:
        seconds = parse_interval(interval)
    except ValueError as err:
        raise typer.BadParameter(f"{interval!r}: {err}", param_hint="--interval") from None
    settings = Settings(tuple(files), node, netns, key_file, seconds, jitter, lock_timeout, locked, state_dir)
    code = run_agent(settings, once=once, metrics_port=metrics_port, metrics_address=metrics_address,
                     out=lambda report: typer.echo(render_round_json(report)),
                     note=lambda line: typer.echo(line, err=True))
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
    from overlayc.agent.run import node_status
    from overlayc.render.status import render_status_json, render_status_text

    status = node_status(load_or_exit(files, json_output), node=node, netns=netns, at=at,
                         key_file=key_file, sample=sample, state_dir=state_dir)
    typer.echo(render_status_json(status) if json_output else render_status_text(status), nl=False)
    raise typer.Exit(status.exit_code)


def report(err: OverlaycError) -> int:
    """Print an error the way users read it (no traceback) and return its exit code."""
    if isinstance(err, ConfigError):  # every diagnostic, with source lines, never just a count
        typer.echo(render_diagnostics_text(err.diagnostics, err.sources, colour=sys.stderr.isatty()),
                   nl=False, err=True)
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
