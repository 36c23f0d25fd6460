"""Command-line option values checked at the edge, before any stage sees them.

Each `check_*` returns the value (normalised) or raises `typer.BadParameter` with one clear
sentence, so no option value can reach a traceback, a path outside overlayc's directories, or a
call that blocks. The same name rules (`netns_problem`, `node_problem`) check the fields of a saved
plan (overlayc.files.plan_doc). cli.py attaches them as option callbacks; nothing else here.

    netns names     as `ip netns add` accepts them (iproute2 ipnetns.c): 1..255 bytes (NAME_MAX),
                    not `.` or `..`, no `/` and no NUL — so never a path and never another
                    process's namespace
    key files       a regular file when it exists (a FIFO would block the read forever)
    numbers         finite and within a documented range (docs/operations.md, "Limits")
    metrics         an IP address, a port 0-65535 that is free on that address (0: any)
"""

from __future__ import annotations

import errno
import ipaddress
import math
import os
import re
import socket
import stat
from pathlib import Path

import typer

NAME_MAX = 255
NODE_RE = re.compile(r"[a-z0-9]([a-z0-9_-]{0,30}[a-z0-9])?")
CLUSTER_RE = NODE_RE
MAX_SECONDS = 7 * 24 * 3600  # --lock-timeout, --interval: a week is already absurd
MAX_SAMPLE = 3600.0


def netns_problem(name: object) -> str | None:
    """Why `name` is not a network namespace name `ip netns` would accept, or None."""
    if not isinstance(name, str):
        return f"a network namespace name is text, not {type(name).__name__}"
    if not name or len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        return f"a network namespace name has 1 to {NAME_MAX} bytes (got {len(name)})"
    if name in (".", "..") or "/" in name or "\0" in name:
        return f"{name[:60]!r} is not a network namespace name: no '/', not '.' or '..'"
    return None


def node_problem(name: object) -> str | None:
    """Why `name` is not a node name of the configuration language, or None."""
    if not isinstance(name, str) or not NODE_RE.fullmatch(name):
        shown = repr(name[:60]) if isinstance(name, str) else f"a {type(name).__name__}"
        return (f"{shown} is not a node name "
                "(1-32 lower-case letters, digits, '-', '_', starting and ending with a letter or digit)")
    return None


def check_netns(value: str | None) -> str | None:
    """`--netns`: a name under /run/netns, never a path."""
    if value is not None and (problem := netns_problem(value)) is not None:
        raise typer.BadParameter(problem)
    return value


def check_node(value: str | None) -> str | None:
    """`--node`: a node name (whether the configuration has it is checked later, with the config)."""
    if value is not None and (problem := node_problem(value)) is not None:
        raise typer.BadParameter(problem)
    return value


def check_cluster(value: str | None) -> str | None:
    """`--cluster`: a cluster name."""
    if value is not None and not CLUSTER_RE.fullmatch(value):
        raise typer.BadParameter(f"{value[:60]!r} is not a cluster name")
    return value


def _not_regular(path: Path) -> str | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None  # a missing file is reported by the reader, with its own hint
    except OSError as err:
        return f"{path}: {err.strerror}"
    except ValueError:  # os.stat refuses a NUL byte
        return f"{str(path)[:60]!r} is not a path (it holds a NUL byte)"
    if stat.S_ISREG(info.st_mode):
        return None
    kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(
        info.st_mode) else "a device or socket"
    return f"{path} is {kind}, not a regular file"


def check_key_file(value: Path | None) -> Path | None:
    """`--key-file`: when it exists, a regular file (never a directory, FIFO or device)."""
    if value is not None and (problem := _not_regular(value)) is not None:
        raise typer.BadParameter(problem)
    return value


def check_state(value: str | None) -> str | None:
    """`--state`: `empty`, or a regular file (never a FIFO or /dev/zero)."""
    if value is not None and value != "empty" and (problem := _not_regular(Path(value))) is not None:
        raise typer.BadParameter(problem)
    return value


def _range(value: float, low: float, high: float, unit: str) -> float:
    if not math.isfinite(value) or not low <= value <= high:
        raise typer.BadParameter(f"{value} is not a number of {unit} from {low:g} to {high:g}")
    return value


def check_sample(value: float) -> float:
    """`--sample`: 0 to 3600 seconds, finite."""
    return _range(value, 0.0, MAX_SAMPLE, "seconds")


def check_lock_timeout(value: float) -> float:
    """`--lock-timeout`: 0 to a week, finite."""
    return _range(value, 0.0, MAX_SECONDS, "seconds")


def check_interval_seconds(seconds: float) -> float:
    """A parsed `--interval`: more than 0 and at most a week."""
    return _range(seconds, 1e-3, MAX_SECONDS, "seconds")


def check_metrics_address(value: str) -> str:
    """`--metrics-address`: an IPv4 or IPv6 address (a host name would hide what is exposed)."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise typer.BadParameter(f"{value[:60]!r} is not an IP address (e.g. 127.0.0.1)") from None


def check_metrics_port(value: int | None) -> int | None:
    """`--metrics-port`: 0-65535, 0 meaning a free port the kernel picks (whether it is free is
    checked with the address: `port_problem`)."""
    if value is not None and not 0 <= value <= 65535:
        raise typer.BadParameter(f"{value} is not a TCP port (0-65535, 0: any free port)")
    return value


def port_problem(address: str, port: int) -> str | None:
    """Why the metrics server could not listen on `address`:`port` (in use, not local), or None."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as err:
            why = "already in use" if err.errno == errno.EADDRINUSE else err.strerror
            return f"cannot serve metrics on {address} port {port}: {why}"
    return None
