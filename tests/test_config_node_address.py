"""A node's address parses as `ipaddress.ip_address` parses it, though dotted quads go through C
(`overlayc.config.values.ip_address`, which `overlayc.config.model._node_address` calls): the same
address, or the same error."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from overlayc.config import values
from overlayc.config.model import IP_ADDRESS_ERROR, Node, _node_address

OCTET = st.one_of(st.integers(0, 300).map(str), st.integers(0, 300).map(lambda n: f"0{n}"),
                  st.sampled_from(["", "0x1", "+1", "-1", " 1", "1 ", "\u0661", "1\x00", "00"]))
QUADS = st.lists(OCTET, min_size=2, max_size=5).map(".".join)
TEXTS = st.one_of(QUADS, st.text(alphabet="0123456789.:abcdefx%/ \t\n", max_size=24), st.text(max_size=12))


def _reference(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def _parsed(text: str) -> IPv4Address | IPv6Address | None:
    try:
        address = _node_address(text)
    except PydanticCustomError as err:
        assert err.type == IP_ADDRESS_ERROR
        return None
    assert isinstance(address, IPv4Address | IPv6Address)
    return address


@settings(max_examples=800, deadline=None)
@given(TEXTS)
def test_node_address_is_what_ipaddress_makes_of_the_text(text: str) -> None:
    got, want = _parsed(text), _reference(text)
    assert got == want and type(got) is type(want)
    try:
        fast: IPv4Address | IPv6Address | None = values.ip_address(text)
    except ValueError:
        fast = None
    try:
        slow: IPv4Address | IPv6Address | None = ip_address(text)
    except ValueError:
        slow = None
    assert fast == slow and type(fast) is type(slow)


@pytest.mark.parametrize(("text", "want"), [
    ("10.0.0.1", IPv4Address("10.0.0.1")), (" 192.0.2.255\n", IPv4Address("192.0.2.255")),
    ("0.0.0.0", IPv4Address(0)), ("2001:db8::1", IPv6Address("2001:db8::1")),
    ("::ffff:10.0.0.1", IPv6Address("::ffff:10.0.0.1")),
    ("010.0.0.1", None), ("10.0.0", None), ("10.0.0.256", None), ("1.2.3.4.5", None), ("", None),
])
def test_node_address_examples(text: str, want: IPv4Address | IPv6Address | None) -> None:
    assert _parsed(text) == want


def test_a_bad_node_address_is_reported_as_before() -> None:
    with pytest.raises(ValidationError) as err:
        Node.model_validate({"address": "10.0.0.01"})
    assert [e["type"] for e in err.value.errors()] == [IP_ADDRESS_ERROR]
