"""The ESP kernel lab: run a command under Debian's stock kernel in QEMU (TCG).

Hosts whose kernel lacks ESP/GCM (like the project VMs) test XFRM code in a guest instead:
Debian's `linux-image-amd64` kernel boots under `qemu-system-x86_64 -accel tcg` with a busybox
initramfs that mounts the host's / read-only over 9p with a tmpfs overlay, so the guest sees the
host's files (the venv, the repository) at the same paths, runs one shell command in the caller's
cwd, and hands output and exit status back.

    from lab import klab
    klab.setup()                       # idempotent: 9-17 s from scratch, ~0 s after
    if klab.available() is None:
        res = klab.run("ip -V", timeout=120)    # LabResult(rc, output, wall_s, files)

One boot costs ~4.5 s and user-space code runs 10-30x slower than native: batch many checks per
boot. KVM on the project VMs is PVM and cannot run a stock kernel (lab/README.md).
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lab import klab_build as build

LAB_FAILURE = 125
QEMU_NAME = "overlayc-klab"
IN_LAB_ENV = "OVERLAYC_IN_KLAB"
# in the guest, files written below this directory come back in LabResult.files
GUEST_OUT = "/klab-io/out"
# modules an ESP/VXLAN test needs in the guest (busybox modprobe resolves their dependencies)
ESP_MODULES = (
    "esp4", "esp6", "xfrm_user", "gcm", "ghash_generic", "ctr", "seqiv", "echainiv",
    "aesni_intel", "ghash_clmulni_intel", "veth", "vxlan", "bridge",
)  # fmt: skip
_READY = "ready"


@dataclass(frozen=True)
class LabResult:
    """What a guest run produced: the command's exit status (125 = lab failure), its combined
    stdout/stderr (plus the lab's diagnosis on failure), host wall time, and the files the
    command wrote below GUEST_OUT (name relative to it -> bytes)."""

    rc: int
    output: str
    wall_s: float
    files: Mapping[str, bytes] = field(default_factory=dict, repr=False)


def cache_dir() -> Path:
    """Where the lab keeps the kernel, vmlinux, initramfs and run dirs (env OVERLAYC_KLAB_DIR)."""
    return Path(os.environ.get("OVERLAYC_KLAB_DIR", "/var/cache/overlayc-klab"))


def in_lab() -> bool:
    """True inside the lab's guest."""
    return os.environ.get(IN_LAB_ENV) == "1"


@contextmanager
def _locked(exclusive: bool) -> Iterator[None]:
    """Hold the cache dir's lock: exclusive while setting up, shared while a guest runs."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _ready_stamp() -> str:
    return f"{build.guest_files_digest()}\n"


def is_set_up() -> bool:
    """True when kernel, vmlinux and an initramfs of the current lab/guest scripts are in place."""
    root = cache_dir()
    stamp = root / _READY
    return stamp.is_file() and stamp.read_text() == _ready_stamp() and (root / "vmlinux").is_file()


def setup() -> None:
    """Make the lab runnable; idempotent, safe to call from concurrent processes (file lock).

    As root: installs qemu-system-x86, busybox-static and tcpdump when missing (never upgrades),
    downloads and unpacks the kernel package (not installed), runs busybox depmod, extracts
    vmlinux for PVH boot and builds the initramfs. Raises LabSetupError naming the failed step.
    """
    if os.geteuid() != 0:
        raise build.LabSetupError("the ESP lab needs root (apt-get, netns and 9p of /)")
    with _locked(exclusive=True):
        build.install_packages(build.missing_packages())
        if is_set_up():
            return
        root = cache_dir()
        (root / _READY).unlink(missing_ok=True)
        kdir = root / "kernel"
        if not (kdir / "lib" / "modules").is_dir():
            build.fetch_kernel(kdir, root / "debs")
        kver = sorted(p.name for p in (kdir / "lib" / "modules").iterdir())[0]
        if not (root / "vmlinux").is_file():
            build.extract_vmlinux(kdir / "boot" / f"vmlinuz-{kver}", root / "vmlinux")
        build.build_initramfs(kdir, kver, root / "initrd.cpio.gz", root / "initramfs")
        (root / _READY).write_text(_ready_stamp())


def available() -> str | None:
    """None when the lab can run here (after setup()), else the reason it cannot."""
    if os.uname().machine != "x86_64":
        return f"the ESP lab boots an amd64 kernel; this machine is {os.uname().machine}"
    if os.geteuid() != 0:
        return "the ESP lab needs root (it installs qemu, shares / over 9p and creates namespaces)"
    if is_set_up() and shutil.which("qemu-system-x86_64"):
        return None
    if shutil.which("qemu-system-x86_64") is None and shutil.which("apt-get") is None:
        return "qemu-system-x86_64 is not installed and apt-get is not available to install it"
    if not (cache_dir() / "kernel" / "lib" / "modules").is_dir() and shutil.which("apt-cache") is None:
        return "no guest kernel in the lab cache and no apt to download linux-image-amd64"
    return None


def qemu_command(run_dir: Path, mem_mib: int = 1024, smp: int = 2) -> list[str]:
    """The QEMU command line for one boot; the guest exchanges files through run_dir/io."""
    root = cache_dir()
    return [
        "qemu-system-x86_64", "-name", f"{QEMU_NAME},process={QEMU_NAME}",
        "-accel", "tcg,thread=multi,tb-size=256", "-cpu", "max",
        "-machine", "pc", "-m", str(mem_mib), "-smp", str(smp),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-serial", f"file:{run_dir / 'serial.log'}", "-monitor", "none",
        "-kernel", str(root / "vmlinux"), "-initrd", str(root / "initrd.cpio.gz"),
        # no_timer_check: under TCG on a busy host the guest's IO-APIC timer check can time out and
        # panic at boot ("IO-APIC + timer doesn't work!", seen here with the host's 2 cores loaded)
        "-append", f"console=ttyS0 quiet panic=-1 no_timer_check klab.kdir={root / 'kernel'}",
        "-fsdev", "local,id=hostroot,path=/,readonly=on,security_model=none,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
        "-fsdev", f"local,id=klabio,path={run_dir / 'io'},security_model=none",
        "-device", "virtio-9p-pci,fsdev=klabio,mount_tag=klabio",
    ]  # fmt: skip


def _collect(out_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out_dir)): p.read_bytes() for p in sorted(out_dir.rglob("*")) if p.is_file()}


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(missing)"


def run(
    command: str,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    modules: Sequence[str] = (),
) -> LabResult:
    """Boot the guest, run `command` with /bin/sh as root in `cwd` (default: the caller's), power off.

    `env` adds exports (the guest always has OVERLAYC_IN_KLAB=1 and OVERLAYC_KLAB_OUT=GUEST_OUT);
    `modules` are loaded first (e.g. ESP_MODULES; rc 125 if one is missing). The guest's /run is its
    own tmpfs; the rest of the host's /, /tmp included, is visible read-only (writes stay in the
    guest). On timeout QEMU is killed by its PID and rc is 125, as for any failure of the lab
    itself (the diagnosis is appended to `output`).
    """
    start = time.monotonic()
    if modules:
        command = f"modprobe -a {' '.join(modules)} || exit {LAB_FAILURE}\n{command}"
    with _locked(exclusive=False):
        if not is_set_up():
            return LabResult(LAB_FAILURE, "klab: not set up (call lab.klab.setup())", 0.0)
        runs = cache_dir() / "runs"
        runs.mkdir(exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix=f"run-{secrets.token_hex(2)}-", dir=runs))
        try:
            return _boot(run_dir, command, timeout, env or {}, cwd or os.getcwd(), start)
        finally:
            if os.environ.get("OVERLAYC_KLAB_KEEP") != "1":
                shutil.rmtree(run_dir, ignore_errors=True)


def _boot(
    run_dir: Path, command: str, timeout: float, env: Mapping[str, str], cwd: str, start: float
) -> LabResult:
    io = run_dir / "io"
    (io / "out").mkdir(parents=True)
    (io / "cmd").write_text(command + "\n")
    lines = [f"cd {shlex.quote(cwd)} 2>/dev/null || true"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    (io / "env").write_text("\n".join(lines) + "\n")
    with open(run_dir / "qemu.log", "wb") as log:
        proc = subprocess.Popen(qemu_command(run_dir), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)  # fmt: skip
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:  # on timeout, and on any exception in the wait (Ctrl-C: KeyboardInterrupt)
            if proc.poll() is None:
                proc.kill()  # our own child, by its PID
                proc.wait()
    wall = time.monotonic() - start
    output = (io / "output").read_text(errors="replace") if (io / "output").exists() else ""
    serial = (run_dir / "serial.log").read_text(errors="replace") if (run_dir / "serial.log").exists() else ""
    rc_text = (io / "rc").read_text().strip() if (io / "rc").exists() else ""
    if timed_out or "KLAB-RC=" not in serial or not rc_text.isdigit():
        why = f"timeout after {timeout:.0f} s" if timed_out else f"qemu exited {proc.returncode}"
        diag = (f"\nklab: guest did not report an exit status ({why}); serial log tail:\n"
                f"{_tail(run_dir / 'serial.log')}\nqemu log:\n{_tail(run_dir / 'qemu.log')}\n")  # fmt: skip
        return LabResult(LAB_FAILURE, output + diag, wall, _collect(io / "out"))
    return LabResult(int(rc_text), output, wall, _collect(io / "out"))


_ESP_PROBE: list[bool] = []


def host_has_esp() -> bool:
    """True when this kernel accepts an ESP SA with rfc4106(gcm(aes)) (probed once, in a scratch
    namespace `ocl-probe-<hex>` that is removed again). False when not root or no `ip`."""
    if not _ESP_PROBE:
        _ESP_PROBE.append(_probe_esp())
    return _ESP_PROBE[0]


def _probe_esp() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    ns = f"ocl-probe-{secrets.token_hex(3)}"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True, check=False).returncode != 0:
        return False
    try:
        res = subprocess.run(
            ["ip", "-n", ns, "xfrm", "state", "add", "src", "192.0.2.1", "dst", "192.0.2.2",
             "proto", "esp", "spi", "0x100", "reqid", "1", "mode", "transport",
             "aead", "rfc4106(gcm(aes))", "0x" + "11" * 20, "128"],
            capture_output=True, check=False,
        )  # fmt: skip
        return res.returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
