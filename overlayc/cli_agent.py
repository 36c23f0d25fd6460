"""`overlayc reconcile` (the node agent) and `overlayc status` (its health check), registered on
the app by `overlayc.cli`."""

import sys
from typing import Annotated

import typer

from overlayc.cli_options import (
    AllowMissingAddressOption,
    AtOption,
    FileOption,
    JsonOption,
    KeyFileOption,
    LockedOption,
    LockTimeoutOption,
    PlanNetnsOption,
    PlanNodeOption,
    StateDirOption,
)
from overlayc.cliapp import colour_for, report
from overlayc.errors import OverlaycError
from overlayc.exitcodes import StatusExit
from overlayc.options import (
    check_interval_seconds,
    check_metrics_address,
    check_metrics_port,
    check_sample,
    port_problem,
)


# --- reconcile / status (issue 9): the node agent and its health check --------------------------
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
                                                     callback=check_metrics_port,
                                                     help="serve Prometheus metrics on this port")] = None,
    metrics_address: Annotated[str, typer.Option("--metrics-address", metavar="ADDR",
                                                 callback=check_metrics_address,
                                                 help="address of the metrics server")] = "127.0.0.1",
    lock_timeout: LockTimeoutOption = 10.0,
    locked: LockedOption = False,
    allow_missing_address: AllowMissingAddressOption = False,
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
        seconds = check_interval_seconds(parse_interval(interval))
    except (ValueError, OverflowError) as err:
        raise typer.BadParameter(f"{interval[:60]!r}: {err}", param_hint="--interval") from None
    except typer.BadParameter as err:
        raise typer.BadParameter(err.message, param_hint="--interval") from None
    if metrics_port is not None and (busy := port_problem(metrics_address, metrics_port)) is not None:
        raise typer.BadParameter(busy, param_hint="--metrics-port")
    settings = Settings(tuple(files), node, netns, key_file, seconds, jitter, lock_timeout, locked,
                        allow_missing_address, state_dir)
    code = run_agent(settings, once=once, metrics_port=metrics_port, metrics_address=metrics_address,
                     out=lambda report: typer.echo(render_round_json(report)),
                     note=lambda line: typer.echo(line, err=True))
    raise typer.Exit(code)


def status_command(
    files: FileOption,
    node: PlanNodeOption = None,
    netns: PlanNetnsOption = None,
    at: AtOption = None,
    key_file: KeyFileOption = None,
    json_output: JsonOption = False,
    sample: Annotated[float, typer.Option("--sample", metavar="SECONDS", callback=check_sample,
                                          help="read the counters twice this far apart to see them "
                                          "grow (0: once, never judged)")] = 1.0,
    state_dir: StateDirOption = None,
) -> None:
    """One node's health: networks (desired vs live, one line each), SAs per peer and epoch with
    their counters, the fail-closed sysctls, XFRM error counters and drift. Read-only (the lock
    file is not updated). Exit codes as a monitoring plugin: 0 healthy, 1 degraded, 2 critical
    (fail open, or blocked by a foreign object), 3 unknown (status could not run).

    Example: overlayc status -f overlay.yaml --netns node1 --json"""
    from overlayc.agent.run import node_status
    from overlayc.config.load import load_config
    from overlayc.render.status import render_status_json, render_status_text

    try:
        status = node_status(load_config(files), node=node, netns=netns, at=at,
                             key_file=key_file, sample=sample, state_dir=state_dir)
    except OverlaycError as err:  # could not look: UNKNOWN, whatever the cause
        report(err, json_output=json_output)
        raise typer.Exit(StatusExit.UNKNOWN) from None
    typer.echo(render_status_json(status) if json_output
               else render_status_text(status, colour=colour_for(sys.stdout)), nl=False)
    raise typer.Exit(status.exit_code)
