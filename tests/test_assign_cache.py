"""The cached Assignment (overlayc.files.assign_cache) is the Assignment `resolve` computes.

A hit is used only for the configuration text and lock bytes it was stored with; anything else —
an edited config, an edited or deleted lock, another key, a damaged file — resolves again."""

from __future__ import annotations

import marshal
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from overlayc import inputs
from overlayc.compile.assign import Assignment, Attachment, resolve
from overlayc.config.load import LoadedConfig, load_config
from overlayc.files import assign_cache
from overlayc.files.lock import read_lock
from tests.support.gen import config_dict


def _write(tmp: Path, data: object) -> LoadedConfig:
    path = tmp / "overlay.yaml"
    with path.open("w") as f:
        YAML().dump(data, f)
    return load_config([path])


def _no_resolve(*_: object, **__: object) -> None:
    raise AssertionError("resolve ran on a cache hit")


@pytest.mark.parametrize(("nodes", "tasks", "seed"), [(3, 2, 1), (40, 5, 2), (200, 20, 3)])
def test_cached_assignment_is_the_resolved_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               nodes: int, tasks: int, seed: int) -> None:
    loaded = _write(tmp_path, config_dict(nodes, tasks, seed))
    state = tmp_path / "state"
    state.mkdir()  # made by an apply: the cache is never the one to create it
    inputs.assign_with_lock(loaded, locked=False, cache=state)  # writes the lock: nothing cached
    assert not (state / assign_cache.CACHE_NAME).exists()
    stored = inputs.assign_with_lock(loaded, locked=False, cache=state)  # lock unchanged: cached
    assert (state / assign_cache.CACHE_NAME).exists()
    fresh, _, _ = resolve(loaded.config, read_lock(loaded.lock_path), loaded.locate)
    monkeypatch.setattr(inputs, "resolve", _no_resolve)
    hit = inputs.assign_with_lock(loaded, locked=True, cache=state)
    assert hit == fresh == stored
    assert hit.by_node == fresh.by_node and hit.network_nodes == fresh.network_nodes
    assert list(hit.attachments) == list(fresh.attachments)
    for node in loaded.config.nodes:
        assert hit.by_node.get(node) == fresh.by_node.get(node)
        assert hit.present(node) == fresh.present(node)


def _cached(tmp_path: Path) -> tuple[LoadedConfig, Path]:
    loaded = _write(tmp_path, config_dict(20, 4, 7))
    state = tmp_path / "state"
    state.mkdir()
    inputs.assign_with_lock(loaded, locked=False, cache=state)
    inputs.assign_with_lock(loaded, locked=False, cache=state)
    return loaded, state


def _resolves(loaded: LoadedConfig, state: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether assign_with_lock resolves (a miss) rather than answering from the cache."""
    calls: list[int] = []
    real = resolve

    def counting(*args: object, **kw: object) -> object:
        calls.append(1)
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(inputs, "resolve", counting)
    inputs.assign_with_lock(loaded, locked=False, cache=state)
    monkeypatch.setattr(inputs, "resolve", real)
    return bool(calls)


def test_hit_only_for_the_same_config_and_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded, state = _cached(tmp_path)
    assert not _resolves(loaded, state, monkeypatch)
    lock = loaded.lock_path.read_text()
    loaded.lock_path.write_text(lock.replace("# overlayc.lock", "#  overlayc.lock", 1))  # other bytes
    assert _resolves(loaded, state, monkeypatch)
    loaded.lock_path.write_text(lock)
    assert _resolves(loaded, state, monkeypatch)  # one file: it now holds the other bytes' key
    assert not _resolves(loaded, state, monkeypatch)
    path = loaded.files[0]
    path.write_text("# a comment changes the text, not the configuration\n" + path.read_text())
    assert not _resolves(load_config([path]), state, monkeypatch)
    data = config_dict(20, 4, 7)
    data["services"]["svc1"]["replicas"] += 1
    edited = _write(tmp_path, data)
    assert _resolves(edited, state, monkeypatch)  # the config changed: the lock is rewritten
    assert "svc1." in edited.lock_path.read_text()


def test_damaged_or_foreign_cache_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded, state = _cached(tmp_path)
    path = state / assign_cache.CACHE_NAME
    good = path.read_bytes()
    head, _, body = good.partition(b"\n")
    other_key = head[:-1] + (b"1" if head.endswith(b"0") else b"0")  # the key's last digit changed
    for damaged in (head + b"\n" + body[: len(body) // 2], head + b"\nnot marshal", other_key + b"\n" + body,
                    head + b"\n" + marshal.dumps((1, 2, 3, 4)), b""):
        path.write_bytes(damaged)
        key = assign_cache.cache_key(loaded.config, loaded.lock_path)
        assert key is not None and assign_cache.load(state, key) is None
        assert _resolves(loaded, state, monkeypatch)


def test_state_directory_behind_a_link_is_skipped(tmp_path: Path) -> None:
    loaded = _write(tmp_path, config_dict(5, 2, 1))
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    for _ in range(2):
        assert inputs.assign_with_lock(loaded, locked=False, cache=tmp_path / "link") is not None
    assert list(real.iterdir()) == []


def test_validate_answers_from_the_cache_and_never_writes_it(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = _write(tmp_path, config_dict(20, 4, 7))
    state = tmp_path / "state"
    inputs.assign_with_lock(loaded, locked=False)  # the lock, no cache
    state.mkdir()
    assert inputs.check_with_lock(loaded, locked=True, cache=state) == []
    assert not (state / assign_cache.CACHE_NAME).exists()  # validate only reads it
    inputs.assign_with_lock(loaded, locked=False, cache=state)
    monkeypatch.setattr(inputs, "resolve", _no_resolve)
    assert inputs.check_with_lock(loaded, locked=True, cache=state) == []
    data = config_dict(20, 4, 7)
    data["services"]["svc1"]["replicas"] += 1
    edited = _write(tmp_path, data)  # the same lock, another config: resolved, and the lock is stale
    monkeypatch.setattr(inputs, "resolve", resolve)
    assert any("svc1." in line for line in inputs.check_with_lock(edited, cache=state))


def test_no_state_directory_is_created_for_the_cache(tmp_path: Path) -> None:
    """A plan on a machine that never applied leaves no state directory behind."""
    loaded = _write(tmp_path, config_dict(5, 2, 1))
    state = tmp_path / "state"
    for _ in range(3):
        inputs.assign_with_lock(loaded, locked=False, cache=state)
    assert not state.exists()


def _rows_body(a: Assignment) -> bytes:
    """The body FORMAT 2 stored: a tuple per attachment, not columns."""
    rows = [(net, [(x.endpoint, x.node, None if x.ip is None else int(x.ip), x.mac, x.managed,
                    None if x.ip6 is None else x.ip6.packed) for x in atts])
            for net, atts in a.attachments.items()]
    return marshal.dumps((dict(a.vnis), dict(a.tasks), rows,
                          {net: sorted(here) for net, here in a.network_nodes.items()}))


def _format3_body(a: Assignment) -> bytes:
    """The body FORMAT 3 stored: columns, IPv4 addresses as ints and MACs as texts."""
    columns = [(net, [x.endpoint for x in atts], [x.node for x in atts],
                [None if x.ip is None else int(x.ip) for x in atts], [x.mac for x in atts],
                [x.managed for x in atts], [None if x.ip6 is None else x.ip6.packed for x in atts])
               for net, atts in a.attachments.items()]
    return marshal.dumps((dict(a.vnis), dict(a.tasks), columns,
                          {net: sorted(here) for net, here in a.network_nodes.items()}))


def test_a_cache_of_the_previous_format_is_a_miss_never_misread(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    loaded, state = _cached(tmp_path)
    path = state / assign_cache.CACHE_NAME
    key = assign_cache.cache_key(loaded.config, loaded.lock_path)
    assert key is not None
    hit = assign_cache.load(state, key)
    assert hit is not None and assign_cache.FORMAT == b"overlayc-assignment-cache 4 "
    for version, body in ((2, _rows_body(hit)), (3, _format3_body(hit))):
        old_head = f"overlayc-assignment-cache {version} ".encode() + key.encode()
        for head in (old_head, assign_cache.FORMAT + key.encode()):  # its own header, or today's key on it
            path.write_bytes(head + b"\n" + body)
            assert assign_cache.load(state, key) is None
            assert _resolves(loaded, state, monkeypatch)


def test_columns_round_trip_addresses_of_both_families_and_none() -> None:
    v4, v6 = IPv4Address("10.1.0.6"), IPv6Address("fd00::6")
    atts = (Attachment("web.1", "n1", "net", v4, "02:42:0a:01:00:06", True, v6),
            Attachment("web.2", "n2", "net", None, "02:42:0a:01:00:07", False, None),
            Attachment("web.3", "n1", "net", v4, "02:42:0a:01:00:08", False, None))
    a = Assignment(vnis={"net": 4096}, tasks={"web.1": "n1"}, attachments={"net": atts},
                   by_node={"n1": (atts[0], atts[2]), "n2": (atts[1],)},
                   network_nodes={"net": frozenset({"n1", "n2"})})
    back = assign_cache._decode(marshal.loads(marshal.dumps(assign_cache._encode(a))))
    assert back == a and back.attachments["net"] == atts and back.by_node == a.by_node
    assert [hash(x) for x in back.attachments["net"]] == [hash(x) for x in atts]
    assert all(type(x) is Attachment for x in back.attachments["net"])
    with pytest.raises(AttributeError):  # immutable, as the ones resolve makes
        back.attachments["net"][0].node = "n2"  # type: ignore[misc]
