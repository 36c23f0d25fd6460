"""`read_capped` / `read_input` (overlayc.files.safe) read a regular file whole, at most `limit`
bytes, with a buffer of its size: the same bytes and the same refusals at every size around the
cap, and a file whose size says less than it holds (procfs: 0) is read to its end."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlayc.errors import InputError
from overlayc.files.safe import read_capped, read_input


@pytest.mark.parametrize("size", [0, 1, 99, 100, 101, 4096, 100_000])
def test_a_file_is_read_whole_or_refused_past_the_cap(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f"
    data = bytes(i % 251 for i in range(size))
    path.write_bytes(data)
    for limit in (0, 100, size, size + 1, 1 << 20):
        if size > limit:
            with pytest.raises(InputError, match="larger than"):
                read_capped(path, limit)
            with pytest.raises(InputError, match="larger than"):
                read_input(path, limit)
        else:
            assert read_capped(path, limit) == data
            assert read_input(path, limit) == data


def test_a_file_that_holds_more_than_its_size_is_read_to_its_end_or_the_cap() -> None:
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("no procfs on this machine")
    assert status.stat().st_size == 0  # procfs: the size says nothing of what a read returns
    data = read_input(status, 1 << 20)
    assert data.startswith(b"Name:") and b"\nPid:" in data
    with pytest.raises(InputError, match="larger than"):
        read_input(status, 10)
