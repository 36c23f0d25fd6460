"""Read sysctls and kernel facts of a network namespace (read-only side effects).

`/proc/sys/net` shows the network namespace of the task that opens it, so sysctls are read by
the namespace handle's worker thread (`Namespace.run`), which has entered the namespace.
"""

from __future__ import annotations

import contextlib
import gzip
import os
from collections.abc import Sequence
from pathlib import Path

from overlayc.netlink.netns import Namespace


def fail_closed_sysctls(underlay: str | None, ipv6: bool = False) -> list[str]:
    """The sysctls that must read 0 for the XFRM policies to fail closed
    (shared/reference/xfrm-enforcement.md, "Caveats"); the device ones only when it is known.

    Over an IPv6 underlay (`ipv6`) the inbound check is skipped when
    `net.ipv6.conf.{all,<dev>}.disable_policy` is 1 (the IPv6 twin of the IPv4 knob; either one
    lets cleartext in on 6.18: tests/test_ipv6_xfrm_kernel.py). IPv6 has no `disable_xfrm`
    (`sysctl -a` lists none): no sysctl lets IPv6 output skip the XFRM lookup. The IPv4 ones
    are checked as well: the node's IPv4 traffic must not be made to fail open by a switch left on."""
    names = ["net.ipv4.conf.all.disable_policy"]
    if ipv6:
        names.append("net.ipv6.conf.all.disable_policy")
    if underlay is not None:
        names += [f"net.ipv4.conf.{underlay}.disable_policy", f"net.ipv4.conf.{underlay}.disable_xfrm"]
        if ipv6:
            names.append(f"net.ipv6.conf.{underlay}.disable_policy")
    return names


def read_sysctls(ns: Namespace, names: Sequence[str]) -> dict[str, str | None]:
    """`{"net.ipv4.conf.all.disable_policy": "0", ...}`; None for a sysctl that does not exist."""

    def read() -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for name in names:
            try:
                out[name] = Path("/proc/sys", *name.split(".")).read_text().strip()
            except OSError:
                out[name] = None
        return out

    return ns.run(read)


def kernel_config() -> str | None:
    """The running kernel's build configuration, when it exposes one."""
    for path in (Path("/proc/config.gz"), Path(f"/boot/config-{os.uname().release}")):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        return gzip.decompress(data).decode() if path.suffix == ".gz" else data.decode()
    return None


def loadable_modules() -> set[str] | None:
    """Names of the modules the running kernel could load, or None when it has no module tree."""
    tree = Path("/lib/modules") / os.uname().release
    if not tree.is_dir():
        return None
    # modules.dep (written by depmod) lists every module in one file; walking the tree instead
    # costs seconds on a slow filesystem (30 s per apply on 9p in the ESP lab, measured)
    try:
        paths = [line.split(":", 1)[0] for line in (tree / "modules.dep").read_text().splitlines()]
    except OSError:
        paths = [str(p) for p in tree.rglob("*.ko*")]
    names = {Path(p).name.split(".ko")[0].replace("-", "_") for p in paths if ".ko" in p}
    with contextlib.suppress(OSError):
        builtin = (tree / "modules.builtin").read_text().split()
        names |= {Path(line).name.split(".ko")[0].replace("-", "_") for line in builtin}
    return names
