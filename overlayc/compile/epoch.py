"""Time as an input of compile (DESIGN.md §4): parsing `--at` and the rotation epoch.

Compile never reads the clock: the CLI resolves `--at` (default: now, UTC) once and passes the
instant down, so `plan --at TIME` shows a rotation before it happens and golden tests are stable.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from overlayc.errors import InputError

# RFC 3339 date-time: a full date, `T`/`t`/space, a time with optional fraction, and a mandatory
# offset (`Z` or ±hh:mm). A naive time would silently mean "local time of whoever runs CI".
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_at(text: str | None) -> datetime:
    """`None` → now (UTC); an RFC 3339 date-time with an offset → that instant, in UTC.

    Raises InputError naming the accepted form when `text` is not one.
    """
    if text is None:
        return datetime.now(UTC)
    value = text.strip()
    if not _RFC3339.match(value):
        raise InputError(
            f"--at {text!r} is not an RFC 3339 date-time with an offset, "
            "e.g. 2026-01-01T12:00:00Z or 2026-01-01T13:00:00+01:00"
        )
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError) as err:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise InputError(f"--at {text!r} is not a valid date-time: {err}") from None


def unix_seconds(at: datetime) -> int:
    """Whole Unix seconds of an aware instant (floor, also before 1970). Naive times are refused."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError("a time without a UTC offset is ambiguous; give one (e.g. ...Z)")
    delta = at - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * 86400 + delta.seconds


def epoch_of(at: datetime, rotation: int) -> int:
    """The key epoch at `at`: ⌊t / rotation⌋ with t in Unix seconds and rotation in seconds (> 0)."""
    if rotation <= 0:
        raise ValueError(f"rotation must be positive, got {rotation}")
    return unix_seconds(at) // rotation


def epoch_start(epoch: int, rotation: int) -> datetime:
    """The first instant of `epoch` (UTC): where the next rotation of a plan is shown to happen."""
    return datetime.fromtimestamp(epoch * rotation, UTC)
