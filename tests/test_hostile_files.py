"""Files, paths and the target namespace under attack (issue 16): traversal refused, links never
followed, modes fixed whatever the umask, a bug reported in one line, a wrong node refused."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from overlayc.apply import journal
from overlayc.apply import lock as lockmod
from overlayc.compile.lock import Lock
from overlayc.errors import InputError
from overlayc.files.lock import write_lock
from overlayc.files.safe import ensure_dir
from overlayc.files.statedir import target_state_dir
from tests.hostile import PLAN_BYTES, PLAN_MUTATIONS, plain_copy, run_cli
from tests.support.dumps import dump
from tests.support.host import run_in


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.mark.parametrize("name", ["../x", "../../proc/1/ns/net", "..", "a/b", "", "n" * 256])
def test_a_netns_name_never_becomes_a_path(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="network namespace name"):
        lockmod.lock_path(name)
    with pytest.raises(InputError, match="network namespace name"):
        target_state_dir(name, tmp_path / "state")
    assert not (tmp_path / "state").exists() and not (tmp_path / "x").exists()


def test_the_lock_file_is_never_opened_through_a_link(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lockmod, "LOCK_DIR", tmp_path / "locks")
    (tmp_path / "locks").mkdir(mode=0o755)
    victim = tmp_path / "victim"
    victim.write_text("root's precious file\n")
    (tmp_path / "locks" / "netns-x.lock").symlink_to(victim)
    with pytest.raises(InputError, match="symbolic link"), lockmod.apply_lock("x", 0, "apply"):
        pass
    assert victim.read_text() == "root's precious file\n"


def test_a_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    planted = tmp_path / "planted"
    planted.mkdir(mode=0o777)
    os.chown(planted, 65534, 65534)  # nobody
    with pytest.raises(InputError, match="owned by uid 65534"):
        ensure_dir(planted, 0o755)


def test_modes_are_exact_under_umask_000(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], umask_000: None) -> None:
    monkeypatch.setattr(lockmod, "LOCK_DIR", tmp_path / "run" / "overlayc")
    with lockmod.apply_lock("x", 0, "apply") as path:
        assert _mode(path) == 0o644 and _mode(path.parent) == 0o755
    state = target_state_dir("x", tmp_path / "state")
    assert _mode(state) == 0o700 and _mode(state.parent) == 0o700
    journal.record(state, [journal.Intent("netns", "x")])
    assert _mode(state / journal.JOURNAL_NAME) == 0o600
    write_lock(tmp_path / "overlayc.lock", Lock())
    assert _mode(tmp_path / "overlayc.lock") == 0o644
    cfg = plain_copy(tmp_path)
    got = run_cli(capsys, "plan", "-f", str(cfg), "--node", "host-a", "--state", "empty", "-o",
                  str(tmp_path / "p.json"))
    assert got.code == 0, got
    assert _mode(tmp_path / "p.json") == 0o644 and _mode(cfg.parent / "overlayc.lock") == 0o644


def test_an_unexpected_exception_is_one_line_and_exit_70(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import overlayc.cli

    def boom(paths: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(overlayc.cli, "load_config", boom)
    got = run_cli(capsys, "validate", "-f", str(plain_copy(tmp_path)))
    assert got.code == 70 and got.err.count("\n") == 1, got
    assert got.err.startswith("overlayc: internal error (a bug in overlayc, please report it): RuntimeError")
    report = Path(got.err.split("the details are in ")[1].strip())
    assert "Traceback" in report.read_text() and "RuntimeError: boom" in report.read_text()
    assert _mode(report) == 0o600
    assert "Traceback" not in got.err


def test_a_sigterm_that_surfaces_wrapped_in_another_exception_is_no_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The early-stop handler raises SystemExit(143) wherever the main thread is; a C callback
    (pydantic's serializer, seen in the kill test) can hand it on as another exception. That is
    the signal's exit, 143, not an internal error (70) with a crash report."""
    import signal

    import overlayc.cli
    from overlayc.apply import interrupt

    def interrupted(paths: object) -> None:
        try:
            interrupt._handler(signal.SIGTERM, None)
        except SystemExit as exc:
            raise ValueError("Error calling function: SystemExit: 143") from exc

    monkeypatch.setattr(overlayc.cli, "load_config", interrupted)
    monkeypatch.setenv("OVERLAYC_STATE_DIR", str(tmp_path / "state"))
    with interrupt.handled():
        got = run_cli(capsys, "validate", "-f", str(plain_copy(tmp_path)))
    assert got.code == 143 and "internal error" not in got.err, got
    assert not (tmp_path / "state").exists() or not list((tmp_path / "state").glob("crash-*"))


def test_a_saved_plan_for_another_namespace_is_refused(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    cfg = plain_copy(tmp_path)
    out = tmp_path / "p.json"
    got = run_cli(capsys, "plan", "-f", str(cfg), "--node", "host-a", "--state", "empty", "-o", str(out))
    assert got.code == 0, got
    got = run_cli(capsys, "apply", "-f", str(cfg), str(out), "--netns", "oc16-other", "--yes")
    assert got.code == 1 and "(netns -); --netns oc16-other names another target" in got.err, got


# --- against the kernel -------------------------------------------------------------------------
@pytest.fixture
def node_a(make_netns: Callable[[], str]) -> Iterator[tuple[str, str]]:
    """(a namespace whose underlay interface has host-a's address (examples/plain), a unique
    cluster name); the cluster's endpoint namespaces are removed afterwards."""
    ns, peer = make_netns(), make_netns()
    run_in(ns, "ip", "link", "add", "oc16-u", "type", "veth", "peer", "name", "oc16-p", "netns", peer)
    run_in(ns, "ip", "addr", "add", "10.10.0.11/24", "dev", "oc16-u")
    run_in(ns, "ip", "link", "set", "oc16-u", "up")
    cluster = f"oc16p{secrets.token_hex(2)}"
    yield ns, cluster
    for name in os.listdir("/run/netns"):
        if name.startswith(f"{cluster}-"):
            subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.mark.kernel
def test_apply_refuses_a_node_whose_address_is_not_here(
    node_a: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns, cluster = node_a
    cfg = plain_copy(tmp_path, cluster)
    before = dump(ns, cluster)
    got = run_cli(capsys, "apply", "-f", str(cfg), "--node", "host-b", "--netns", ns, "--yes")
    assert got.code == 1, got
    assert (f"node host-b: its underlay address 10.10.0.12 is on no interface of network namespace "
            f"{ns}") in got.err and "--allow-missing-address" in got.err
    assert dump(ns, cluster) == before
    got = run_cli(capsys, "apply", "-f", str(cfg), "--node", "host-b", "--netns", ns, "--yes",
                  "--allow-missing-address")
    assert got.code == 0 and "Apply complete for host-b" in got.out, got
    assert run_cli(capsys, "destroy", "--netns", ns, "--yes").code == 0
    assert dump(ns, cluster) == before


@pytest.mark.kernel
def test_broken_saved_plans_leave_the_kernel_unchanged(
    node_a: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns, cluster = node_a
    cfg = plain_copy(tmp_path, cluster)
    assert run_cli(capsys, "apply", "-f", str(cfg), "--node", "host-a", "--netns", ns, "--yes").code == 0
    saved = tmp_path / "p.json"
    (cfg.parent / "overlay.yaml").write_text(cfg.read_text().replace("replicas: 2", "replicas: 4"))
    got = run_cli(capsys, "plan", "-f", str(cfg), "--node", "host-a", "--netns", ns, "-o", str(saved))
    assert got.code == 0, got
    doc = json.loads(saved.read_text())
    assert doc["changes"], "the saved plan must change something for this test to mean anything"
    before = dump(ns, cluster)
    bad = tmp_path / "bad.json"
    for name, mutate, words in PLAN_MUTATIONS:
        bad.write_text(json.dumps(mutate(doc)))
        got = run_cli(capsys, "apply", "-f", str(cfg), str(bad), "--yes")
        assert got.code == 1 and words in got.err, (name, got)
        assert dump(ns, cluster) == before, name
    for name, data, words in PLAN_BYTES:
        bad.write_bytes(data)
        got = run_cli(capsys, "apply", "-f", str(cfg), str(bad), "--yes")
        assert got.code == 1 and words in got.err, (name, got)
        assert dump(ns, cluster) == before, name
    assert run_cli(capsys, "destroy", "--netns", ns, "--yes").code == 0


@pytest.mark.parametrize("name", ["../../proc/1/ns/net", "..", "a/b"])
def test_no_namespace_is_entered_by_path(name: str) -> None:
    from overlayc.errors import EnvironmentProblem
    from overlayc.netlink.netns import Namespace

    with pytest.raises(EnvironmentProblem, match="is not a network namespace name"):
        Namespace(name)
