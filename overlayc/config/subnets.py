"""Overlay subnets of either family, and the forms a network may declare them in (docs/ipv6.md).

A network has at most one IPv4 and at most one IPv6 subnet, written in one of three forms:

    subnet: 10.0.9.0/24                        one subnet, of either family
    subnets: [10.0.9.0/24, fd00:9::/64]        one or two (dual-stack)
    ipam: {config: [{subnet: ...}, ...]}       Docker compose's form (with `enable_ipv6`)

This module parses single values only (it imports nothing of `overlayc.config.model`, which
imports it); which forms and families a network may combine is checked by
`overlayc.config.validate_subnets`.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

from overlayc.config.values import new_list

SUBNET_ERROR = "overlay_subnet"  # error type of a subnet that is neither IPv4 nor IPv6 (explain.py)
IPV6_ADDRESS_ERROR = "ipv6_address"  # error type of an endpoint IPv6 address that is not one
SUBNET_MISSING = "subnet_missing"  # error type of a network without any subnet (explain.py)

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
SUBNET4_PATTERN = rf"^({_OCTET}\.){{3}}{_OCTET}/(3[0-2]|[12]?[0-9])$"
SUBNET6_PATTERN = r"^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*/(12[0-8]|1[01][0-9]|[1-9]?[0-9])$"


def _got(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return {dict: "a mapping", list: "a list", type(None): "nothing (null)"}.get(type(value), "a number")


def parse_subnet(value: Any) -> Any:
    """Text naming a subnet of either family with its prefix length, host bits zero.

    `10.88.0.0` alone would be a /32 (and `fd00::` a /128), which holds no endpoint: refused with
    a suggestion. Anything else that is not a subnet raises SUBNET_ERROR (worded by explain.py)."""
    if isinstance(value, IPv4Network | IPv6Network):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a subnet such as 10.0.1.0/24 or fd00:1::/64, got {_got(value)}")
    text = value.strip()
    if "/" not in text:
        guess = f"{text}/64" if ":" in text else f"{text}/24"
        raise ValueError(f"subnet {text!r} has no prefix length; did you mean '{guess}'?")
    try:
        return ip_network(text)
    except ValueError:
        raise PydanticCustomError(SUBNET_ERROR, "not a subnet") from None


def parse_ipv6_address(value: Any) -> Any:
    """Text naming one IPv6 address (an endpoint's `ipv6_address`)."""
    if isinstance(value, IPv6Address):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv6 address such as fd00:1::5, got {_got(value)}")
    try:
        return IPv6Address(value.strip())
    except ValueError:
        raise PydanticCustomError(IPV6_ADDRESS_ERROR, "not an IPv6 address") from None


def require_subnet(ipam: Any, info: ValidationInfo) -> Any:
    """The validator of a network's `ipam` (its last subnet field, validated even when absent):
    the network names its subnets in at least one form. Reported with the other parse errors
    (a missing required key was, before there were several forms); not when `subnet` or
    `subnets` failed to parse (they are then absent from `info.data`)."""
    subnet, subnets = info.data.get("subnet", False), info.data.get("subnets", False)
    if ipam is None and subnet is None and subnets == []:
        raise PydanticCustomError(SUBNET_MISSING, "no subnet")
    return ipam


Subnet = Annotated[
    IPv4Network | IPv6Network, BeforeValidator(parse_subnet),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": SUBNET4_PATTERN},
                              {"type": "string", "pattern": SUBNET6_PATTERN}],
                    "description": "IPv4 or IPv6 subnet with its prefix length, host bits zero"}),
]
Address6 = Annotated[IPv6Address, BeforeValidator(parse_ipv6_address),
                     WithJsonSchema({"type": "string", "format": "ipv6"})]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class IpamPool(_Model):
    """One entry of compose's `ipam.config`; only `subnet` maps onto overlayc."""

    subnet: Subnet = Field(description="the pool's subnet (IPv4 or IPv6)")


class Ipam(_Model):
    """Compose's `ipam:`: the default driver and a list of pools, one per family at most."""

    driver: Literal["default"] = Field(default="default", description="only `default` (Docker compat)")
    config: list[IpamPool] = Field(default_factory=new_list, description="pools: `- subnet: ...` each")


class SubnetForms:
    """The effective subnets of a network, whichever form gives them (mixed into
    `overlayc.config.model.Network`, whose fields these are)."""

    if TYPE_CHECKING:
        subnet: IPv4Network | IPv6Network | None
        subnets: list[IPv4Network | IPv6Network]
        ipam: Ipam | None

    @property
    def all_subnets(self) -> list[IPv4Network | IPv6Network]:
        """Every subnet given, of any form (validate allows one form, one subnet per family)."""
        pools = [p.subnet for p in self.ipam.config] if self.ipam is not None else []
        return [*([self.subnet] if self.subnet is not None else []), *self.subnets, *pools]

    @property
    def ipv4_subnet(self) -> IPv4Network | None:
        found = of_family(self.all_subnets, 4)
        return found if isinstance(found, IPv4Network) else None

    @property
    def ipv6_subnet(self) -> IPv6Network | None:
        found = of_family(self.all_subnets, 6)
        return found if isinstance(found, IPv6Network) else None


def of_family(subnets: list[IPv4Network | IPv6Network], version: int) -> IPv4Network | IPv6Network | None:
    """The first of `subnets` of IP `version` (validate allows one per family), or None."""
    return next((s for s in subnets if s.version == version), None)


def in_subnet(address: IPv4Address | IPv6Address, subnet: IPv4Network | IPv6Network | None) -> bool:
    """Whether `address` lies in `subnet` (False when there is none or the families differ)."""
    return subnet is not None and address.version == subnet.version and address in subnet
