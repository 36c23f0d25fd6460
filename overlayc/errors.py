"""Errors and diagnostics: every exception class of overlayc lives here.

Each class says in its docstring who must act: the user's input (`ConfigError`, `InputError` and
its kinds), the machine's operator (`EnvironmentProblem`: privileges, kernel features, locks), the
owner of a foreign object in the way (`PlanError`), or nobody because overlayc handles it itself
(the internal signals `DumpInterrupted`, `StepFailed`, `MissingDevice`, `ConstraintSyntaxError`).
Exit codes come from the class (and, for `ExecutionError`, from the kernel's errnos), never from
message text. Every problem a user can cause in the configuration is a `Diagnostic` with a
source location.
"""

from __future__ import annotations

import enum
import errno as E
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from overlayc.kernel.ownership import Key, key_text

if TYPE_CHECKING:
    from overlayc.kernel.objects import KernelObject

PRIVILEGE_ERRNOS = frozenset({E.EPERM, E.EACCES})


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A place in a source file; line and column are 1-based. `line == 0` means the whole file."""

    file: str
    line: int = 0
    column: int = 0


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem, tied to a place in the user's input.

    `code` is a stable short identifier (`unknown-key`, `subnet-overlap`, ...), `related` lists
    other places that explain it (the first definition of a duplicate, say).
    """

    severity: Severity
    code: str
    message: str
    location: Location
    hint: str | None = None
    related: tuple[tuple[str, Location], ...] = field(default=())

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.location.file, self.location.line, self.location.column, self.code, self.message)


class OverlaycError(Exception):
    """Base of every error overlayc reports to its user (never shown as a traceback)."""

    exit_code: int = 1


class ConfigError(OverlaycError):
    """The configuration is invalid; carries every diagnostic found, sorted by location.

    `sources` maps each file (as named in the locations) to its lines, for rendering source
    lines and carets; it may be empty (the renderer then shows locations only)."""

    exit_code = 65

    def __init__(
        self, diagnostics: list[Diagnostic], sources: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        self.sources: Mapping[str, Sequence[str]] = dict(sources or {})
        super().__init__(f"{len(self.diagnostics)} problem(s) in the configuration")


class InputError(OverlaycError):
    """Input could not be read at all (missing file, unreadable snapshot, bad --at ...): the user
    must fix the command line or the file named."""

    exit_code = 1


class KeyFileError(InputError):
    """A private key file exists but cannot be used (permissions, content): the user must fix the
    file as the message says. Never shows the key."""


class KeyMismatch(InputError):
    """A private key does not belong to the node whose public key the configuration holds: the
    user must give the right key file or update the configuration."""


class LockOutdated(OverlaycError):
    """`--locked` was given and the lock file would change: the user must review the listed
    changes and update the lock (run without --locked); the message lists every change."""

    exit_code = 1

    def __init__(self, path: Path, changes: list[str]) -> None:
        self.changes = changes
        lines = "\n".join(f"  {c}" for c in changes)
        super().__init__(f"{path} is out of date (--locked), it would change:\n{lines}")


class PlanError(OverlaycError):
    """The plan cannot be made: a foreign object collides with desired ones. Whoever owns those
    objects must remove or rename them (overlayc never touches them). Lists every collision."""

    exit_code = 1

    def __init__(self, collisions: list[tuple[Key, str]]) -> None:
        self.collisions = collisions
        lines = [f"  {key_text(key)}: {what}" for key, what in collisions]
        super().__init__(
            f"{len(collisions)} object(s) overlayc must create already exist and are not overlayc's "
            "(remove or rename them, overlayc never touches foreign objects):\n" + "\n".join(lines)
        )


class EnvironmentProblem(OverlaycError):
    """The machine cannot do what is asked (privileges, kernel features, sysctls, namespaces): the
    operator of the machine must act as the message says."""

    exit_code = 1


class NeedsPrivileges(EnvironmentProblem):
    """A missing capability (CAP_NET_ADMIN, CAP_SYS_ADMIN): the operator must run overlayc as root."""

    exit_code = 77


class LockBusy(EnvironmentProblem):
    """Another apply or destroy holds the namespace's lock: wait for it, or stop the holder named."""

    exit_code = 75


class ExecutionError(OverlaycError):
    """The kernel refused some changes of an apply. `applied`: indices of changes fully applied
    (the caller rolls back exactly these); `failures`: (index, message in words); `errnos`: the
    kernel's error numbers. Who must act depends on them: with EPERM/EACCES the operator must give
    privileges (exit 77), else the message names the object in the way."""

    def __init__(self, applied: tuple[int, ...], failures: tuple[tuple[int, str], ...],
                 errnos: frozenset[int] = frozenset()) -> None:
        self.applied = applied
        self.failures = failures
        self.errnos = errnos
        self.exit_code = NeedsPrivileges.exit_code if errnos & PRIVILEGE_ERRNOS else 1
        first = failures[0][1] if failures else "unknown failure"
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        super().__init__(first + more)


# --- internal signals: caught inside overlayc, never shown to a user as such -------------------
class DumpInterrupted(OSError):
    """The kernel flagged a dump NLM_F_DUMP_INTR: the table changed while it was read. Nobody
    acts: the observer reads the tables again."""


class StepFailed(Exception):
    """One request of a link/netns change failed: errno, the kernel's extack text, and what we
    were doing. Nobody acts: the executor turns it into an ExecutionError message."""

    def __init__(self, obj: KernelObject, action: str, errno: int, extack: str = "") -> None:
        self.obj, self.action, self.errno, self.extack = obj, action, errno, extack
        super().__init__(f"{obj.kind} {action}: errno {errno} {extack}")


class MissingDevice(LookupError):
    """The device an fdb/neigh entry lives on does not exist (nothing was sent). Nobody acts: the
    executor reports the change as failed."""


class ConstraintSyntaxError(ValueError):
    """A placement constraint that cannot be parsed; `hint` suggests the fix. Validation turns it
    into a diagnostic with the constraint's location: the user must fix the constraint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
