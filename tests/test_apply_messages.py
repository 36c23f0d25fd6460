"""Kernel refusals in words for every kind of object apply makes: a failed step of a sandbox or a
gateway is named like any other (it used to raise TypeError, a crash instead of a rollback)."""

from __future__ import annotations

import errno
from ipaddress import IPv4Interface

from overlayc.apply.messages import explain
from overlayc.kernel.objects import Gateway, Sandbox

SANDBOX = Sandbox("oc-sb.net1.ns4026531840")
GATEWAY = Gateway(name="ovg1", mac="0e:00:00:00:0c:01", peer="ovg1p", peer_mac="0e:00:00:00:0c:02",
                  sandbox=SANDBOX.name, bridge="ovb1", address=IPv4Interface("10.9.0.1/24"), mtu=1450,
                  alias="overlayc:oc:n1")


def test_a_sandbox_step_is_explained() -> None:
    assert explain(SANDBOX, "create", errno.EEXIST) == (
        f"sandbox {SANDBOX.name}: create: the kernel refused: an entry with that key already exists")
    assert explain(SANDBOX, "delete its links", errno.ENOENT, "gone") == (
        f"sandbox {SANDBOX.name}: delete its links: the kernel refused: it does not exist (removed behind "
        "overlayc's back?) (kernel says: gone)")


def test_a_gateway_step_is_explained() -> None:
    assert explain(GATEWAY, "create", errno.EEXIST) == (
        f"gateway ovg1 (into {SANDBOX.name}): create: the kernel refused: "
        "device exists and is not overlayc's")
