"""overlayc.lock: file format round trip, change listing, and the --locked workflow."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from overlayc.compile import (
    Lock,
    Pin,
    dumps_lock,
    lock_changes,
    read_lock,
    resolve,
    write_lock,
)
from overlayc.config.load import LoadedConfig
from overlayc.config.model import Config
from overlayc.errors import ConfigError, InputError, LockOutdated
from overlayc.inputs import assign_with_lock

CONFIG = {
    "version": 1,
    "cluster": {"name": "t", "id": "cluster-test"},
    "nodes": {"node1": {"address": "192.0.2.1"}, "node2": {"address": "192.0.2.2"}},
    "networks": {"a": {"subnet": "10.0.0.0/24"}, "yes": {"subnet": "10.0.1.0/24", "attachable": True}},
    "services": {"web": {"replicas": 11, "networks": ["a", "yes"]}},
    "endpoints": {"probe": {"node": "node1", "networks": ["yes"]}},
}


def loaded(tmp_path: Path, data: dict[str, object] = CONFIG) -> LoadedConfig:
    return LoadedConfig(Config.model_validate(data), (tmp_path / "overlay.yaml",), tmp_path / "overlayc.lock")


def test_round_trip_and_deterministic_natural_order(tmp_path: Path) -> None:
    _, lock, _ = resolve(Config.model_validate(CONFIG), Lock())
    path = tmp_path / "overlayc.lock"
    write_lock(path, lock)
    text = path.read_text()
    assert text.startswith("# overlayc.lock")
    assert text.index("web.2:") < text.index("web.10:")
    assert '"yes":' in text  # a YAML 1.1 boolean word stays a string
    assert read_lock(path) == lock
    assert dumps_lock(read_lock(path)) == text


def test_missing_lock_is_empty_and_garbage_is_an_input_error(tmp_path: Path) -> None:
    assert read_lock(tmp_path / "none.lock") == Lock()
    bad = tmp_path / "bad.lock"
    bad.write_text("tasks: [1, 2]\n")
    with pytest.raises(InputError, match="not an overlayc lock file"):
        read_lock(bad)


def test_lock_changes_lists_every_difference() -> None:
    pin = Pin(ip=IPv4Address("10.0.0.2"), mac="02:42:0a:00:00:02")
    old = Lock(vnis={"a": 4096}, tasks={"web.1": "node1", "web.2": "node2"}, endpoints={"web.1": {"a": pin}})
    new = Lock(vnis={"a": 4097}, tasks={"web.1": "node2"}, endpoints={})
    assert lock_changes(old, new) == [
        "~ vni of network a: 4096 → 4097",
        "~ task web.1: node1 → node2",
        "- task web.2: node2",
        "- endpoint web.1 on a: 10.0.0.2 02:42:0a:00:00:02",
    ]
    assert lock_changes(new, new) == []


def test_assign_with_lock_writes_then_is_stable_under_locked(tmp_path: Path) -> None:
    cfg = loaded(tmp_path)
    first = assign_with_lock(cfg, locked=False)
    written = cfg.lock_path.read_text()
    again = assign_with_lock(cfg, locked=True)
    assert again == first
    assert cfg.lock_path.read_text() == written


def test_locked_fails_naming_the_change_and_writes_nothing(tmp_path: Path) -> None:
    assign_with_lock(loaded(tmp_path), locked=False)
    before = (tmp_path / "overlayc.lock").read_text()
    grown = {**CONFIG, "services": {"web": {"replicas": 12, "networks": ["a", "yes"]}}}
    with pytest.raises(LockOutdated, match=r"\+ task web\.12") as err:
        assign_with_lock(loaded(tmp_path, grown), locked=True)
    assert err.value.exit_code == 1
    assert (tmp_path / "overlayc.lock").read_text() == before


def test_locked_without_a_lock_file_fails(tmp_path: Path) -> None:
    with pytest.raises(LockOutdated):
        assign_with_lock(loaded(tmp_path), locked=True)


def test_exhausted_subnet_is_a_config_error(tmp_path: Path) -> None:
    small = {**CONFIG, "networks": {"a": {"subnet": "10.0.0.0/29"}, "yes": {"subnet": "10.0.1.0/24"}}}
    with pytest.raises(ConfigError) as err:
        assign_with_lock(loaded(tmp_path, small), locked=False)
    assert [d.code for d in err.value.diagnostics] == ["subnet-exhausted"]
    assert not (tmp_path / "overlayc.lock").exists()
