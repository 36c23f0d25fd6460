"""A machine without a state directory (a CI job, a first plan) has no Assignment cache to read
and gets none: `plan` and `validate` there do not digest the configuration and the whole lock
file for a cache key; with the directory, they do (and the cache works as before)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from overlayc import inputs
from overlayc.config.load import LoadedConfig, load_config
from overlayc.files import assign_cache
from tests.support.gen import config_dict


def _loaded(tmp: Path) -> LoadedConfig:
    path = tmp / "overlay.yaml"
    with path.open("w") as f:
        YAML().dump(config_dict(6, 3, 4), f)
    return load_config([path])


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = assign_cache.cache_key

    def key(config: object, lock_path: Path) -> str | None:
        calls.append(lock_path)
        return real(config, lock_path)  # type: ignore[arg-type]

    monkeypatch.setattr(assign_cache, "cache_key", key)
    return calls


def test_without_a_state_directory_no_cache_key_is_computed(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = _loaded(tmp_path)
    calls = _counting(monkeypatch)
    missing = tmp_path / "state"
    first = inputs.assign_with_lock(loaded, locked=False, cache=missing)  # writes the lock
    again = inputs.assign_with_lock(loaded, locked=True, cache=missing)
    assert inputs.check_with_lock(loaded, locked=True, cache=missing) == []
    assert first == again and calls == [] and not missing.exists()


def test_with_a_state_directory_the_cache_is_keyed_and_stored(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = _loaded(tmp_path)
    calls = _counting(monkeypatch)
    state = tmp_path / "state"
    state.mkdir()
    inputs.assign_with_lock(loaded, locked=False, cache=state)
    inputs.assign_with_lock(loaded, locked=False, cache=state)
    assert (state / assign_cache.CACHE_NAME).exists()
    assert inputs.check_with_lock(loaded, locked=True, cache=state) == []
    assert calls and all(p == loaded.lock_path for p in calls)


def test_a_command_that_makes_the_state_directory_stores_the_cache_on_its_first_resolve(
        tmp_path: Path) -> None:
    """`make_cache` (apply): the first resolve against an up-to-date lock makes the missing state
    directory (0700) and stores the cache, which the next resolve reads; a resolve that changes
    the lock (here: writes it) makes nothing, and a directory that cannot be made means no cache."""
    loaded = _loaded(tmp_path)
    state = tmp_path / "state"
    first = inputs.assign_with_lock(loaded, locked=False, cache=state, make_cache=True)  # writes the lock
    assert not state.exists()
    inputs.assign_with_lock(loaded, locked=False, cache=state, make_cache=True)
    assert (state / assign_cache.CACHE_NAME).exists() and state.stat().st_mode & 0o777 == 0o700
    key = assign_cache.cache_key(loaded.config, loaded.lock_path)
    assert key is not None and assign_cache.load(state, key) == first
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert inputs.assign_with_lock(loaded, locked=True, cache=blocked / "state", make_cache=True) == first
    assert not (blocked / "state").exists()
