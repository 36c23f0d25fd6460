"""The `overlayc` command as a process: the console script and `python -m overlayc` start here.

Before the command-line interface (and with it pydantic, typer and the configuration models) is
imported, a plan against a namespace starts reading that node's big dumps in a child process
(overlayc.observe.prefetch), so the kernel's share of them overlaps the command's start; and a
command that loads a configuration starts reading and parsing its files and its lock in another
(overlayc.files.prefetch).
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run the command line `sys.argv`."""
    from overlayc import gcpause
    from overlayc.config.noplugins import skip_plugin_scan
    from overlayc.files import prefetch as inputs_prefetch
    from overlayc.observe import prefetch

    if one_command(sys.argv[1:]):
        gcpause.freeze_after_pauses()
    inputs_prefetch.start(sys.argv[1:])
    prefetch.start(sys.argv[1:])
    skip_plugin_scan()  # before the first model class is built (overlayc.config.noplugins says why)
    with gcpause.paused_gc():  # modules, classes and schemas: alive until the process ends
        from overlayc.cli import main as cli_main

    cli_main()


def one_command(args: list[str]) -> bool:
    """Whether the command line `args` runs one command and ends: anything but the reconcile
    agent's loop (`reconcile` without `--once`). The command is the first word that is not an
    option (the global options take no value)."""
    command = next((a for a in args if not a.startswith("-")), None)
    return command != "reconcile" or "--once" in args
