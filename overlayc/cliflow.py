"""The interactive side of apply and destroy, for `overlayc.cli`: the confirmation policy, a
progress bar on a terminal, and printing what `render.outcome` made."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from overlayc.errors import InputError
from overlayc.render.outcome import Lines

if TYPE_CHECKING:
    from overlayc.plan import Plan


def confirm_on_terminal(yes: bool, saved: bool) -> Callable[[Plan], bool]:
    """The confirmation policy: --yes or a saved plan apply without asking; a terminal is asked
    (after seeing the plan); anything else is refused before a change is made."""
    from overlayc.render.plan import render_plan_text

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
