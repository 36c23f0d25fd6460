"""Errors and diagnostics.

Exceptions are named for who must act: the user's input (`ConfigError`), the environment
(`EnvironmentProblem`: privileges, kernel features, locks), the kernel (`KernelError`), or us
(`InternalError`). Every problem a user can cause is a `Diagnostic` with a source location.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


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
    """Input could not be read at all (missing file, unreadable snapshot, bad --at ...)."""

    exit_code = 1


class EnvironmentProblem(OverlaycError):
    """The machine cannot do what is asked: privileges, kernel features, sysctls."""

    exit_code = 1


class NeedsPrivileges(EnvironmentProblem):
    exit_code = 77


class LockBusy(EnvironmentProblem):
    exit_code = 75


class Declined(OverlaycError):
    """The user answered the confirmation prompt with anything but `yes`: nothing was changed."""

    exit_code = 5


class KernelError(OverlaycError):
    """The kernel refused a request; the message names the object and says what happened."""

    exit_code = 1

    def __init__(self, message: str, *, errno: int = 0, object_key: object = None) -> None:
        self.errno = errno
        self.object_key = object_key
        super().__init__(message)


class InternalError(OverlaycError):
    """A bug in overlayc: please report it."""

    exit_code = 70
