"""Reading sysctls of another network namespace without leaving our own."""

from __future__ import annotations

import pytest

from overlayc.errors import EnvironmentProblem
from overlayc.netlink.netns import Namespace
from overlayc.observe.sysctl import read_sysctls
from tests.support.host import run_in


@pytest.mark.kernel
def test_sysctls_are_read_from_the_target_namespace(netns: str) -> None:
    run_in(netns, "sysctl", "-qw", "net.ipv4.conf.all.disable_policy=1")
    with Namespace(netns) as ns:
        inside = read_sysctls(ns, ["net.ipv4.conf.all.disable_policy",
                                   "net.ipv4.conf.nosuchdev.disable_xfrm"])
    assert inside == {"net.ipv4.conf.all.disable_policy": "1", "net.ipv4.conf.nosuchdev.disable_xfrm": None}
    # our own namespace is untouched and still reads its own value
    with open("/proc/sys/net/ipv4/conf/all/disable_policy") as f, Namespace(None) as here:
        assert read_sysctls(here, ["net.ipv4.conf.all.disable_policy"]) == {
            "net.ipv4.conf.all.disable_policy": f.read().strip()
        }


@pytest.mark.kernel
def test_errors_inside_the_namespace_reach_the_caller(netns: str) -> None:
    def boom() -> None:
        raise ValueError("inside")

    with Namespace(netns) as ns, pytest.raises(ValueError, match="inside"):
        ns.run(boom)


def test_a_missing_namespace_is_a_clear_error() -> None:
    with pytest.raises(EnvironmentProblem, match="network namespace 'oct-does-not-exist'"):
        Namespace("oct-does-not-exist")
