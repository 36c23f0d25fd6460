"""Resolving against an up-to-date lock keeps every pinned address in one pass per network
(`assign._all_locked4`); whatever that pass declines (a pin outside the subnet, on the gateway,
twice, missing, next to a configured address) is decided by the general addressing, and both
give the same Assignment, lock and diagnostics."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest

from overlayc.compile import assign as assign_mod
from overlayc.compile.assign import resolve
from overlayc.compile.lock import Lock, Pin, lock_changes
from overlayc.config.model import Config
from tests.support.gen import config_dict

Mutation = Callable[[dict[str, dict[str, Pin]], Config], None]


def _general_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assign_mod, "_all_locked4", lambda *args: None)


def _first_pin(pins: dict[str, dict[str, Pin]]) -> tuple[str, str, Pin]:
    ep = sorted(pins)[0]
    net = sorted(pins[ep])[0]
    return ep, net, pins[ep][net]


def _out_of_subnet(pins: dict[str, dict[str, Pin]], config: Config) -> None:
    ep, net, pin = _first_pin(pins)
    pins[ep][net] = pin._replace(ip=IPv4Address("192.0.2.7"))


def _on_network_address(pins: dict[str, dict[str, Pin]], config: Config) -> None:
    ep, net, pin = _first_pin(pins)
    subnet = config.networks[net].ipv4_subnet
    assert subnet is not None
    pins[ep][net] = pin._replace(ip=subnet.network_address)


def _twice(pins: dict[str, dict[str, Pin]], config: Config) -> None:
    ep, net, pin = _first_pin(pins)
    other = next(e for e in sorted(pins) if e != ep and net in pins[e])
    pins[other][net] = pins[other][net]._replace(ip=pin.ip)


def _missing(pins: dict[str, dict[str, Pin]], config: Config) -> None:
    ep, net, _ = _first_pin(pins)
    del pins[ep][net]


def _on_gateway(pins: dict[str, dict[str, Pin]], config: Config) -> None:
    net = next(n for n, spec in sorted(config.networks.items()) if spec.gateway is not None)
    ep = next(e for e in sorted(pins) if net in pins[e])
    gateway = config.networks[net].gateway
    assert isinstance(gateway, IPv4Address)
    pins[ep][net] = pins[ep][net]._replace(ip=gateway)


def _stale_mac(pins: dict[str, dict[str, Pin]], config: Config) -> None:
    ep, net, pin = _first_pin(pins)
    pins[ep][net] = pin._replace(mac="02:00:00:00:00:01")  # the MAC follows the address again


def _stale_ip6(pins: dict[str, dict[str, Pin]], config: Config) -> None:
    ep, net, pin = _first_pin(pins)
    pins[ep][net] = pin._replace(ip6=IPv6Address("fd00:9::2"))  # the network has no IPv6 subnet (now)


@pytest.mark.parametrize("mutate", [_out_of_subnet, _on_network_address, _twice, _missing, _on_gateway,
                                    _stale_mac, _stale_ip6, None])
def test_resolving_against_a_lock_agrees_with_the_general_addressing(
        mutate: Mutation | None, monkeypatch: pytest.MonkeyPatch) -> None:
    data: dict[str, Any] = config_dict(12, 4, 3)
    for spec in data["networks"].values():  # every network with a gateway: .1 of its subnet
        spec["gateway"] = spec["subnet"].split("/")[0][:-1] + "1"
    config = Config.model_validate(data)
    _, first, diags = resolve(config, Lock())
    assert diags == []
    pins = {ep: dict(p) for ep, p in first.endpoints.items()}
    if mutate is not None:
        mutate(pins, config)
    lock = Lock(vnis=dict(first.vnis), tasks=dict(first.tasks), endpoints=pins)
    fast, fast_lock, fast_diags = resolve(config, lock)
    fast_changes = lock_changes(lock, fast_lock)  # before the pins are built (they then compare as dicts)
    _general_only(monkeypatch)
    general, general_lock, general_diags = resolve(config, lock)
    assert fast == general and fast_diags == general_diags
    assert fast_changes == lock_changes(lock, general_lock)
    assert (fast_changes == []) == (mutate is None)
    assert dict(fast_lock.endpoints) == dict(general_lock.endpoints)


def test_a_configured_address_or_mac_takes_the_general_path_with_the_same_result(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data: dict[str, Any] = config_dict(6, 3, 5)
    svc = next(iter(data["services"].values()))
    net = svc["networks"][0]
    subnet = data["networks"][net]["subnet"]
    base = subnet.rsplit(".", 1)[0]
    svc["networks"] = {net: {"ipv4_addresses": [f"{base}.200"]}}
    data["networks"][net]["attachable"] = True
    data["endpoints"] = {"probe": {"node": "node1", "networks": {net: {"mac_address": "02:00:00:00:00:02"}}}}
    config = Config.model_validate(data)
    _, first, _ = resolve(config, Lock())
    fast = resolve(config, first)
    _general_only(monkeypatch)
    assert fast[0] == resolve(config, first)[0]
    assert any(a.ip == IPv4Address(f"{base}.200") for a in fast[0].attachments[net])
    assert any(a.mac == "02:00:00:00:00:02" for a in fast[0].attachments[net])


def test_the_new_lock_compares_with_any_copy_of_the_pins_read() -> None:
    config = Config.model_validate(config_dict(8, 3, 11))
    _, first, _ = resolve(config, Lock())
    lock = Lock(vnis=dict(first.vnis), tasks=dict(first.tasks),
                endpoints={ep: dict(p) for ep, p in first.endpoints.items()})
    new = resolve(config, lock)[1]
    assert lock_changes(lock, new) == []
    copy = {ep: dict(p) for ep, p in lock.endpoints.items()}
    assert lock_changes(Lock(vnis=lock.vnis, tasks=lock.tasks, endpoints=copy), new) == []
    ep, net, pin = _first_pin(copy)
    copy[ep][net] = pin._replace(mac="02:00:00:00:00:03")  # another lock than the one resolved against
    assert lock_changes(Lock(vnis=lock.vnis, tasks=lock.tasks, endpoints=copy), new) == [
        f"~ endpoint {ep} on {net}: {pin.ip} 02:00:00:00:00:03 → {pin.ip} {pin.mac}"]
