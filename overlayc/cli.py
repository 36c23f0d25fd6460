"""The `overlayc` command line: arguments, calling stages, rendering, exit codes. No logic.

Exit codes: one table in `overlayc.exitcodes` (also in `overlayc --help` and the README); errors,
usage errors and colour are handled once, by `overlayc.cliapp.OverlaycGroup`.
"""

from __future__ import annotations

import enum
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from overlayc import __version__
from overlayc import cliflow as flow
from overlayc.cliapp import OverlaycGroup, colour_for, report, set_no_colour
from overlayc.compile import assign_with_lock, compile_node
from overlayc.compile import epoch as epoch_mod
from overlayc.compile import keys as keys_mod
from overlayc.config.load import LoadedConfig, load_config
from overlayc.config.schema import render_schema
from overlayc.errors import OverlaycError
from overlayc.exitcodes import Exit, StatusExit, epilog
from overlayc.kernel.state import KernelState, Observed
from overlayc.render import hints
from overlayc.render.diagnostics import render_json
from overlayc.render.iproute2 import render_iproute2

if TYPE_CHECKING:
    from overlayc.compile import Assignment
    from overlayc.status import Status

app = typer.Typer(
    name="overlayc",
    cls=OverlaycGroup,
    help="Declarative compiler from YAML to the kernel state of secure VXLAN overlay networks.\n\n"
    "Example: overlayc validate -f examples/seed/overlay.yaml",
    epilog=epilog(),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"overlayc {__version__}")
        raise typer.Exit(Exit.OK)


@app.callback()
def _global_options(
    no_color: Annotated[bool, typer.Option("--no-color", help="no colour in any output "
                                           "(also: NO_COLOR set, TERM=dumb)")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """Declarative compiler from YAML to the kernel state of secure VXLAN overlay networks.

    Example: overlayc validate -f examples/seed/overlay.yaml"""
    set_no_colour(no_color)


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
    """Load and validate the configuration. Its errors propagate to `OverlaycGroup`, which prints
    them (every diagnostic; JSON under `--json`) and exits 65 (invalid) or 1 (unreadable)."""
    return load_config(files)


@app.command()
def validate(
    files: FileOption,
    json_output: JsonOption = False,
    locked: Annotated[bool, typer.Option("--locked", help="also fail (exit 1) when overlayc.lock "
                                         "is not up to date")] = False,
) -> None:
    """Check the configuration without touching any kernel or writing any file: everything
    `plan --state empty` checks (keys, subnets, VNIs, addresses, constraints, placement, subnet
    exhaustion, the lock file when there is one). Exit 0 valid, 65 invalid, 1 unreadable.

    Example: overlayc validate -f examples/seed/overlay.yaml --json"""
    from overlayc.compile.locked import check_with_lock

    loaded = load_or_exit(files, json_output)
    changes = check_with_lock(loaded, locked=locked)
    if json_output:
        typer.echo(render_json([]), nl=False)
        return
    c = loaded.config
    lock = (f"{loaded.lock_path} would change ({len(changes)} entries; plan/apply write it)" if changes
            else f"{loaded.lock_path} up to date" if loaded.lock_path.exists() else "no lock file yet")
    typer.echo(f"{', '.join(str(f) for f in loaded.files)}: valid ({len(c.nodes)} nodes, "
               f"{len(c.networks)} networks, {len(c.services)} services, {len(c.endpoints)} endpoints; "
               f"{lock})")


@app.command("nodes")
def nodes_command(files: FileOption, json_output: JsonOption = False) -> None:
    """List the configuration's nodes: name, address, role, labels (--json: for CI matrices).

    Example: overlayc nodes -f examples/seed/overlay.yaml --json | jq -r '.nodes[].name'"""
    from overlayc.render.nodes import render_nodes_json, render_nodes_text

    config = load_or_exit(files, json_output).config
    typer.echo(render_nodes_json(config) if json_output else render_nodes_text(config), nl=False)


# --- render (issue 3): one node's desired state as JSON or as an ip/bridge script ------------
class RenderFormat(enum.StrEnum):
    json = "json"
    iproute2 = "iproute2"
    dot = "dot"
    svg = "svg"


LockedOption = Annotated[
    bool,
    typer.Option("--locked", help="fail (exit 1, listing the changes) instead of updating overlayc.lock"),
]


@app.command("render")
def render(
    files: FileOption,
    node: Annotated[str | None, typer.Option("--node", help="the node to compile for "
                                             "(json, iproute2; dot and svg show every node)")] = None,
    fmt: Annotated[RenderFormat, typer.Option("--format", help="json, iproute2, or the cluster "
                                              "as a Graphviz picture: dot, svg")] = RenderFormat.json,
    at: AtOption = None,
    key_file: KeyFileOption = None,
    locked: LockedOption = False,
) -> None:
    """Print the desired kernel state of one node, or a picture of the cluster (updates
    overlayc.lock unless --locked).

    Examples: overlayc render -f examples/seed/overlay.yaml --node node2 --format iproute2;
    overlayc render -f examples/seed/overlay.yaml --format svg > seed.svg"""
    loaded = load_or_exit(files)
    assignment = assign_with_lock(loaded, locked=locked, on_write=_say_lock_written)
    when = resolve_at(at)
    if fmt in (RenderFormat.dot, RenderFormat.svg):
        typer.echo(_cluster_picture(loaded, assignment, when, svg=fmt is RenderFormat.svg), nl=False)
        return
    if node is None:
        raise typer.BadParameter(f"--format {fmt.value} renders one node: give --node "
                                 f"({', '.join(sorted(loaded.config.nodes))})", param_hint="--node")
    state = compile_node(loaded.config, assignment, node, at=when, private_key=resolve_key(node, key_file))
    text = state.dumps() if fmt is RenderFormat.json else render_iproute2(state, title=node)
    typer.echo(text, nl=False)


def _cluster_picture(loaded: LoadedConfig, assignment: Assignment, at: datetime, svg: bool) -> str:
    """The DOT (or SVG) picture of the whole cluster at `at` (no private keys: SPIs are public)."""
    from overlayc.render.dot import dot_to_svg, render_dot

    config = loaded.config
    states = {n: compile_node(config, assignment, n, at=at, private_key=None) for n in sorted(config.nodes)}
    encrypted = any(net.is_encrypted for net in config.networks.values())
    epoch = epoch_mod.epoch_of(at, config.cluster.encryption.rotation) if encrypted else None
    text = render_dot(config, assignment, states, at, epoch)
    return dot_to_svg(text) if svg else text


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


# --- plan (issue 6): desired × live → ordered changes; saved plans for `apply PLAN` --------------
def _plan_live(netns: str | None, state: str | None, cluster: str) -> Observed:
    """The live side of a plan: a snapshot (`--state FILE|empty`) or the kernel of `netns`."""
    from overlayc.observe.kernel import observe as observe_kernel
    from overlayc.observe.snapshot import observe_snapshot

    return observe_snapshot(state) if state is not None else observe_kernel(netns, cluster)


def _plan_node_name(loaded: LoadedConfig, node: str | None, netns: str | None,
                    state: str | None = None, live: KernelState | None = None) -> str:
    """`--node`; offline (`--state`), the node the snapshot `live` was taken on; otherwise the
    one configured node whose address is on a local interface of `netns`."""
    from overlayc.observe.addresses import choose_node
    from overlayc.observe.snapshot import node_of_snapshot

    addresses = {name: n.address for name, n in loaded.config.nodes.items()}
    if node is None and state is not None and live is not None:
        return node_of_snapshot(addresses, live, state)
    return choose_node(addresses, node, netns)


def _say_lock_written(path: Path, changes: list[str]) -> None:
    typer.echo(hints.lock_written(path, changes), err=True)


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
) -> None:
    """Show what apply would change on one node, in execution order (updates overlayc.lock
    unless --locked).

    Example: overlayc plan -f examples/seed/overlay.yaml --node node2 --state empty"""
    from overlayc.plan import plan_node, save_plan
    from overlayc.render.plan_json import render_json as render_plan_json
    from overlayc.render.text import render_text as render_plan_text

    loaded = load_or_exit(files, json_output)
    live = _plan_live(netns, state, loaded.config.cluster.name)
    name = _plan_node_name(loaded, node, netns, state, live.owned)
    assignment = assign_with_lock(loaded, locked=locked, on_write=_say_lock_written)
    plan = plan_node(loaded.config, assignment, name, at=resolve_at(at),
                     private_key=resolve_key(name, key_file), live=live, netns=netns)
    if out is not None:
        save_plan(plan, out)
        typer.echo(f"overlayc: saved the plan to {out}; `{hints.apply_saved(files, out)}` applies "
                   "exactly it", err=True)
    if json_output:
        typer.echo(render_plan_json(plan), nl=False)
    else:
        typer.echo(render_plan_text(plan, color=colour_for(sys.stdout)), nl=False)
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
    json_output: Annotated[bool, typer.Option("--json", help="a stream of JSON events, one per line, "
                                              "ending in the outcome (like terraform apply -json)")] = False,
) -> None:
    """Make one node's kernel match the configuration: plan, confirm, execute, verify by reading
    the kernel back, and roll back everything on any failure. A second apply changes nothing.

    Examples: overlayc apply -f overlay.yaml --node node2 --yes;
    overlayc plan -f overlay.yaml -o p.json && overlayc apply -f overlay.yaml p.json"""
    from overlayc.apply.session import Target, apply_target
    from overlayc.plan import load_plan

    def run() -> None:
        loaded = load_or_exit(files)
        saved = load_plan(plan_file) if plan_file is not None else None
        if saved is not None and plan_file is not None:
            flow.check_saved_target(saved, plan_file, node, netns, files)
        name = saved.node if saved is not None else _plan_node_name(loaded, node, netns)
        assignment = assign_with_lock(
            loaded, locked=locked or saved is not None, on_write=_say_lock_written,
            why="--locked" if locked else "a saved plan is applied with the lock it was made with")
        target = Target(loaded.config, assignment, name, saved.netns if saved is not None else netns,
                        saved.at if saved is not None else resolve_at(at), resolve_key(name, key_file))
        ask = flow.json_confirm if json_output else flow.confirm_on_terminal
        confirm = ask(yes, saved is not None, "apply", files=files)
        applied = apply_target(target, confirm=confirm, saved=saved, lock_timeout=lock_timeout,
                               progress=flow.json_progress if json_output else flow.progress_bar)
        flow.report_apply(applied, detailed_exitcode, json_output, files)

    if json_output:
        flow.json_stream("apply", run)
    else:
        run()


@app.command("destroy")
def destroy_command(
    netns: PlanNetnsOption = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="only this cluster's objects")] = None,
    yes: YesOption = False,
    lock_timeout: LockTimeoutOption = 0.0,
    json_output: Annotated[bool, typer.Option("--json", help="a stream of JSON events, one per line, "
                                              "ending in the outcome")] = False,
) -> None:
    """Remove everything overlayc owns in the namespace (links, FDB/ARP entries, endpoint
    namespaces, SAs and policies) and nothing else. Exit 0 done (or nothing to do), 5 declined.

    Example: overlayc destroy --netns node1 --yes"""
    from overlayc.apply.session import destroy_netns
    from overlayc.render import events

    def run() -> None:
        confirm = (flow.json_confirm if json_output else flow.confirm_on_terminal)(yes, False, "destroy")
        applied = destroy_netns(netns, cluster, confirm=confirm, lock_timeout=lock_timeout)
        done = applied.result.executed
        message = ("Nothing to destroy: overlayc owns nothing here." if applied.plan.empty
                   else f"Destroy complete: {done} object(s) removed.")
        typer.echo(events.outcome_event("changed" if done else "nothing", Exit.OK, done, message=message)
                   if json_output else message)

    if json_output:
        flow.json_stream("destroy", run)
    else:
        run()


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
) -> None:
    """Keep one node's kernel matching the configuration: every round re-reads it, plans,
    applies without asking and verifies; a round also runs right after each key epoch begins.
    One JSON line per round on stdout. SIGTERM: finish the round, exit 0; SIGHUP: new round now.

    Example: overlayc reconcile -f /etc/overlayc/overlay.yaml --interval 60s --jitter"""
    from overlayc.reconcile import Settings, parse_interval, run_agent

    try:
        seconds = parse_interval(interval)
    except ValueError as err:
        raise typer.BadParameter(f"{interval!r}: {err}", param_hint="--interval") from None
    settings = Settings(tuple(files), node, netns, key_file, seconds, jitter, lock_timeout, locked)
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
) -> None:
    """One node's health: networks (desired vs live, one line each), SAs per peer and epoch with
    their counters, the fail-closed sysctls, XFRM error counters and drift. Read-only (the lock
    file is not updated). Exit codes as a monitoring plugin: 0 healthy, 1 degraded, 2 critical
    (fail open, or blocked by a foreign object), 3 unknown (status could not run).

    Example: overlayc status -f overlay.yaml --netns node1 --json"""
    from overlayc.status import render_json as render_status_json
    from overlayc.status import render_text as render_status_text

    try:
        status = _node_status(files, node, netns, at, key_file, sample)
    except OverlaycError as err:  # could not look: UNKNOWN, whatever the cause
        report(err, json_output=json_output)
        raise typer.Exit(StatusExit.UNKNOWN) from None
    typer.echo(render_status_json(status) if json_output
               else render_status_text(status, colour=colour_for(sys.stdout)), nl=False)
    raise typer.Exit(status.exit_code)


def _node_status(files: list[Path], node: str | None, netns: str | None, at: str | None,
                 key_file: Path | None, sample: float) -> Status:
    """Compile, observe and sample one node into a Status (raises OverlaycError when it cannot)."""
    from overlayc.observe.counters import sample_health
    from overlayc.observe.kernel import observe as observe_kernel
    from overlayc.status import build_status

    loaded = load_config(files)
    name = _plan_node_name(loaded, node, netns)
    config, when = loaded.config, resolve_at(at)
    update = hints.command("plan", *hints.config_args(files), "--node", name, "--state", "empty")
    assignment = assign_with_lock(loaded, locked=True,
                                  why=f"status reads the lock as committed; `{update}` updates it")
    desired = compile_node(config, assignment, name, at=when,
                           private_key=resolve_key(name, key_file))
    live = observe_kernel(netns, config.cluster.name)
    first, second = sample_health(netns, config.nodes[name].address, seconds=sample,
                                  sysctls=bool(desired.of_kind("xfrm-policy")))
    return build_status(config, name, when, desired, live, first, second)


def main() -> None:
    """The console script: `OverlaycGroup` turns every outcome into an exit code."""
    app()


__all__ = ["app", "main", "report"]
