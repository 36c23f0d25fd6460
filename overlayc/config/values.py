"""Field helpers that keep the configuration models cheap to build and to validate (pure).

- Default factories that are Python functions, not `list` and `dict`: pydantic inspects the
  signature of every default_factory when it builds a model class (`takes_validated_data_argument`),
  and for a builtin type `inspect` parses its text signature with `tokenize` (valgrind: ~16 M
  instructions of importing the configuration models, for 12 fields).
- `ip_address`, with dotted quads parsed in C: a cluster's node addresses are thousands of them.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv6Address
from socket import AF_INET, inet_pton
from typing import Any


def new_list() -> list[Any]:
    """A new empty list: a field's default."""
    return []


def new_dict() -> dict[Any, Any]:
    """A new empty mapping: a field's default."""
    return {}


def ip_address(text: str) -> IPv4Address | IPv6Address:
    """`ipaddress.ip_address(text)`: the same address, or the same ValueError.

    `inet_pton(AF_INET, ...)` takes exactly the dotted quads `IPv4Address` takes (four decimal
    octets 0-255, no leading zeros; tests/test_config_node_address.py compares them) and is C:
    ipaddress's pure-Python parser was ~3/4 of validating the 1,000-node cluster's model
    (cProfile). Any text it refuses goes to `ipaddress.ip_address`, which decides and words it."""
    try:
        return IPv4Address(inet_pton(AF_INET, text))
    except (OSError, ValueError):
        return ipaddress.ip_address(text)
