"""`overlayc keys gen|show` and key files: modes, refusal, --force, the ssh-style permission rule."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from overlayc import errors
from overlayc.compile import keys
from overlayc.errors import InputError
from overlayc.files import keys as key_files


def overlayc(key_dir: Path, *args: str, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, key_files.KEY_DIR_ENV: str(key_dir)}
    return subprocess.run(
        [sys.executable, "-m", "overlayc", *args], capture_output=True, text=True, env=env, check=False,
        preexec_fn=None if umask is None else (lambda: os.umask(umask) and None),
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def public_line(private: bytes) -> str:
    return f"public_key: {keys.encode_key(keys.public_key_of(private))}"


def test_gen_writes_a_0600_key_even_with_umask_0_and_prints_the_yaml_line(tmp_path: Path) -> None:
    res = overlayc(tmp_path, "keys", "gen", "--node", "web-1", umask=0)
    assert res.returncode == 0, res.stderr
    path = tmp_path / "web-1.key"
    assert mode(path) == 0o600
    text = path.read_text()
    assert text.endswith("\n") and text.count("\n") == 1
    private = base64.b64decode(text.strip(), validate=True)
    assert len(private) == 32
    assert res.stdout.strip() == public_line(private)
    assert text.strip() not in res.stdout + res.stderr  # the private key is never printed


def test_gen_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    assert overlayc(tmp_path, "keys", "gen", "--node", "n1").returncode == 0
    before = (tmp_path / "n1.key").read_bytes()
    res = overlayc(tmp_path, "keys", "gen", "--node", "n1")
    assert res.returncode == 1
    assert "already exists" in res.stderr and "--force" in res.stderr and "Traceback" not in res.stderr
    assert (tmp_path / "n1.key").read_bytes() == before


def test_gen_force_replaces_atomically_with_a_new_0600_key(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "dir" / "k.key"
    assert overlayc(tmp_path, "keys", "gen", "--node", "n1", "--out", str(out)).returncode == 0
    assert mode(out.parent) == 0o700
    first = out.read_bytes()
    out.chmod(0o644)  # --force must not inherit a bad mode
    res = overlayc(tmp_path, "keys", "gen", "--node", "n1", "--out", str(out), "--force")
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() != first and mode(out) == 0o600
    assert sorted(p.name for p in out.parent.iterdir()) == ["k.key"]  # no temporary file left
    assert res.stdout.strip() == public_line(base64.b64decode(out.read_bytes()))


def test_gen_refuses_a_node_name_that_is_not_one(tmp_path: Path) -> None:
    res = overlayc(tmp_path, "keys", "gen", "--node", "../escape")
    assert res.returncode == 1 and "not a node name" in res.stderr
    assert not (tmp_path.parent / "escape.key").exists()


def test_show_prints_public_key_and_fingerprint_by_node_and_by_file(tmp_path: Path) -> None:
    private = keys.generate_private_key()
    key_files.write_private_key(tmp_path / "db.key", private)
    public = keys.public_key_of(private)
    expected = f"{public_line(private)}\nfingerprint: {keys.public_key_fingerprint(public)}\n"
    for args in (("--node", "db"), ("--key-file", str(tmp_path / "db.key"))):
        res = overlayc(tmp_path, "keys", "show", *args)
        assert res.returncode == 0, res.stderr
        assert res.stdout == expected
        assert keys.encode_key(private) not in res.stdout


@pytest.mark.parametrize("bad_mode", [0o640, 0o604, 0o660, 0o610])
def test_show_refuses_a_key_readable_by_others_saying_how_to_fix_it(tmp_path: Path, bad_mode: int) -> None:
    path = tmp_path / "n1.key"
    key_files.write_private_key(path, keys.generate_private_key())
    path.chmod(bad_mode)
    res = overlayc(tmp_path, "keys", "show", "--key-file", str(path))
    assert res.returncode == 1
    assert f"chmod 600 {path}" in res.stderr and f"{bad_mode:04o}" in res.stderr
    assert path.read_text().strip() not in res.stderr


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (base64.b64encode(b"k" * 32) + b"\n" + base64.b64encode(b"k" * 32) + b"\n", "2 lines"),
        (b"this is not base64 at all!!\n", "not valid base64"),
        (base64.b64encode(b"short-key-material") + b"\n", "18 bytes"),
        (b"", "0 lines"),
    ],
)
def test_bad_key_content_is_an_error_that_does_not_echo_it(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "n1.key"
    path.write_bytes(content)
    path.chmod(0o600)
    res = overlayc(tmp_path, "keys", "show", "--node", "n1")
    assert res.returncode == 1 and why in res.stderr
    for line in content.splitlines():
        assert line.decode() not in res.stderr


def test_show_needs_exactly_one_source(tmp_path: Path) -> None:
    assert overlayc(tmp_path, "keys", "show").returncode == 2
    assert overlayc(tmp_path, "keys", "show", "--node", "a", "--key-file", "x").returncode == 2


def test_show_of_a_missing_key_says_how_to_make_one(tmp_path: Path) -> None:
    res = overlayc(tmp_path, "keys", "show", "--node", "ghost")
    assert res.returncode == 1 and "overlayc keys gen" in res.stderr


def test_resolving_the_key_for_compile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(key_files.KEY_DIR_ENV, str(tmp_path))
    assert key_files.resolve_private_key("n1", None) is None  # default path missing: unavailable
    with pytest.raises(InputError, match="does not exist"):
        key_files.resolve_private_key("n1", tmp_path / "typo.key")  # an explicit path must exist
    private = keys.generate_private_key()
    key_files.write_private_key(tmp_path / "n1.key", private)
    assert key_files.resolve_private_key("n1", None) == private
    (tmp_path / "n1.key").chmod(0o644)
    with pytest.raises(errors.KeyFileError, match="chmod 600"):
        key_files.resolve_private_key("n1", None)


def test_a_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.key"
    key_files.write_private_key(real, keys.generate_private_key())
    (tmp_path / "n1.key").symlink_to(real)
    with pytest.raises(errors.KeyFileError, match="symbolic link"):
        key_files.load_private_key(tmp_path / "n1.key")
