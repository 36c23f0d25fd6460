"""The `overlayc` command as a process: the console script and `python -m overlayc` start here.

Before the command-line interface (and with it pydantic, typer and the configuration models) is
imported, a plan against a namespace starts reading that node's big dumps in a child process
(overlayc.observe.prefetch), so the kernel's share of them overlaps the command's start.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run the command line `sys.argv`."""
    from overlayc.observe import prefetch

    prefetch.start(sys.argv[1:])
    from overlayc.cli import main as cli_main

    cli_main()
