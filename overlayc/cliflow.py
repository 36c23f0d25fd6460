"""The interactive side of apply and destroy, for `overlayc.cli`: the confirmation policy, a
progress bar on a terminal, and printing what `render.outcome` made."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import typer

from overlayc.errors import InputError
from overlayc.render.outcome import Lines

if TYPE_CHECKING:
    from overlayc.plan import Plan


def confirm_on_terminal(
    yes: bool, saved: bool, full: bool = False, networks: Mapping[str, str] | None = None
) -> Callable[[Plan], bool]:
    """The confirmation policy: --yes or a saved plan apply without asking; a terminal is asked
    (after seeing the plan: fdb/neighbour entries counted per device unless `full`; `networks`,
    vxlan device → network, names them); anything else is refused before a change is made."""
    from overlayc.render.plan import render_plan_text

    def confirm(plan: Plan) -> bool:
        typer.echo(render_plan_text(plan, color=sys.stdout.isatty(), full=full, networks=networks), nl=False)
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

    bar = Progress(console=Console(stderr=True), transient=True)
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
