"""Preflight checks: privileges, ESP/GCM support, fail-closed sysctls (pure parts)."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from overlayc.apply import preflight
from overlayc.errors import EnvironmentProblem
from overlayc.kernel.objects import XfrmState
from overlayc.kernel.state import KernelState
from overlayc.observe.sysctl import fail_closed_sysctls

CONFIG_NO_ESP = """CONFIG_XFRM_USER=y
# CONFIG_INET_ESP is not set
# CONFIG_CRYPTO_GCM is not set
CONFIG_CRYPTO_GHASH=y
"""
CONFIG_MODULAR = """CONFIG_XFRM_USER=m
CONFIG_INET_ESP=m
CONFIG_CRYPTO_GCM=m
CONFIG_CRYPTO_GHASH=m
"""

SA = XfrmState(IPv4Address("192.0.2.2"), IPv4Address("192.0.2.1"), 0x1234, None)


def test_cap_net_admin_is_read_from_the_effective_set() -> None:
    assert preflight.has_cap_net_admin("Name:\tx\nCapEff:\t000001ffffffffff\n")
    assert not preflight.has_cap_net_admin("CapEff:\t0000000000000000\n")
    assert preflight.has_cap_net_admin("CapEff:\t0000000000001000\n")  # bit 12 only


def test_missing_features_are_named_from_the_kernel_config() -> None:
    missing = preflight.missing_esp_features(CONFIG_NO_ESP, None)
    assert missing == ["ESP (CONFIG_INET_ESP, module esp4)", "GCM (CONFIG_CRYPTO_GCM, module gcm)"]


def test_modular_features_need_their_module_file() -> None:
    have = {"esp4", "gcm", "ghash_generic", "xfrm_user"}
    assert preflight.missing_esp_features(CONFIG_MODULAR, have) == []
    assert preflight.missing_esp_features(CONFIG_MODULAR, have - {"gcm"}) == [
        "GCM (module gcm is not installed)"
    ]


def test_no_sas_means_no_esp_check() -> None:
    preflight.check_esp(KernelState(), CONFIG_NO_ESP, None)


def test_sas_on_a_kernel_without_esp_are_refused_before_any_change() -> None:
    with pytest.raises(EnvironmentProblem, match=r"missing: ESP \(CONFIG_INET_ESP.*Nothing was changed"):
        preflight.check_esp(KernelState([SA]), CONFIG_NO_ESP, None)


def test_a_silent_config_leaves_the_decision_to_the_sa_install() -> None:
    preflight.check_esp(KernelState([SA]), None, None)  # no config, no module tree: nothing to conclude


def test_sysctls_that_make_policies_fail_open_are_named() -> None:
    names = fail_closed_sysctls("eth0")
    assert names == [
        "net.ipv4.conf.all.disable_policy",
        "net.ipv4.conf.eth0.disable_policy",
        "net.ipv4.conf.eth0.disable_xfrm",
    ]
    preflight.check_sysctls(dict.fromkeys(names, "0"))
    values = dict.fromkeys(names, "0") | {"net.ipv4.conf.eth0.disable_xfrm": "1"}
    with pytest.raises(EnvironmentProblem, match=r"net.ipv4.conf.eth0.disable_xfrm = 1 \(must be 0\)"):
        preflight.check_sysctls(values)
