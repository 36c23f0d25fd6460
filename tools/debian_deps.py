"""Install the Debian packages the test suite needs, when running as root on Debian.

Never upgrades what is installed; only installs what is missing. Prints what it does.
Non-root or non-Debian machines: prints what is missing and carries on (the tests that need a
missing tool skip, naming it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# tool on PATH -> Debian package that provides it
NEEDED = {
    "ip": "iproute2",
    "bridge": "iproute2",
    "ping": "iputils-ping",  # reachability checks across the overlay (tests, demo)
    "tcpdump": "tcpdump",  # the sniff test: captures on the lab underlay
    "strace": "strace",  # captures the netlink requests iproute2 sends (codec tests)
    "iptables": "iptables",  # the firewall of the sandbox tests (FORWARD DROP in node namespaces)
    "nft": "nftables",  # the same with an nftables forward chain
    "dot": "graphviz",  # `render --format svg` (its test; make demo draws the cluster)
}


def missing_packages() -> list[str]:
    return sorted({pkg for tool, pkg in NEEDED.items() if shutil.which(tool) is None})


def main() -> int:
    missing = missing_packages()
    if not missing:
        return 0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"debian_deps: missing {', '.join(missing)} (not root or not Debian: not installing)")
        return 0
    print(f"debian_deps: installing {', '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(cmd, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
        subprocess.run(cmd, env=env, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
