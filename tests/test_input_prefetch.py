"""The prefetch of a command's input files (overlayc.files.prefetch): which command lines fork the
reader; that the parent takes the child's parse of the configuration and of the lock instead of
parsing them (the parsers are made to fail) with a result equal to its own parse; that a file
changed after the child read it, a lock outside the bulk layout, a directory, or a child that
fails are parsed by the parent as without a prefetch; that each result is given out once, the
child is reaped and writes nothing; and that the command as a process answers a broken
configuration exactly as without the prefetch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from ruamel.yaml import YAML

from overlayc import cli, gcpause, launch
from overlayc.compile.lock import Lock
from overlayc.config import load
from overlayc.config.load import LoadedConfig, load_config
from overlayc.config.source import parse_yaml
from overlayc.errors import ConfigError, OverlaycError
from overlayc.files import lock as lock_file
from overlayc.files import prefetch, prefetch_child
from overlayc.files.lock import dumps_lock, parse_lock, read_lock
from overlayc.files.lock_bulk import bulk_tasks
from overlayc.files.statedir import ASSIGN_CACHE_NAME, STATE_DIR_ENV
from overlayc.inputs import assign_with_lock
from tests.support.gen import config_dict
from tests.support.locks import IPV6_LOCK, ODD_BULK_LINES, OLD_LOCK


@pytest.mark.parametrize(("argv", "inputs"), [
    (["plan", "-f", "x.yaml", "--node", "n1"], (["x.yaml"], True)),
    (["--no-color", "validate", "--file=a.yaml", "-fb.yaml", "--file", "c"],
     (["a.yaml", "b.yaml", "c"], True)),
    (["nodes", "-f", "x.yaml"], (["x.yaml"], False)),  # reads no lock
    (["apply", "-f", "x.yaml", "p.json"], (["x.yaml"], True)),
    (["reconcile", "--once", "-f", "d/"], (["d/"], True)),
    (["reconcile", "-f", "x.yaml"], None),  # the agent's loop
    (["render", "-f", "-f", "-f", "x"], (["-f", "x"], True)),  # a file named `-f`
    (["plan", "-f"], None),
    (["plan", "--", "-f", "x.yaml"], None),  # after `--`: arguments, not options
    (["plan", "--node", "n1"], None),  # no file: nothing to read
    (["observe", "-f", "x.yaml"], None),  # loads no configuration
    (["keys", "gen"], None),
    ([], None),
])
def test_the_files_a_command_line_reads(argv: list[str], inputs: tuple[list[str], bool] | None) -> None:
    assert prefetch.inputs_of(argv) == inputs


def test_the_child_imports_neither_pydantic_nor_typer() -> None:
    """What the child imports (its point is to run while the parent imports those)."""
    code = ("import sys; import overlayc.files.prefetch, overlayc.files.prefetch_child; "
            "print(sorted(m for m in ('pydantic', 'typer', 'overlayc.config.model') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout == "[]\n"


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A 12-node cluster's config in `tmp_path` (the working directory) with its lock written;
    no prefetch before, none left behind."""
    monkeypatch.setattr(prefetch, "_child", None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "state"))  # no other test's assignment cache
    cfg = tmp_path / "overlay.yaml"
    with cfg.open("w") as f:
        YAML().dump(config_dict(12, 3, 5), f)
    assign_with_lock(load_config([cfg]), locked=False)
    yield cfg
    if prefetch._child is not None:
        prefetch._child.stop()


def _fresh(cfg: Path) -> tuple[LoadedConfig, Lock]:
    """The config and lock as the parent reads them without a prefetch (`cfg` named relative to
    the working directory, as on the command lines of these tests)."""
    child, prefetch._child = prefetch._child, None
    try:
        loaded = load_config([Path(cfg.name)])
        return loaded, read_lock(loaded.lock_path)
    finally:
        prefetch._child = child


def _forked(cfg: Path, command: str = "plan") -> prefetch._Child:
    prefetch.start([command, "-f", cfg.name])
    child = prefetch._child
    assert child is not None
    return child


def _counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The parsers the parent runs from now on, by name (they still parse)."""
    calls: list[str] = []

    def yaml(*args: Any) -> Any:
        calls.append("parse_yaml")
        return parse_yaml(*args)

    def tasks(*args: Any) -> Any:
        calls.append("bulk_tasks")
        return bulk_tasks(*args)
    monkeypatch.setattr(load, "parse_yaml", yaml)
    monkeypatch.setattr(lock_file, "bulk_tasks", tasks)
    return calls


def _same(a: tuple[LoadedConfig, Lock], b: tuple[LoadedConfig, Lock]) -> None:
    assert a[0].config == b[0].config and a[0].source_map == b[0].source_map and a[0].files == b[0].files
    assert a[0].lock_path == b[0].lock_path and a[1] == b[1]


def test_the_command_line_forks_the_reader_before_the_cli_is_imported(
    cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[prefetch._Child | None] = []
    monkeypatch.setattr(gcpause, "_freeze_after", False)  # what launch.main sets for one command
    monkeypatch.setattr(sys, "argv", ["overlayc", "validate", "-f", cluster.name])
    monkeypatch.setattr(cli, "main", lambda: seen.append(prefetch._child))
    launch.main()
    assert len(seen) == 1 and seen[0] is not None and seen[0].files == {cluster.name}
    assert seen[0].lock == "overlayc.lock"


def test_the_parent_takes_the_childs_parse_and_gets_its_own_result(
    cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _fresh(cluster)
    assert len(expected[1].endpoints) == 36 and expected[0].source_map.values
    child = _forked(cluster)

    def refused(*args: object) -> NoReturn:
        raise AssertionError("the parent parsed a file the child had parsed")
    monkeypatch.setattr(load, "parse_yaml", refused)
    monkeypatch.setattr(lock_file, "parse_lock", refused)
    monkeypatch.setattr(lock_file, "bulk_endpoints", refused)
    loaded = load_config([Path(cluster.name)])
    _same((loaded, read_lock(loaded.lock_path)), expected)
    assert child.closed  # the lock was its last part: killed if need be, and reaped
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)


def test_each_result_is_given_out_once(cluster: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _fresh(cluster)
    _forked(cluster)
    calls = _counted(monkeypatch)
    first = load_config([Path(cluster.name)])
    _same((first, read_lock(first.lock_path)), expected)
    assert calls == []
    again = load_config([Path(cluster.name)])  # as the reconcile agent's next round
    _same((again, read_lock(again.lock_path)), expected)
    assert calls == ["parse_yaml", "bulk_tasks"]


def test_the_child_leaves_the_lock_to_an_assignment_cache_newer_than_the_files(
    cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state directory whose assignment cache was written after the config and the lock most
    likely answers for them: the child parses only the config, the parent reads the lock if it
    needs it. A lock written after the cache is parsed by the child again."""
    expected = _fresh(cluster)
    state = cluster.parent / "state"
    state.mkdir()
    assign_with_lock(load_config([cluster]), locked=False, cache=state)  # stores the cache
    cache = state / ASSIGN_CACHE_NAME
    assert cache.exists()
    files = (cluster, cluster.parent / "overlayc.lock")
    for f in files:
        os.utime(f, ns=(cache.stat().st_mtime_ns - 10**9,) * 2)
    _forked(cluster)
    calls = _counted(monkeypatch)
    loaded = load_config([Path(cluster.name)])
    _same((loaded, read_lock(loaded.lock_path)), expected)
    assert calls == ["bulk_tasks"]  # the config from the child, the lock by the parent
    prefetch._child = None
    os.utime(files[1], ns=(cache.stat().st_mtime_ns + 10**9,) * 2)
    _forked(cluster)
    calls.clear()
    loaded = load_config([Path(cluster.name)])
    _same((loaded, read_lock(loaded.lock_path)), expected)
    assert calls == []


def test_files_changed_after_the_child_read_them_are_parsed_again(
    cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = _forked(cluster)
    assert child.part(1) is not None  # the child has read both files
    data = config_dict(12, 3, 5)
    data["nodes"]["extra"] = {"address": "10.250.0.1"}
    with cluster.open("w") as f:
        YAML().dump(data, f)
    lock = cluster.parent / "overlayc.lock"
    lock.write_text(lock.read_text().replace("vnis:\n", "vnis:\n  zz: 4000\n", 1))
    expected = _fresh(cluster)
    assert "extra" in expected[0].config.nodes and expected[1].vnis["zz"] == 4000
    calls = _counted(monkeypatch)
    loaded = load_config([Path(cluster.name)])
    _same((loaded, read_lock(loaded.lock_path)), expected)
    assert calls == ["parse_yaml", "bulk_tasks"]


def test_a_lock_outside_the_bulk_layout_is_read_by_the_parent(
    cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = cluster.parent / "overlayc.lock"
    lock.write_text(lock.read_text().replace("\ntasks:\n", "\ntasks:\n  \"yes\": node1\n", 1))
    expected = _fresh(cluster)
    assert expected[1].tasks["yes"] == "node1"
    _forked(cluster)
    calls = _counted(monkeypatch)
    loaded = load_config([Path(cluster.name)])
    _same((loaded, read_lock(loaded.lock_path)), expected)
    assert calls == ["bulk_tasks"]  # the configuration from the child, the lock by the parent


def test_a_directory_of_files_is_read_by_the_parent(cluster: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = cluster.parent / "conf"
    conf.mkdir()
    cluster.rename(conf / "overlay.yaml")
    (cluster.parent / "overlayc.lock").rename(conf / "overlayc.lock")
    expected = _fresh(conf)
    prefetch.start(["validate", "-f", "conf"])
    assert prefetch._child is not None
    calls = _counted(monkeypatch)
    loaded = load_config([Path("conf")])
    _same((loaded, read_lock(loaded.lock_path)), expected)
    assert calls == ["parse_yaml"]  # the lock of the directory still came from the child


def test_a_failing_child_changes_nothing_and_says_nothing(
    cluster: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    expected = _fresh(cluster)

    def noisy(*args: object) -> NoReturn:
        os.write(1, b"child on stdout\n")  # the descriptors the command's output goes to
        os.write(2, b"child on stderr\n")
        raise OSError("unreadable")
    monkeypatch.setattr(prefetch_child, "read_config", noisy)  # as the forked child runs it
    child = _forked(cluster)
    calls = _counted(monkeypatch)
    loaded = load_config([Path(cluster.name)])
    _same((loaded, read_lock(loaded.lock_path)), expected)
    assert calls == ["parse_yaml", "bulk_tasks"] and child.closed
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize("failing", ["memfd_create", "pipe2", "fork"])
def test_no_child_when_one_cannot_be_made(
    cluster: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    expected = _fresh(cluster)
    before = sorted(os.listdir("/proc/self/fd"))

    def fail(*args: object) -> NoReturn:
        raise OSError(24, "Too many open files")
    with monkeypatch.context() as patched:
        patched.setattr(os, failing, fail)
        prefetch.start(["plan", "-f", cluster.name])
    assert prefetch._child is None and sorted(os.listdir("/proc/self/fd")) == before  # nothing left open
    loaded = load_config([Path(cluster.name)])
    _same((loaded, read_lock(loaded.lock_path)), expected)


def test_a_child_still_reading_at_exit_is_killed_and_reaped(
    cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prefetch_child, "read_config", lambda f: time.sleep(60))
    child = _forked(cluster)
    began = time.monotonic()
    child.stop()  # what atexit runs
    assert time.monotonic() - began < 10
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)
    assert _fresh(cluster)[1] == read_lock(cluster.parent / "overlayc.lock")


BROKEN: list[tuple[str, list[Any] | int | None]] = [  # (configuration, what the child gives)
    ("networks: {a: [\n", []),  # YAML syntax: the parser's diagnostic
    ("version: 1\nversion: 1\n", []),  # a diagnostic of the YAML reader
    ("version: 1\nwhen: 2026-01-01\n", None),  # a date, which marshal cannot carry
    ("version: 1\ncluster: {name: c}\nnodes: {n1: {address: 10.0.0.1, color: red}}\n", 1),  # the model's
]


@pytest.mark.parametrize(("broken", "parsed"), BROKEN)
def test_a_broken_configuration_gives_the_same_diagnostics_as_without_the_prefetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str, parsed: list[Any] | int | None
) -> None:
    monkeypatch.setattr(prefetch, "_child", None)
    monkeypatch.chdir(tmp_path)
    Path("overlay.yaml").write_text(broken)
    with pytest.raises(ConfigError) as without:
        load_config([Path("overlay.yaml")])
    prefetch.start(["validate", "-f", "overlay.yaml"])
    assert prefetch._child is not None
    got = prefetch._child.part(0)
    assert (len(got) if isinstance(parsed, int) else got) == parsed
    try:
        with pytest.raises(ConfigError) as err:
            load_config([Path("overlay.yaml")])
    finally:
        prefetch._child.stop()
    assert (err.value.diagnostics, err.value.sources) == (without.value.diagnostics, without.value.sources)


_NO_PREFETCH = "import sys; sys.argv[0] = 'overlayc'; from overlayc.cli import main; main()"


def test_the_process_reports_a_model_error_as_without_the_prefetch(tmp_path: Path) -> None:
    """The configuration the child parses without a diagnostic, that the model then refuses:
    the same message, locations and exit code as a process that does not fork the child."""
    cfg = tmp_path / "overlay.yaml"
    cfg.write_text(BROKEN[-1][0])
    runs = [subprocess.run([sys.executable, *how, "validate", "-f", cfg.name], capture_output=True,
                           text=True, cwd=tmp_path, timeout=120, check=False)
            for how in (["-m", "overlayc"], ["-c", _NO_PREFETCH])]
    assert runs[0].returncode == 65 and f"{cfg.name}:3:" in runs[0].stderr, runs[0].stderr
    assert [(r.returncode, r.stdout, r.stderr) for r in runs] == [(runs[1].returncode, runs[1].stdout,
                                                                   runs[1].stderr)] * 2


def test_the_command_plans_from_the_prefetch_as_without_it(cluster: Path) -> None:
    args = ["plan", "-f", cluster.name, "--node", "node1", "--state", "empty", "--json", "--locked",
            "--at", "2026-01-01T00:00:00Z"]
    runs = [subprocess.run([sys.executable, *how, *args], capture_output=True, text=True,
                           cwd=cluster.parent, timeout=120, check=False)
            for how in (["-m", "overlayc"], ["-c", _NO_PREFETCH])]
    assert runs[0].returncode == 0, runs[0].stderr
    assert json.loads(runs[0].stdout)["node"] == "node1"
    assert [(r.returncode, r.stdout, r.stderr) for r in runs] == [(0, runs[1].stdout, runs[1].stderr)] * 2


_PLAIN_LOCK = OLD_LOCK.replace('"yes"', "b").replace('"n"', "node2")  # every name plain: the bulk case
LOCKS = [dumps_lock(IPV6_LOCK), _PLAIN_LOCK,
         *(_PLAIN_LOCK.replace(old, new, 1) for old, new in ODD_BULK_LINES),
         "version: 1\nvnis: {}\ntasks: {}\nendpoints: {a: 1}\n", "not: [a lock\n"]


def _outcome(read: Callable[[], Lock]) -> Lock | str:
    try:
        return read()
    except OverlaycError as err:
        return f"{type(err).__name__}: {err}"


@pytest.mark.parametrize("text", LOCKS)
def test_any_lock_reads_as_without_the_prefetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    """IPv6 pins, pins without IPv4, every line the bulk reader leaves to the line parser, a
    lock in another layout, a broken one: the same Lock or the same error."""
    monkeypatch.setattr(prefetch, "_child", None)
    monkeypatch.chdir(tmp_path)
    Path("overlayc.lock").write_text(text)
    expected = _outcome(lambda: parse_lock(text.encode(), "overlayc.lock"))
    try:
        bulk = lock_file._parse_bulk(text)
    except lock_file._NotCanonical:
        bulk = None
    prefetch.start(["plan", "-f", "overlay.yaml"])  # no such file: the child reads only the lock
    calls = _counted(monkeypatch)
    assert _outcome(lambda: read_lock(Path("overlayc.lock"))) == expected
    if bulk is not None:  # what the bulk reader takes comes from the child
        assert calls == [] and bulk == expected
