"""The interactive side of apply and destroy, for `overlayc.cli`: the confirmation policy, progress
(a bar on a terminal, events under `--json`), the JSON event stream around a command, printing
what `render.outcome` made (or the outcome event) with its exit code, and the check that a saved
plan is applied to its own target.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from overlayc.cliapp import colour_for
from overlayc.errors import Declined, InputError, OverlaycError
from overlayc.render import hints

if TYPE_CHECKING:
    from overlayc.apply.session import Applied
    from overlayc.plan import Plan
    from overlayc.render.outcome import Lines


def _node_args(plan: Plan) -> list[str]:
    return ["--node", plan.node, *(["--netns", plan.netns] if plan.netns else [])]


def confirm_on_terminal(yes: bool, saved: bool, operation: str = "apply", show: bool = True,
                        files: Sequence[Path] = (), *, full: bool = False,
                        networks: Mapping[str, str] | None = None) -> Callable[[Plan], bool]:
    """The confirmation policy: --yes or a saved plan go ahead without asking; a terminal is asked
    (after seeing the plan, unless `show` is off: fdb/neighbour entries counted per device unless
    `full`; `networks`, vxlan device → network, names them); anything else is refused before a
    change is made, naming the commands that work (with `files`, the configuration given). A
    declined prompt raises Declined (exit 5): nothing was changed."""
    from overlayc.render.plan import render_plan_text

    def confirm(plan: Plan) -> bool:
        if show:
            text = render_plan_text(plan, color=colour_for(sys.stdout), full=full, networks=networks)
            typer.echo(text, nl=False)
        if yes or saved:
            return True
        if not sys.stdin.isatty():
            how = "pass --yes"
            if operation == "apply" and files:
                save = hints.command("plan", *hints.config_args(files), *_node_args(plan), "-o", "plan.json")
                how += (f", or save a plan and apply exactly it: `{save}`, then "
                        f"`{hints.apply_saved(files, Path('plan.json'))}`")
            raise InputError(f"refusing to {operation} without confirmation: stdin is not a terminal; "
                             + how)
        answer = typer.prompt(f"Do you want to {operation} these changes? Only 'yes' will be accepted",
                              default="", show_default=False, err=True)
        if answer.strip() != "yes":
            raise Declined(f"{operation} cancelled at the prompt: nothing was changed")
        return True

    return confirm


def print_repaired(repaired: tuple[str, ...]) -> None:
    """One note on stderr per object an interrupted earlier run had left half-made (removed)."""
    for line in repaired:
        typer.echo(f"overlayc: note: left by an interrupted run: {line}", err=True)


def progress_bar(total: int) -> Callable[[int], None] | None:
    """A progress bar on stderr for long plans on a terminal (None otherwise)."""
    if total < 200 or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True, no_color=not colour_for(sys.stderr)), transient=True)
    task = bar.add_task("applying", total=total)
    bar.start()

    def update(done: int) -> None:
        bar.update(task, completed=done)
        if done >= total:
            bar.stop()

    return update


def print_lines(lines: Lines) -> None:
    for line in lines.out:
        typer.echo(line)
    for line in lines.err:
        typer.echo(line, err=True)


def report_apply(applied: Applied, detailed: bool, json_output: bool = False,
                 files: Sequence[Path] = ()) -> None:
    """Print the outcome (text, or the last event under --json) and exit with its code."""
    from overlayc.render import events
    from overlayc.render.outcome import render_apply_outcome

    result, plan = applied.result, applied.plan
    code = result.outcome.exit_code(detailed)
    if json_output:
        typer.echo(events.outcome_event(result.outcome.name.lower(), code, result.executed,
                                        result.failures, result.rollback_problems))
    else:
        again = hints.command("plan", *hints.config_args(files), *_node_args(plan))
        print_lines(render_apply_outcome(applied, again))
    raise typer.Exit(code)


def json_confirm(yes: bool, saved: bool, operation: str,
                 files: Sequence[Path] = ()) -> Callable[[Plan], bool]:
    """`--json`: the plan as planned_change events, then the confirmation policy of a terminal."""
    from overlayc.render import events

    ask = confirm_on_terminal(yes, saved, operation, show=False, files=files)

    def confirm(plan: Plan) -> bool:
        for line in events.planned_events(plan):
            typer.echo(line)
        return ask(plan)

    return confirm


def json_progress(total: int) -> Callable[[int], None]:
    from overlayc.render import events

    return lambda done: typer.echo(events.progress_event(done, total))


def json_stream(operation: str, body: Callable[[], None]) -> None:
    """Run `body` as a JSON event stream: a version line first, an error event on an error."""
    from overlayc.render import events
    from overlayc.render.errors import error_kind

    typer.echo(events.version_event(operation))
    try:
        body()
    except OverlaycError as err:
        kind = "declined" if isinstance(err, Declined) else error_kind(err)
        typer.echo(events.error_event(kind, str(err), err.exit_code))
        raise typer.Exit(err.exit_code) from None


def check_saved_target(saved: Plan, plan_file: Path, node: str | None, netns: str | None,
                        files: list[Path]) -> None:
    """A saved plan names its node and namespace; a --node/--netns naming another is refused."""
    for option, given, planned in (("--node", node, saved.node), ("--netns", netns, saved.netns)):
        if given is not None and given != planned:
            again = hints.command("plan", *hints.config_args(files), "--node", node or saved.node,
                                  *(["--netns", netns] if netns else []), "-o", plan_file)
            raise InputError(f"{plan_file} is a plan for node {saved.node} (netns {saved.netns or '-'}); "
                             f"{option} {given} names another target. Make a plan for it: `{again}`")
