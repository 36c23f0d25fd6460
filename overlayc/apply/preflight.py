"""Checks before apply changes anything (and again after it changed something).

- privileges: changing links, FDB, neighbours and XFRM needs CAP_NET_ADMIN (exit 77);
- ESP + GCM: an encrypted network on a kernel that cannot do `rfc4106(gcm(aes))` ESP is
  refused before any change, naming what is missing (Docker only logs a warning,
  coreos/fedora-coreos-tracker#1111);
- fail-closed sysctls: the XFRM-only policy set holds only while
  `net.ipv4.conf.{all,<underlay>}.disable_policy` and `net.ipv4.conf.<underlay>.disable_xfrm`
  are 0 (shared/reference/xfrm-enforcement.md, "Caveats"), and over an IPv6 underlay
  `net.ipv6.conf.{all,<underlay>}.disable_policy` too (overlayc.observe.sysctl).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from overlayc.errors import EnvironmentProblem, NeedsPrivileges
from overlayc.kernel.objects import XfrmState
from overlayc.kernel.state import KernelState

CAP_NET_ADMIN = 12

# feature: (kernel config symbol, module name)
ESP_FEATURES: dict[str, tuple[str, str]] = {
    "ESP": ("CONFIG_INET_ESP", "esp4"),
    "GCM": ("CONFIG_CRYPTO_GCM", "gcm"),
    "GHASH": ("CONFIG_CRYPTO_GHASH", "ghash_generic"),
    "XFRM netlink": ("CONFIG_XFRM_USER", "xfrm_user"),
}
# ESP over an IPv6 underlay is a module of its own (net/ipv6/esp6.c)
ESP6_FEATURES: dict[str, tuple[str, str]] = {"ESP over IPv6": ("CONFIG_INET6_ESP", "esp6")}


def has_cap_net_admin(status_text: str) -> bool:
    """Whether the effective capability set in a /proc/<pid>/status text has CAP_NET_ADMIN."""
    m = re.search(r"^CapEff:\s*([0-9a-fA-F]+)$", status_text, re.M)
    return m is not None and bool(int(m.group(1), 16) & (1 << CAP_NET_ADMIN))


def check_privileges(operation: str) -> None:
    """Raise NeedsPrivileges (exit 77) unless this process can administer the network."""
    try:
        with open("/proc/self/status") as f:
            ok = has_cap_net_admin(f.read())
    except OSError:
        ok = os.geteuid() == 0
    if not ok:
        raise NeedsPrivileges(f"{operation} needs root (CAP_NET_ADMIN): run it with sudo")


def missing_esp_features(config_text: str | None, modules: set[str] | None,
                         ipv6: bool = False) -> list[str]:
    """Which of ESP_FEATURES (and ESP6_FEATURES with `ipv6`) the kernel cannot provide, from its
    build config and module tree.

    A feature is missing when the config says `# CONFIG_X is not set`, or when it is `=m` and
    the module is not in the module tree. Without a config nothing can be concluded (empty list).
    """
    if config_text is None:
        return []
    missing = []
    features = {**ESP_FEATURES, **(ESP6_FEATURES if ipv6 else {})}
    for feature, (symbol, module) in features.items():
        if f"# {symbol} is not set" in config_text or not re.search(rf"^{symbol}=", config_text, re.M):
            missing.append(f"{feature} ({symbol}, module {module})")
        elif f"{symbol}=m" in config_text and modules is not None and module not in modules:
            missing.append(f"{feature} (module {module} is not installed)")
    return missing


def check_esp(desired: KernelState, config_text: str | None, modules: set[str] | None) -> None:
    """Refuse (EnvironmentProblem) when `desired` holds SAs and the kernel's build config and
    module tree show it cannot install them. When they are silent, the SA install itself decides
    (a refused SA fails the apply, which is then rolled back)."""
    states = desired.of_kind("xfrm-state")
    if not states:
        return
    ipv6 = any(isinstance(sa, XfrmState) and sa.dst.version == 6 for sa in states)
    missing = missing_esp_features(config_text, modules, ipv6)
    if missing:
        raise EnvironmentProblem(
            "this kernel cannot do IPsec ESP with AES-GCM, needed by the encrypted networks; "
            "missing: " + "; ".join(missing) + ". Nothing was changed."
        )


def sysctl_problems(values: Mapping[str, str | None]) -> list[str]:
    """Sysctls that would make the XFRM policies fail open (each must read 0)."""
    return [f"{name} = {value} (must be 0)" for name, value in sorted(values.items())
            if value not in (None, "0")]


def check_sysctls(values: Mapping[str, str | None]) -> None:
    problems = sysctl_problems(values)
    if problems:
        raise EnvironmentProblem(
            "encryption would fail open: " + "; ".join(problems)
            + ". Set them to 0 (sysctl -w NAME=0) and run again."
        )
