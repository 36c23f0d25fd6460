"""Build steps of the ESP kernel lab: host packages, the guest kernel, vmlinux and the initramfs.

Used by `lab.klab.setup()`; every step is idempotent and leaves a finished artefact or nothing.
The guest kernel is Debian's stock `linux-image-<abi>-amd64` (not the cloud flavour, which has no
9p), downloaded with `apt-get download` and unpacked, never installed: installing it would pull
initramfs-tools and udev and upgrade systemd on the host.
"""

from __future__ import annotations

import gzip
import lzma
import os
import shutil
import stat
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

HOST_PACKAGES = ("qemu-system-x86", "busybox-static", "tcpdump")
# initramfs modules needed to mount the host root over 9p with an overlay (deps are added)
BOOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
GUEST_DIR = Path(__file__).resolve().parent / "guest"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


class LabSetupError(RuntimeError):
    """The lab could not be set up; the message says which step failed and why."""


def sh(cmd: Sequence[str], cwd: Path | None = None) -> str:
    """Run `cmd`, return its stdout; raise LabSetupError with its stderr when it fails."""
    res = subprocess.run(
        list(cmd), cwd=cwd, capture_output=True, text=True, check=False, env={**os.environ, **APT_ENV}
    )
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-5:]
        raise LabSetupError(f"`{' '.join(cmd)}` failed ({res.returncode}): {' | '.join(tail)}")
    return res.stdout


def missing_packages() -> list[str]:
    """Host packages of HOST_PACKAGES that dpkg does not list as installed."""
    missing = []
    for pkg in HOST_PACKAGES:
        res = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True, check=False
        )
        if "install ok installed" not in res.stdout:
            missing.append(pkg)
    return missing


def install_packages(pkgs: Sequence[str]) -> None:
    """apt-get install the missing packages, never upgrading; `apt-get update` only on failure."""
    if not pkgs:
        return
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "--no-upgrade", *pkgs]
    try:
        sh(cmd)
    except LabSetupError:
        sh(["apt-get", "update", "-q"])
        sh(cmd)


def resolve_kernel_package() -> str | None:
    """The versioned kernel package `linux-image-amd64` depends on, e.g. linux-image-6.1.0-56-amd64."""
    res = subprocess.run(
        ["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True, check=False
    )
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "Depends:" and parts[1].startswith("linux-image-"):
            return parts[1]
    return None


def fetch_kernel(kdir: Path, work: Path) -> str:
    """Download and unpack the kernel package into `kdir`; return its version (uname -r)."""
    work.mkdir(parents=True, exist_ok=True)
    pkg = resolve_kernel_package()
    try:
        if pkg is None:
            raise LabSetupError("apt-cache cannot resolve linux-image-amd64")
        sh(["apt-get", "download", "-q", pkg], cwd=work)
    except LabSetupError:
        sh(["apt-get", "update", "-q"])  # stale lists: the versioned package was superseded
        pkg = resolve_kernel_package()
        if pkg is None:
            raise LabSetupError("apt-cache cannot resolve linux-image-amd64 after apt-get update") from None
        sh(["apt-get", "download", "-q", pkg], cwd=work)
    debs = sorted(work.glob(f"{pkg}_*.deb"))
    if not debs:
        raise LabSetupError(f"apt-get download {pkg} left no .deb in {work}")
    tmp = kdir.with_name(kdir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    sh(["dpkg-deb", "-x", str(debs[-1]), str(tmp)])
    for deb in debs:
        deb.unlink()
    versions = sorted(p.name for p in (tmp / "lib" / "modules").iterdir())
    if len(versions) != 1:
        raise LabSetupError(f"expected one module tree in {pkg}, found {versions}")
    sh(["busybox", "depmod", "-b", str(tmp), versions[0]])  # the host may have no kmod
    shutil.rmtree(kdir, ignore_errors=True)
    tmp.rename(kdir)
    return versions[0]


def extract_vmlinux(bzimage: Path, out: Path) -> None:
    """Unpack the ELF vmlinux from a bzImage (xz payload): qemu boots it via PVH, ~3.5 s faster."""
    data = bzimage.read_bytes()
    start = data.find(b"\xfd7zXZ\x00")
    if start < 0:
        raise LabSetupError(f"no xz stream in {bzimage}")
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
    if elf[:4] != b"\x7fELF":
        raise LabSetupError(f"the xz payload of {bzimage} is not an ELF kernel")
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(elf)
    tmp.rename(out)


def module_closure(moddir: Path, wanted: Iterable[str]) -> list[str]:
    """Paths (relative to moddir) of the wanted modules and everything they depend on."""
    deps: dict[str, list[str]] = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        key, _, rest = line.partition(":")
        deps[key.strip()] = rest.split()
    by_name = {Path(k).name.split(".ko")[0].replace("-", "_"): k for k in deps}
    todo = [by_name[w.replace("-", "_")] for w in wanted]
    seen: set[str] = set()
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(deps[mod])
    return sorted(seen)


def _cpio_entry(name: str, mode: int, data: bytes, ino: int) -> bytes:
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
    head = b"070701" + b"".join(f"{f:08x}".encode() for f in fields) + name.encode() + b"\0"
    head += b"\0" * (-len(head) % 4)
    return head + data + b"\0" * (-len(data) % 4)


def write_cpio(root: Path, out: Path) -> None:
    """Write `root` as a gzip'd newc cpio archive (the initramfs format); no cpio binary needed."""
    chunks = []
    paths = sorted(root.rglob("*"))
    for ino, path in enumerate(paths, start=1):
        st = path.lstat()
        rel = str(path.relative_to(root))
        if stat.S_ISLNK(st.st_mode):
            data = os.readlink(path).encode()
        elif stat.S_ISREG(st.st_mode):
            data = path.read_bytes()
        else:
            data = b""
        chunks.append(_cpio_entry(rel, st.st_mode, data, ino))
    chunks.append(_cpio_entry("TRAILER!!!", 0, b"", 0))
    tmp = out.with_suffix(".tmp")
    with gzip.open(tmp, "wb", compresslevel=1) as f:
        f.write(b"".join(chunks))
    tmp.rename(out)


def build_initramfs(kdir: Path, kver: str, out: Path, work: Path) -> None:
    """Build the initramfs: static busybox, lab/guest/{init,stage2}, the 9p/overlay boot modules."""
    busybox = shutil.which("busybox")
    if busybox is None:
        raise LabSetupError("busybox (busybox-static) is not installed")
    shutil.rmtree(work, ignore_errors=True)
    for d in ("bin", "proc", "sys", "dev", "mnt", "newroot", "klab-bin"):
        (work / d).mkdir(parents=True)
    shutil.copy2(busybox, work / "bin" / "busybox")
    shutil.copy2(busybox, work / "klab-bin" / "busybox")
    for applet in sh([busybox, "--list"]).split():
        if not (work / "klab-bin" / applet).exists():
            (work / "klab-bin" / applet).symlink_to("busybox")
    shutil.copy2(GUEST_DIR / "init", work / "init")
    shutil.copy2(GUEST_DIR / "stage2", work / "klab-bin" / "stage2")
    (work / "init").chmod(0o755)
    (work / "klab-bin" / "stage2").chmod(0o755)
    src = kdir / "lib" / "modules" / kver
    dst = work / "lib" / "modules" / kver
    for rel in module_closure(src, BOOT_MODULES):
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dst / rel)
    sh([busybox, "depmod", "-b", str(work), kver])
    write_cpio(work, out)
    shutil.rmtree(work, ignore_errors=True)


def guest_files_digest() -> str:
    """A digest of lab/guest/*: the initramfs is rebuilt when the guest scripts change."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted(GUEST_DIR.iterdir()):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]
