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
