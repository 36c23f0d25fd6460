"""`--at` parsing and the epoch arithmetic of DESIGN.md §4."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from overlayc.compile.epoch import epoch_of, epoch_start, parse_at, unix_seconds
from overlayc.errors import InputError
from tests.support.host import EXAMPLES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T12:00:00Z", datetime(2026, 1, 1, 12, tzinfo=UTC)),
        ("2026-01-01t12:00:00z", datetime(2026, 1, 1, 12, tzinfo=UTC)),
        ("2026-01-01 13:30:00+01:30", datetime(2026, 1, 1, 12, tzinfo=UTC)),
        ("2026-01-01T12:00:00.250-00:00", datetime(2026, 1, 1, 12, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_parse_at_accepts_rfc3339_and_returns_utc(text: str, expected: datetime) -> None:
    parsed = parse_at(text)
    assert parsed == expected and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text", ["2026-01-01T12:00:00", "2026-01-01", "yesterday", "2026-13-01T00:00:00Z", "1700000000", ""]
)
def test_parse_at_refuses_anything_else_naming_the_form(text: str) -> None:
    with pytest.raises(InputError, match=r"RFC 3339|not a valid date-time"):
        parse_at(text)


def test_parse_at_defaults_to_an_aware_now() -> None:
    before = datetime.now(UTC)
    now = parse_at(None)
    assert now.tzinfo is not None and before <= now <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("t", "rotation", "epoch"),
    [(0, 3600, 0), (3599, 3600, 0), (3600, 3600, 1), (43_200 * 5 + 1, 43_200, 5), (-1, 60, -1)],
)
def test_epoch_is_floor_of_unix_time_over_rotation(t: int, rotation: int, epoch: int) -> None:
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=t)
    assert unix_seconds(instant) == t
    assert epoch_of(instant, rotation) == epoch
    assert epoch_start(epoch, rotation) <= instant < epoch_start(epoch + 1, rotation)


def test_epoch_does_not_depend_on_the_offset_the_time_was_written_in() -> None:
    utc = datetime(2026, 6, 1, 11, 59, 59, tzinfo=UTC)
    assert epoch_of(utc.astimezone(timezone(timedelta(hours=5))), 43_200) == epoch_of(utc, 43_200)


def test_naive_times_are_refused() -> None:
    with pytest.raises(InputError, match="offset"):
        epoch_of(datetime(2026, 1, 1), 3600)  # a naive time: the point of the test


def test_cli_reports_a_bad_at_as_an_error_not_a_traceback(tmp_path: Path) -> None:
    seed = EXAMPLES / "seed" / "overlay.yaml"
    (tmp_path / "overlay.yaml").write_bytes(seed.read_bytes())  # render may write a lock next to it
    res = subprocess.run(
        [sys.executable, "-m", "overlayc", "render", "-f", str(tmp_path / "overlay.yaml"),
         "--node", "node1", "--at", "yesterday"],
        capture_output=True, text=True, check=False,
    )
    if "No such command" in res.stderr:
        pytest.skip("`overlayc render` (the first command taking --at) does not exist yet")
    assert res.returncode == 1
    assert "RFC 3339" in res.stderr and "Traceback" not in res.stderr
