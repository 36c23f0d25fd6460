"""Pins are values (a named tuple); a lock file in another layout still writes each pin as a
mapping of exactly `ip`, `mac` and `ip6`, and the three readers give equal Pins."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from overlayc.compile import Pin
from overlayc.errors import InputError
from overlayc.files import lock as lock_file
from overlayc.files.lock import dumps_lock, parse_lock

GENERIC = """\
version: 1
tasks: {web.1: node1}
endpoints:
  web.1:
    a: {ip: 10.0.0.2, mac: "02:42:0a:00:00:02"}
    d: {ip: 10.0.9.2, ip6: "fd00:9::1", mac: "02:42:0a:00:09:02"}
"""


def test_a_pin_is_a_value() -> None:
    pin = Pin(IPv4Address("10.0.0.2"), "02:42:0a:00:00:02")
    assert pin == Pin(ip=IPv4Address("10.0.0.2"), mac="02:42:0a:00:00:02", ip6=None)
    assert len({pin, Pin(IPv4Address("10.0.0.2"), "02:42:0a:00:00:02")}) == 1
    with pytest.raises(AttributeError):
        pin.ip = None  # type: ignore[misc]


def test_the_generic_reader_gives_pins_equal_to_the_line_and_bulk_readers() -> None:
    lock = lock_file._parse_generic(GENERIC, "<test>")
    pins = lock.endpoints["web.1"]
    assert all(type(p) is Pin for p in pins.values())
    assert pins["d"] == Pin(IPv4Address("10.0.9.2"), "02:42:0a:00:09:02", IPv6Address("fd00:9::1"))
    canonical = dumps_lock(lock)
    assert lock_file._parse_lines(canonical) == lock == parse_lock(canonical.encode(), "<test>")
    bulk = lock_file._parse_bulk(canonical)
    assert bulk == lock and all(type(p) is Pin for p in bulk.endpoints["web.1"].values())


@pytest.mark.parametrize("pin", ['[10.0.0.2, "02:42:0a:00:00:02"]',
                                 '{ip: 10.0.0.2, mac: "02:42:0a:00:00:02", x: 1}', "{ip: 10.0.0.2}"])
def test_a_pin_that_is_not_a_mapping_of_its_fields_is_not_a_lock_file(pin: str) -> None:
    text = GENERIC.replace('{ip: 10.0.0.2, mac: "02:42:0a:00:00:02"}', pin)
    with pytest.raises(InputError, match=r"not an overlayc lock file: endpoints\.web\.1\.a"):
        parse_lock(text.encode(), "overlayc.lock")
