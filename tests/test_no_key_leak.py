"""Key material never leaks (DESIGN.md §4): derive every SA key of the seed example nodes over the
epochs around every time the golden files use, then scan every golden file and the CLI's output for
those keys (and the private keys and pair secrets they come from) in hex and base64."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import permutations
from pathlib import Path

import pytest

from overlayc.compile import keys
from overlayc.compile.epoch import epoch_of, parse_at
from overlayc.config.load import load_config
from overlayc.files import keys as key_files
from tests.support.host import ROOT

SEED = ROOT / "examples" / "seed"
GOLDEN = ROOT / "golden"
# a fixed time right at an epoch boundary of the default 12 h rotation, and one inside an epoch
FIXED_TIMES = ("2026-01-01T12:00:00Z", "2026-06-15T08:30:00Z")
TIME_RE = re.compile(rb"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")
EPOCHS_AROUND = range(-3, 4)


def _key_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted((SEED / "keys").glob("*.key"))}


def _golden_files() -> list[Path]:
    return sorted(p for p in GOLDEN.rglob("*") if p.is_file()) if GOLDEN.is_dir() else []


def _times() -> list[datetime]:
    found = {m.group().decode() for f in _golden_files() for m in TIME_RE.finditer(f.read_bytes())}
    return [parse_at(t) for t in sorted(found | set(FIXED_TIMES))] + [datetime.now(UTC)]


def _forms(secret: bytes) -> Iterator[str]:
    """Every spelling of `secret` (and of its AES-key part) a leak could take."""
    for part in {secret, secret[:16], secret[:32]}:
        if len(part) < 16:
            continue
        b64 = base64.b64encode(part).decode()
        url = base64.urlsafe_b64encode(part).decode()
        yield from (part.hex(), part.hex().upper(), b64, b64.rstrip("="), url.rstrip("="))


def _secrets() -> dict[str, str]:
    """{spelling: what it is} for the private keys, pair secrets and SA keys of the seed nodes."""
    config = load_config([SEED]).config
    files = _key_files()
    private = {n: key_files.read_private_key(_private_copy(p)) for n, p in files.items()}
    public = {n: node.public_key_bytes() for n, node in config.nodes.items()}
    found: dict[str, str] = {}
    for name, key in private.items():
        found.update(dict.fromkeys(_forms(key), f"private key of {name}"))
    epochs = {
        epoch_of(t, config.cluster.encryption.rotation) + d for t in _times() for d in EPOCHS_AROUND
    }
    for a, b in permutations(sorted(public), 2):
        pub_a, pub_b = public[a], public[b]
        if a not in private or pub_a is None or pub_b is None:
            continue
        shared = keys.x25519(private[a], pub_b)
        found.update(dict.fromkeys(_forms(shared), f"X25519 secret {a}/{b}"))
        for e in epochs:
            for length in keys.ALGORITHM_KEY_LEN.values():
                for src, dst, what in ((pub_a, pub_b, f"{a}->{b}"), (pub_b, pub_a, f"{b}->{a}")):
                    sa = keys.derive_sa_key(shared, config.cluster.id, src, dst, e, length)
                    found.update(dict.fromkeys(_forms(sa), f"SA key {what} epoch {e}"))
    return found


_COPY_DIR: list[Path] = []


def _private_copy(path: Path) -> Path:
    """Git does not keep modes: use a 0600 copy of an example key file."""
    if not _COPY_DIR:
        import tempfile

        _COPY_DIR.append(Path(tempfile.mkdtemp(prefix="overlayc-leak-")))
    copy = _COPY_DIR[0] / path.name
    if not copy.exists():
        shutil.copyfile(path, copy)
        copy.chmod(0o600)
    return copy


@pytest.fixture(scope="module")
def secrets() -> Iterator[dict[str, str]]:
    if not _key_files():
        pytest.skip("examples/seed/keys/*.key not present yet")
    found = _secrets()
    yield found
    for d in _COPY_DIR:
        shutil.rmtree(d, ignore_errors=True)


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return sorted({what for form, what in secrets.items() if form in text})


def test_the_scan_would_find_a_leak(secrets: dict[str, str]) -> None:
    form, what = next(iter(secrets.items()))
    assert _leaks(f"noise {form} noise", secrets) == [what]
    assert len(secrets) > 100  # private keys, pair secrets and SA keys over many epochs


def test_no_golden_file_holds_key_material(secrets: dict[str, str]) -> None:
    files = _golden_files()
    if not files:
        pytest.skip("golden/ holds no files yet")
    leaks = {
        str(f.relative_to(ROOT)): found
        for f in files
        if (found := _leaks(f.read_bytes().decode("latin-1"), secrets))
    }
    assert leaks == {}


def _commands() -> set[str]:
    res = subprocess.run(
        [sys.executable, "-m", "overlayc", "--help"], capture_output=True, text=True, check=False
    )
    section = res.stdout.split("Commands:", 1)[-1]
    return {line.split()[0] for line in section.splitlines() if line.startswith("  ") and line.split()}


# (command, extra arguments): render and plan output, text and JSON
CLI_OUTPUTS = [
    ("render", ("--format", "json")),
    ("render", ("--format", "iproute2")),
    ("plan", ("--state", "empty")),
    ("plan", ("--state", "empty", "--json")),
]


@pytest.mark.parametrize(("command", "extra"), CLI_OUTPUTS, ids=[" ".join((c, *e)) for c, e in CLI_OUTPUTS])
def test_cli_output_holds_no_key_material(
    secrets: dict[str, str], tmp_path: Path, command: str, extra: tuple[str, ...]
) -> None:
    if command not in _commands():
        pytest.skip(f"`overlayc {command}` does not exist yet")
    config_dir = tmp_path / "seed"  # render/plan may write overlayc.lock next to the config
    shutil.copytree(SEED, config_dir, ignore=shutil.ignore_patterns("keys"))
    env = {**os.environ, key_files.KEY_DIR_ENV: str(tmp_path / "no-default-keys")}
    times = [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in _times()]
    ran = 0
    for node, key_file in _key_files().items():
        for at in times:
            args = [command, "-f", str(config_dir / "overlay.yaml"), "--node", node, "--at", at,
                    "--key-file", str(_private_copy(key_file)), *extra]
            res = subprocess.run(
                [sys.executable, "-m", "overlayc", *args], capture_output=True, text=True, env=env,
                check=False,
            )
            assert "No such option" not in res.stderr, f"`overlayc {' '.join(args)}`: {res.stderr}"
            assert _leaks(res.stdout + res.stderr, secrets) == [], f"`overlayc {' '.join(args)}` leaks"
            ran += res.returncode in (0, 2) and bool(res.stdout)
    assert ran > 0, f"`overlayc {command}` produced no output to scan"
