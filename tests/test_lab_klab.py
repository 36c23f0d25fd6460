"""lab.klab: the ESP lab's plumbing (exit status, output, files, cwd, timeout) and pure helpers."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from lab import esp_suite, klab
from lab.klab_build import module_closure, write_cpio


def _lab_or_skip() -> None:
    if klab.in_lab():
        pytest.skip("inside the ESP lab already")
    reason = klab.available()
    if reason:
        pytest.skip(reason)
    klab.setup()


@pytest.mark.slow
def test_run_returns_status_output_files_and_cwd(tmp_path: Path) -> None:
    _lab_or_skip()
    cmd = (
        'uname -r; pwd; echo "$OVERLAYC_IN_KLAB $FOO"; grep -o "^veth " /proc/modules; '
        'echo data > "$OVERLAYC_KLAB_OUT/f.txt"; exit 42'
    )
    res = klab.run(cmd, timeout=120, env={"FOO": "bar baz"}, cwd=str(Path(__file__).parent), modules=["veth"])
    lines = res.output.splitlines()
    assert res.rc == 42, res.output
    assert lines[0].endswith("-amd64") and lines[1:] == [str(Path(__file__).parent), "1 bar baz", "veth "]
    assert dict(res.files) == {"f.txt": b"data\n"}
    assert 0 < res.wall_s < 120


@pytest.mark.slow
def test_timeout_kills_qemu_and_reports_lab_failure() -> None:
    _lab_or_skip()
    res = klab.run("sleep 300", timeout=8)
    assert res.rc == klab.LAB_FAILURE
    assert "timeout after 8 s" in res.output
    assert 8 <= res.wall_s < 30
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert not [line for line in ps.splitlines() if "path=" in line and str(klab.cache_dir()) in line]


def test_guest_command_runs_pytest_esp_once_per_path() -> None:
    cmd = esp_suite.guest_command(["tests/esp", "tests/x.py", "tests/esp"], python="/v/bin/python")
    assert cmd.startswith("/v/bin/python -m pytest -m esp -p no:cacheprovider -p no:xdist")
    assert cmd.endswith(f"--junitxml={klab.GUEST_OUT}/{esp_suite.JUNIT_NAME} tests/esp tests/x.py")


def test_parse_junit_names_each_failure() -> None:
    xml = """<testsuites><testsuite name="pytest">
      <testcase classname="tests.esp.test_a" name="test_ok"/>
      <testcase classname="tests.esp.test_a" name="test_bad"><failure message="assert 1 == 2">tb</failure>
      </testcase>
      <testcase classname="tests.esp.test_b" name="test_err"><error message="fixture broke"/></testcase>
      <testcase classname="tests.esp.test_b" name="test_skip"><skipped message="no tcpdump"/></testcase>
    </testsuite></testsuites>"""
    cases = esp_suite.parse_junit(xml)
    assert [(c.nodeid, c.outcome, c.message) for c in cases] == [
        ("tests.esp.test_a::test_ok", "passed", ""),
        ("tests.esp.test_a::test_bad", "failed", "assert 1 == 2"),
        ("tests.esp.test_b::test_err", "error", "fixture broke"),
        ("tests.esp.test_b::test_skip", "skipped", "no tcpdump"),
    ]
    suite = esp_suite.SuiteResult(cases, klab.LabResult(1, "", 1.0))
    assert [c.nodeid for c in suite.failures] == ["tests.esp.test_a::test_bad", "tests.esp.test_b::test_err"]


def test_module_closure_follows_dependencies(tmp_path: Path) -> None:
    (tmp_path / "modules.dep").write_text(
        "kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko\n"
        "kernel/net/9p/9pnet.ko:\nkernel/fs/netfs/netfs.ko:\nkernel/drivers/net/veth.ko:\n"
    )
    assert module_closure(tmp_path, ["9p"]) == [
        "kernel/fs/9p/9p.ko", "kernel/fs/netfs/netfs.ko", "kernel/net/9p/9pnet.ko",
    ]  # fmt: skip


def test_write_cpio_is_newc_with_files_links_and_trailer(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "busybox").write_bytes(b"\x7fELF123")
    (root / "bin" / "sh").symlink_to("busybox")
    write_cpio(root, tmp_path / "out.cpio.gz")
    data = gzip.decompress((tmp_path / "out.cpio.gz").read_bytes())
    assert data.startswith(b"070701") and b"TRAILER!!!\0" in data
    assert b"bin/busybox\0" in data and b"\x7fELF123" in data and b"bin/sh\0" in data
    assert len(data) % 4 == 0
