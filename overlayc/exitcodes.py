"""Every exit code overlayc uses, in one table: the CLI, `--help`, the README and the shipped
systemd units and CI workflow all follow it (pure data).

The codes a pipeline branches on never collide: a usage error (a typo'd flag) is 64, never 2,
which `--detailed-exitcode` reserves for "changes present". `status` follows the monitoring-plugin
convention (Nagios/Icinga: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), so its 1-3 mean something else
than apply's: they are listed under the command that gives them.
"""

from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    OK = 0
    ERROR = 1
    CHANGES = 2  # plan/apply --detailed-exitcode
    ROLLED_BACK = 3  # apply failed, the kernel is as it was
    ROLLBACK_INCOMPLETE = 4  # apply failed, the rollback did not finish
    DECLINED = 5  # the confirmation prompt was answered with anything but `yes`
    USAGE = 64  # sysexits EX_USAGE: unknown option, missing or bad argument, no command
    INVALID_CONFIG = 65  # sysexits EX_DATAERR
    INTERNAL = 70  # sysexits EX_SOFTWARE: a bug in overlayc
    LOCK_BUSY = 75  # sysexits EX_TEMPFAIL
    NEEDS_PRIVILEGES = 77  # sysexits EX_NOPERM
    INTERRUPTED = 130  # SIGINT (Ctrl-C), as shells report it


class StatusExit(enum.IntEnum):
    """`overlayc status`: the monitoring-plugin convention."""

    HEALTHY = 0
    DEGRADED = 1
    CRITICAL = 2
    UNKNOWN = 3


TABLE: tuple[tuple[int, str], ...] = (
    (Exit.OK, "success; with --detailed-exitcode: no changes"),
    (Exit.ERROR, "error (unreadable input, kernel refused, plan error, --locked and the lock would change)"),
    (Exit.CHANGES, "with --detailed-exitcode: changes present (plan) / changed and verified (apply)"),
    (Exit.ROLLED_BACK, "apply failed and was rolled back: the kernel is as it was"),
    (Exit.ROLLBACK_INCOMPLETE, "apply failed and the rollback is incomplete"),
    (Exit.DECLINED, "apply/destroy declined at the confirmation prompt: nothing changed"),
    (Exit.USAGE, "usage error: unknown option, missing or bad argument, no command"),
    (Exit.INVALID_CONFIG, "invalid configuration"),
    (Exit.INTERNAL, "internal error (a bug in overlayc: please report it)"),
    (Exit.LOCK_BUSY, "the apply lock is held by another overlayc (after --lock-timeout)"),
    (Exit.NEEDS_PRIVILEGES, "needs privileges (CAP_NET_ADMIN)"),
    (Exit.INTERRUPTED, "interrupted (Ctrl-C)"),
)

STATUS_TABLE: tuple[tuple[int, str], ...] = (
    (StatusExit.HEALTHY, "healthy"),
    (StatusExit.DEGRADED, "degraded: drift, a missing SA, XFRM errors growing"),
    (StatusExit.CRITICAL, "critical: fail open (a sysctl disables the XFRM policies) or blocked "
     "(a foreign object holds what the node needs)"),
    (StatusExit.UNKNOWN, "unknown: status could not run (invalid config, no privileges, unreadable input)"),
)


def epilog() -> str:
    """The exit-code table as one paragraph, for `overlayc --help`."""
    codes = ", ".join(f"{code} {text.split(':')[0].split(' (')[0]}" for code, text in TABLE)
    status = ", ".join(f"{code} {text.split(':')[0]}" for code, text in STATUS_TABLE)
    return f"Exit codes: {codes}. status: {status}."


def markdown_table() -> str:
    """The exit-code table as Markdown (the README's copy is checked against it by a test)."""
    rows = ["| code | meaning |", "|---|---|"]
    rows += [f"| {code} | {text} |" for code, text in TABLE]
    rows += ["", "`overlayc status` (monitoring-plugin convention):", "",
             "| code | meaning |", "|---|---|"]
    rows += [f"| {code} | {text} |" for code, text in STATUS_TABLE]
    return "\n".join(rows) + "\n"
