"""Paths of the checkout and the host's namespace basics: whether `ip netns` works here, and
running a command inside a namespace."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples"
DATA = ROOT / "tests" / "data"
NETNS_PREFIX = "oct-"

_NETNS_REASON: list[str | None] = []


def _ip_netns_works() -> str | None:
    """None when `ip netns` can be used, else the reason it cannot."""
    if os.geteuid() != 0:
        return "needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) to create network namespaces"
    if shutil.which("ip") is None:
        return "iproute2 `ip` is not installed"
    probe = f"{NETNS_PREFIX}probe-{secrets.token_hex(3)}"
    res = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return f"cannot create a network namespace: {res.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False)
    return None


def netns_unavailable() -> str | None:
    """None when network namespaces can be made here, else why not (probed once per process)."""
    if not _NETNS_REASON:
        _NETNS_REASON.append(_ip_netns_works())
    return _NETNS_REASON[0]


def run_in(ns: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command inside namespace `ns` (e.g. `run_in(ns, "ip", "-j", "link")`)."""
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, check=check)


def ip_json(ns: str, *args: str) -> Any:
    """`ip -j ARGS` (or `bridge -j` when args start with "bridge") inside `ns`, parsed."""
    cmd = ["bridge", "-j", *args[1:]] if args[0] == "bridge" else ["ip", "-j", *args]
    out = run_in(ns, *cmd).stdout
    return json.loads(out) if out.strip() else []


def sandboxes_of(ns: str) -> list[str]:
    """The sandboxes overlayc made for the node namespace `ns` (their names end in its identity)."""
    from overlayc.kernel.ownership import parse_sandbox_name
    from overlayc.netlink.netns import namespace_id

    owner = namespace_id(ns)
    names = [n["name"] for n in json.loads(subprocess.run(["ip", "-j", "netns", "list"], capture_output=True,
                                                          text=True, check=True).stdout or "[]")]
    return sorted(n for n in names if (p := parse_sandbox_name(n)) is not None and p[2] == owner)


def holding(ns: str, link: str) -> str:
    """The namespace that holds `link` of node `ns`: the sandbox it is in (or `ns` itself)."""
    for sandbox in sandboxes_of(ns):
        if run_in(sandbox, "ip", "link", "show", "dev", link, check=False).returncode == 0:
            return sandbox
    return ns
