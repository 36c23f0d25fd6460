"""The `overlayc` command line: arguments, calling stages, rendering, exit codes. No logic.

Exit codes: one table in `overlayc.exitcodes` (also in `overlayc --help` and the README); errors,
usage errors and colour are handled once, by `overlayc.cliapp.OverlaycGroup`.
"""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from overlayc import __version__
from overlayc import cliflow as flow
from overlayc.cli_agent import reconcile_command, status_command
from overlayc.cli_keys import keys_app
from overlayc.cli_options import (
    AllowMissingAddressOption,
    ApplyExitcodeOption,
    AtOption,
    DetailedExitcodeOption,
    EventsOption,
    FileOption,
    FullOption,
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
from overlayc.cliapp import OverlaycGroup, colour_for, only_command, report, set_no_colour
from overlayc.compile import compile_node
from overlayc.compile import epoch as epoch_mod
from overlayc.config.load import LoadedConfig, load_config
from overlayc.exitcodes import Exit, epilog
from overlayc.files.statedir import state_root
from overlayc.inputs import (
    assign_with_lock,
    check_with_lock,
    offline_node,
    prepare_saved_target,
    prepare_target,
)
from overlayc.kernel.state import KernelState
from overlayc.options import (
    check_cluster,
    check_netns,
    check_node,
)
from overlayc.render import hints

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


app.add_typer(keys_app, name="keys")




def load_or_exit(files: list[Path], json_output: bool = False) -> LoadedConfig:
    """Load and validate the configuration. Its errors propagate to `OverlaycGroup`, which prints
    them (every diagnostic; JSON under `--json`) and exits 65 (invalid) or 1 (unreadable)."""
    return load_config(files)


def _say_lock_written(path: Path, changes: list[str]) -> None:
    typer.echo(hints.lock_written(path, changes), err=True)


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
    loaded = load_or_exit(files, json_output)
    changes = check_with_lock(loaded, locked=locked, cache=state_root())
    if json_output:
        from overlayc.render.diagnostics import render_diagnostics_json

        typer.echo(render_diagnostics_json([]), nl=False)
        return
    typer.echo(hints.validated(loaded, changes))


@app.command("nodes")
def nodes_command(files: FileOption, json_output: JsonOption = False) -> None:
    """List the configuration's nodes: name, address, role, labels (--json: for CI matrices).

    Example: overlayc nodes -f examples/seed/overlay.yaml --json | jq -r '.nodes[].name'"""
    from overlayc.render.nodes import render_nodes_json, render_nodes_text

    config = load_or_exit(files, json_output).config
    typer.echo(render_nodes_json(config) if json_output else render_nodes_text(config), nl=False)


# --- render (issue 3): one node's desired state as JSON or as an ip/bridge script ------------
@app.command("render")
def render(
    files: FileOption,
    node: Annotated[str | None, typer.Option("--node", callback=check_node, help="the node to compile "
                                             "for (json, iproute2; dot and svg show every node)")] = None,
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
    if fmt in (RenderFormat.dot, RenderFormat.svg):
        from overlayc.render.dot import render_cluster

        assignment = assign_with_lock(loaded, locked=locked, on_write=_say_lock_written)
        when, svg = epoch_mod.parse_at(at), fmt is RenderFormat.svg
        typer.echo(render_cluster(loaded.config, assignment, when, svg=svg), nl=False)
        return
    if node is None:
        raise typer.BadParameter(f"--format {fmt.value} renders one node: give --node "
                                 f"({', '.join(sorted(loaded.config.nodes))})", param_hint="--node")
    target = prepare_target(loaded, node=node, at=at, key_file=key_file, locked=locked,
                            on_write=_say_lock_written)
    state = compile_node(target.config, target.assignment, node, at=target.at, private_key=target.private_key)
    if fmt is RenderFormat.json:
        typer.echo(state.dumps(), nl=False)
        return
    from overlayc.render.iproute2 import render_iproute2

    text = render_iproute2(state, title=node)
    typer.echo(text, nl=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the configuration (checked in as schemas/overlayc.schema.json)."""
    from overlayc.config.schema import render_schema

    typer.echo(render_schema(), nl=False)


@app.command()
def observe(
    netns: Annotated[str | None, typer.Option("--netns", help="named network namespace to read",
                                              callback=check_netns)] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="only this cluster's links",
                                                callback=check_cluster)] = None,
    json_output: JsonOption = False,
) -> None:
    """Print the overlayc-owned live kernel state (secrets only as fingerprints). Needs root.

    Example: overlayc observe --netns node1 --json"""
    from overlayc.observe.kernel import observe as observe_kernel
    from overlayc.render.observed import render_observed_text

    live = observe_kernel(netns, cluster)
    typer.echo(live.owned.dumps() if json_output else render_observed_text(live), nl=False)


# --- plan (issue 6): desired × live → ordered changes; saved plans for `apply PLAN` --------------
def _snapshot_owner(live: KernelState) -> str:
    """The identity of the namespace a snapshot was taken in (its sandboxes' names say it), else
    a stand-in: what a plan against the snapshot names the node's sandboxes after."""
    from overlayc.kernel.objects import Sandbox
    from overlayc.kernel.ownership import OFFLINE_OWNER, parse_sandbox_name

    owners = {p[2] for o in live.of_kind("sandbox")
              if isinstance(o, Sandbox) and (p := parse_sandbox_name(o.name)) is not None}
    return owners.pop() if len(owners) == 1 else OFFLINE_OWNER


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
    full: FullOption = False,
    state_dir: StateDirOption = None,
) -> None:
    """Show what apply would change on one node, in execution order (updates overlayc.lock
    unless --locked).

    Example: overlayc plan -f examples/seed/overlay.yaml --node node2 --state empty"""
    from overlayc.observe.snapshot import observe_snapshot
    from overlayc.plan import plan_node
    from overlayc.render.groups import device_networks
    from overlayc.render.plan import render_plan_json, render_plan_text

    loaded = load_or_exit(files, json_output)
    if state is None:  # the kernel's reader (netlink, background dumps) only when it is read
        from overlayc.planlive import plan_on_kernel

        t, plan = plan_on_kernel(loaded, node=node, netns=netns, at=at, key_file=key_file, locked=locked,
                                 state_dir=state_dir, on_write=_say_lock_written)
    else:
        live = observe_snapshot(state)  # --state FILE|empty
        t = prepare_target(loaded, node=offline_node(loaded, node, state, live.owned), netns=netns, at=at,
                           key_file=key_file, locked=locked, on_write=_say_lock_written,
                           state_dir=state_dir)
        plan = plan_node(t.config, t.assignment, t.node, at=t.at, private_key=t.private_key, live=live,
                         netns=netns, owner=_snapshot_owner(live.owned))
    if out is not None:
        from overlayc.files.plans import save_plan

        save_plan(plan, out)
        typer.echo(f"overlayc: saved the plan to {out}; `{hints.apply_saved(files, out)}` applies "
                   "exactly it", err=True)
    if json_output:
        typer.echo(render_plan_json(plan), nl=False)
    else:
        typer.echo(render_plan_text(plan, color=colour_for(sys.stdout), full=full,
                                    networks=device_networks(t.assignment.vnis)), nl=False)
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
    json_output: EventsOption = False,
    full: FullOption = False,
    allow_missing_address: AllowMissingAddressOption = False,
    state_dir: StateDirOption = None,
) -> None:
    """Make one node's kernel match the configuration: plan, confirm, execute, verify by reading
    the kernel back, and roll back everything on any failure. A second apply changes nothing.

    Examples: overlayc apply -f overlay.yaml --node node2 --yes;
    overlayc plan -f overlay.yaml -o p.json && overlayc apply -f overlay.yaml p.json"""
    from overlayc.apply import interrupt
    from overlayc.apply.session import apply_target
    from overlayc.files.plans import load_plan
    from overlayc.render.groups import device_networks

    def run() -> None:
        loaded = load_or_exit(files)
        saved = load_plan(plan_file) if plan_file is not None else None
        if saved is not None and plan_file is not None:
            flow.check_saved_target(saved, plan_file, node, netns, files)
        target = (prepare_saved_target(loaded, saved, key_file=key_file, state_dir=state_dir)
                  if saved is not None else
                  prepare_target(loaded, node=node, netns=netns, at=at, key_file=key_file, locked=locked,
                                 on_write=_say_lock_written, state_dir=state_dir, make_cache=True))
        confirm = (flow.json_confirm(yes, saved is not None, "apply", files=files) if json_output else
                   flow.confirm_on_terminal(yes, saved is not None, "apply", files=files, full=full,
                                            networks=device_networks(target.assignment.vnis)))
        with interrupt.handled():  # SIGTERM/SIGINT while changing the kernel: roll back, exit 3
            applied = apply_target(target, confirm=confirm, saved=saved, lock_timeout=lock_timeout,
                                   progress=flow.json_progress if json_output else flow.progress_bar,
                                   allow_missing_address=allow_missing_address)
        flow.print_repaired(applied.repaired)
        flow.report_apply(applied, detailed_exitcode, json_output, files)

    if json_output:
        flow.json_stream("apply", run)
    else:
        run()


@app.command("destroy")
def destroy_command(
    netns: PlanNetnsOption = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="only this cluster's objects",
                                                callback=check_cluster)] = None,
    yes: YesOption = False,
    lock_timeout: LockTimeoutOption = 0.0,
    json_output: EventsOption = False,
) -> None:
    """Remove everything overlayc owns in the namespace (links, FDB/ARP entries, endpoint
    namespaces, SAs and policies) and nothing else. Exit 0 done (or nothing to do), 5 declined.

    Example: overlayc destroy --netns node1 --yes"""
    from overlayc.apply import interrupt
    from overlayc.apply.session import destroy_netns
    from overlayc.render import events
    from overlayc.render.outcome import render_destroy_outcome

    def run() -> None:
        ask = flow.json_confirm if json_output else flow.confirm_on_terminal
        with interrupt.handled():  # SIGTERM/SIGINT never stop a destroy half-way
            applied = destroy_netns(netns, cluster, confirm=ask(yes, False, "destroy"),
                                    lock_timeout=lock_timeout)
        flow.print_repaired(applied.repaired)
        lines = render_destroy_outcome(applied)
        if not json_output:
            flow.print_lines(lines)
            return
        done = applied.result.executed
        typer.echo(events.outcome_event("changed" if done else "nothing", Exit.OK, done,
                                        message=" ".join(lines.out)))

    if json_output:
        flow.json_stream("destroy", run)
    else:
        run()


# --- reconcile / status (cli_agent) and keys (cli_keys) ----------------------------------------
app.command("reconcile")(reconcile_command)
app.command("status")(status_command)


def main() -> None:
    """The console script: `OverlaycGroup` turns every outcome into an exit code."""
    with only_command(app, sys.argv[1:], os.environ):
        app()


__all__ = ["app", "main", "report"]
