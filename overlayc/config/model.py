"""The configuration language as pydantic v2 models: frozen, `extra="forbid"`.

Shape (YAML):

    version: 1
    cluster: {name, id, data_port, encrypted_data_port, underlay_mtu, encryption: {rotation, algorithm}}
    nodes:     {<name>: {address, public_key, labels, role}}
    networks:  {<name>: {subnet | subnets | ipam, enable_ipv6, vni, encrypted, attachable, mtu,
                         gateway, all_nodes, driver, driver_opts}}
    services:  {<name>: {replicas | mode: global, networks, constraints, managed}}
    endpoints: {<name>: {node, networks, managed}}

Docker-compose style `driver: overlay`, `driver_opts` and `attachable` are accepted where they map
onto the model (`DriverOpts`; `Network.is_encrypted` / `fixed_vni` / `underlay_mtu` fold them in).
A `networks:` list of names is normalised to a mapping `{name: None}`. Models only parse and
normalise single fields; cross-field and cross-object semantics live in `overlayc.config.validate`.
"""

from __future__ import annotations

import base64
import re
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from overlayc.config.subnets import Address6, Ipam, Subnet, SubnetForms, require_subnet
from overlayc.config.values import ip_address, new_dict, new_list
from overlayc.kernel.objects import canonical_mac

IP_ADDRESS_ERROR = "ip_address"  # error type of a node address that is neither IPv4 nor IPv6

CONFIG_VERSION = 1
VNI_MAX = 16_777_215  # 24 bits
DOCKER_OPT_ENCRYPTED = "encrypted"
DOCKER_OPT_MTU = "com.docker.network.driver.mtu"
DOCKER_OPT_VNI = "com.docker.network.driver.overlay.vxlanid_list"

NAME_RE = r"^[a-z0-9]([a-z0-9_-]{0,30}[a-z0-9])?$"
Name = Annotated[
    str,
    Field(
        pattern=NAME_RE,
        description="1-32 characters: lower-case letters, digits, '-' and '_' (not at the ends)",
    ),
]

# --- scalar types: what the validator accepts is exactly what the JSON Schema says -----------
# One rule for loose values (docs/config-reference.md, "Types"): a YAML integer or boolean is
# required where the model wants one; `replicas: "2"`, `encrypted: yes`, `off` or `1` are refused
# (YAML 1.1 and 1.2 disagree on what `yes`/`off` are, and a quoted number is usually a mistake).
# The exceptions are the forms Docker documents, kept so that Docker-style YAML works unchanged:
# the strings "true"/"false" for flags, `encrypted: ""` (Docker tests presence), string-valued
# `driver_opts` ("1400", "4097") and durations written as text (`12h`).
DURATION_PATTERN = r"^[0-9]*[1-9][0-9]*[smhd]?$"
_DURATION_RE = re.compile(r"^([0-9]+)([smhd])?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_PATTERN = rf"^({_OCTET}\.){{3}}{_OCTET}$"
PUBLIC_KEY_PATTERN = r"^[A-Za-z0-9+/]{43}=$"
DIGITS_PATTERN = r"^[0-9]+$"


def parse_duration(value: Any) -> int:
    """`12h` / `90m` / `30s` / `1d` / `3600` (an integer or digits: seconds) → seconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return int(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError("expected a duration such as 12h, 90m or 30s")


def _mac(value: Any) -> Any:
    return canonical_mac(value) if isinstance(value, str) else value


def _strict_bool(value: Any) -> Any:
    """YAML `true`/`false`, or the strings "true"/"false" Docker's documentation writes."""
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError(f"expected true or false, got {show_value(value)}")


def show_kind(value: Any) -> str:
    """What kind of YAML value `value` is, for messages ("a number", "a list", ...)."""
    if isinstance(value, int | float):
        return "a number"
    return {dict: "a mapping", list: "a list", type(None): "nothing (null)"}.get(type(value), repr(value))


def show_value(value: Any) -> str:
    """A scalar as written in YAML (`yes` → 'yes', 1 → 1), other values by kind."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return show_kind(value)


def _address_text(value: Any) -> Any:
    """Addresses are written as text: refuse YAML numbers and booleans (`subnet: true` would
    otherwise become 0.0.0.1/32 and `address: 3232235521` 192.168.0.1)."""
    if isinstance(value, str | IPv4Address | IPv4Network):
        return value
    got = ("true" if value else "false") if isinstance(value, bool) else show_kind(value)
    raise ValueError(f"expected an IPv4 address or subnet such as 192.0.2.1 or 10.0.1.0/24, got {got}")


def _node_address(value: Any) -> Any:
    """A node address: text, IPv4 or IPv6, parsed here for one message naming both families."""
    if isinstance(value, IPv4Address | IPv6Address):
        return value
    if isinstance(value, str):
        try:
            return ip_address(value.strip())
        except ValueError:  # worded by overlayc.config.explain (code invalid-address)
            raise PydanticCustomError(IP_ADDRESS_ERROR, "not an IP address") from None
    got = ("true" if value else "false") if isinstance(value, bool) else show_kind(value)
    raise ValueError(f"expected an IPv4 or IPv6 address such as 192.0.2.1 or 2001:db8::1, got {got}")


def _docker_int(value: Any) -> Any:
    """Docker's driver options are strings: `"1400"` is 1400; a YAML integer is taken as is."""
    if isinstance(value, str) and re.fullmatch(DIGITS_PATTERN, value):
        return int(value)
    return value


def _version(value: Any) -> Any:
    """`version: 1` or `version: "1"` (compose files quote their version); nothing else."""
    if value == "1" or (type(value) is int and value == CONFIG_VERSION):
        return CONFIG_VERSION
    raise ValueError(f"expected 1 (the only configuration format version), got {show_value(value)}")


def _schema(**schema: Any) -> WithJsonSchema:
    return WithJsonSchema(schema)


def _int_or_digits(minimum: int, maximum: int) -> WithJsonSchema:
    return _schema(anyOf=[{"type": "integer", "minimum": minimum, "maximum": maximum},
                          {"type": "string", "pattern": DIGITS_PATTERN}])


_FLAG_SCHEMA = [{"type": "boolean"}, {"enum": ["true", "false"]}]
Address = Annotated[IPv4Address, BeforeValidator(_address_text),
                    _schema(type="string", format="ipv4", pattern=IPV4_PATTERN)]
NodeAddress = Annotated[IPv4Address | IPv6Address, BeforeValidator(_node_address),
                        _schema(anyOf=[{"type": "string", "format": "ipv4", "pattern": IPV4_PATTERN},
                                       {"type": "string", "format": "ipv6"}])]
Mac = Annotated[str, BeforeValidator(_mac), Field(description="MAC address, e.g. 02:42:0a:00:01:02")]
Flag = Annotated[bool, BeforeValidator(_strict_bool), _schema(anyOf=_FLAG_SCHEMA)]
Seconds = Annotated[int, BeforeValidator(parse_duration), Field(gt=0),
                    _schema(anyOf=[{"type": "integer", "minimum": 1},
                                   {"type": "string", "pattern": DURATION_PATTERN}])]
Port = Annotated[int, Field(ge=1, le=65535, strict=True)]
Version = Annotated[Literal[1], BeforeValidator(_version), _schema(enum=[1, "1"])]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Encryption(Model):
    rotation: Seconds = Field(
        default=12 * 3600,
        description="key rotation interval: the epoch length (e.g. 12h; short values for tests)",
    )
    algorithm: Literal["aes-128-gcm", "aes-256-gcm"] = Field(
        default="aes-128-gcm", description="ESP AEAD: rfc4106(gcm(aes)) with a 128- or 256-bit key"
    )


class Cluster(Model):
    name: Name = Field(description="cluster name; tags every kernel object overlayc owns")
    id: str = Field(
        min_length=8, max_length=128, description="cluster id (public): the HKDF salt of every key"
    )
    data_port: Port = Field(default=4789, description="VXLAN UDP port of plain networks")
    encrypted_data_port: Port = Field(
        default=4800, description="VXLAN UDP port of encrypted networks (protected by XFRM policies)"
    )
    underlay_mtu: int = Field(default=1500, ge=1280, le=65535, strict=True,
                              description="MTU of the node network")
    encryption: Encryption = Field(default_factory=Encryption)


class Node(Model):
    address: NodeAddress = Field(description="underlay (VTEP) address, IPv4 or IPv6 (one family per cluster)")
    public_key: Annotated[str | None, _schema(anyOf=[{"type": "string", "pattern": PUBLIC_KEY_PATTERN},
                                                      {"type": "null"}])] = Field(
        default=None, description="X25519 public key, base64 (from `overlayc keys gen`)"
    )
    labels: dict[str, str] = Field(
        default_factory=new_dict, description="node labels, matched by `node.labels.<key>` constraints"
    )
    role: Literal["manager", "worker"] = Field(
        default="worker", description="matched by `node.role` constraints"
    )

    @field_validator("public_key")
    @classmethod
    def _public_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            raise ValueError("public key is not valid base64") from None
        if len(raw) != 32:
            raise ValueError(f"public key must be 32 bytes (X25519), got {len(raw)}")
        return value

    def public_key_bytes(self) -> bytes | None:
        return None if self.public_key is None else base64.b64decode(self.public_key)


def _docker_presence(value: Any) -> Any:
    """Docker tests `encrypted` for presence: `encrypted:` / `encrypted: ""` mean on."""
    return True if value is None or value == "" else _strict_bool(value)


def _vni_list(value: Any) -> Any:
    """`com.docker.network.driver.overlay.vxlanid_list`: exactly one VNI (one subnet per network),
    an integer or its digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(DIGITS_PATTERN, value):
        return int(value)
    raise ValueError(f"{DOCKER_OPT_VNI} must hold exactly one VNI (one subnet per network)")


class DriverOpts(Model):
    """Docker's `driver_opts` (`--opt`) that map onto overlayc; any other option is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    encrypted: Annotated[bool | None, BeforeValidator(_docker_presence),
                         _schema(anyOf=[*_FLAG_SCHEMA, {"enum": [""]}, {"type": "null"}])] = Field(
        default=None, alias=DOCKER_OPT_ENCRYPTED,
        description="Docker's --opt encrypted; unlike Docker, \"false\" means off",
    )
    mtu: Annotated[int | None, BeforeValidator(_docker_int), _int_or_digits(576, 65535)] = Field(
        default=None, alias=DOCKER_OPT_MTU, ge=576, le=65535, strict=True,
        description="underlay MTU of this network (Docker semantics); inner MTU = this − overhead",
    )
    vxlanid_list: Annotated[int | None, BeforeValidator(_vni_list),
                            _schema(anyOf=[{"type": "integer", "minimum": 1, "maximum": VNI_MAX},
                                           {"type": "string", "pattern": DIGITS_PATTERN}])] = Field(
        default=None, alias=DOCKER_OPT_VNI, description="exactly one VNI for the network's one subnet"
    )


class Network(Model, SubnetForms):
    subnet: Subnet | None = Field(default=None, description="subnet of either family, e.g. 10.0.1.0/24")
    subnets: list[Subnet] = Field(default_factory=new_list,
                                  description="one subnet per family, e.g. [10.0.9.0/24, fd00:9::/64]")
    enable_ipv6: Flag | None = Field(default=None, description="compose's switch: an IPv6 subnet is given")
    ipam: Annotated[Ipam | None, AfterValidator(require_subnet)] = Field(
        default=None, validate_default=True, description="compose's form: config: [{subnet: ...}]")
    vni: Annotated[int | None, _schema(anyOf=[{"type": "integer", "minimum": 1, "maximum": VNI_MAX},
                                              {"type": "null"}])] = Field(default=None, strict=True,
                            description="VXLAN id 1..16777215; auto-assigned from 4096")
    encrypted: Flag = Field(default=False, description="IPsec ESP between node pairs")
    attachable: Flag = Field(default=False, description="standalone endpoints may join")
    all_nodes: Flag = Field(
        default=False, description="present on every node, not only where a task or endpoint is"
    )
    mtu: int | None = Field(default=None, ge=68, strict=True,
                            description="inner MTU; default: underlay − overhead")
    gateway: Address | None = Field(default=None, description="the node's own address in the network "
                                    "(optional; routing then follows the node's)")
    driver: Literal["overlay"] = Field(default="overlay", description="only `overlay` (Docker compat)")
    driver_opts: DriverOpts | None = Field(
        default=None,
        description="Docker-compatible options: encrypted, com.docker.network.driver.mtu "
        "(underlay MTU), com.docker.network.driver.overlay.vxlanid_list (one VNI)",
    )

    # Effective values, with Docker options folded in (validate checks they do not conflict).
    @property
    def is_encrypted(self) -> bool:
        opts = self.driver_opts
        if opts is not None and opts.encrypted is not None:
            return opts.encrypted
        return self.encrypted

    @property
    def fixed_vni(self) -> int | None:
        if self.vni is None and self.driver_opts is not None:
            return self.driver_opts.vxlanid_list
        return self.vni

    @property
    def underlay_mtu(self) -> int | None:
        """Docker's `com.docker.network.driver.mtu` is the underlay MTU for this network."""
        return None if self.driver_opts is None else self.driver_opts.mtu


def _name_list_as_mapping(value: Any) -> Any:
    """`networks: [a, b]` is short for `networks: {a: null, b: null}`; a name may appear once."""
    if not isinstance(value, list):
        return value
    out: dict[Any, None] = {}
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"expected a network name, got {item!r}")
        if item in out:
            raise ValueError(f"network {item!r} is listed twice")
        out[item] = None
    return out


class ServiceAttachment(Model):
    ipv4_addresses: list[Address] = Field(
        default_factory=new_list, description="fixed addresses, one per task in task order"
    )
    ipv6_addresses: list[Address6] = Field(default_factory=new_list,
                                           description="fixed IPv6 addresses, likewise")


class EndpointAttachment(Model):
    ipv4_address: Address | None = Field(default=None, description="fixed address (default: next free)")
    ipv6_address: Address6 | None = Field(default=None, description="fixed IPv6 address (default: next free)")
    mac_address: Mac | None = Field(default=None, description="default: 02:42 + the four IPv4 bytes "
                                    "(IPv6-only: 06 + the low 40 bits of the IPv6 address)")


# the defaults of a network named without options, built once (frozen: one instance serves every
# attachment; building one is a validation, and `attachments()` is asked per service and check)
_BARE_SERVICE_ATTACHMENT = ServiceAttachment()
_BARE_ENDPOINT_ATTACHMENT = EndpointAttachment()


class Service(Model):
    replicas: int | None = Field(default=None, ge=0, strict=True, description="number of tasks (default 1)")
    mode: Literal["replicated", "global"] = Field(
        default="replicated", description="`global`: one task on every eligible node (no replicas)"
    )
    networks: Annotated[
        dict[Name, ServiceAttachment | None],
        BeforeValidator(
            _name_list_as_mapping,
            json_schema_input_type=list[Name] | dict[Name, ServiceAttachment | None],
        ),
    ] = Field(default_factory=new_dict, description="networks the tasks join: a list, or a mapping")
    constraints: list[str] = Field(
        default_factory=new_list,
        description="Docker placement constraints: node.hostname|node.role|node.labels.<k> ==|!= value",
    )
    managed: Flag = Field(default=True, description="overlayc creates each local task's netns and veth pairs")

    def attachments(self) -> dict[str, ServiceAttachment]:
        """Network name → attachment, in the order written (a bare name gets the defaults)."""
        return {n: a or _BARE_SERVICE_ATTACHMENT for n, a in self.networks.items()}


class StandaloneEndpoint(Model):
    node: Name = Field(description="the node the endpoint lives on")
    networks: Annotated[
        dict[Name, EndpointAttachment | None],
        BeforeValidator(
            _name_list_as_mapping,
            json_schema_input_type=list[Name] | dict[Name, EndpointAttachment | None],
        ),
    ] = Field(default_factory=new_dict, description="networks the endpoint joins: a list, or a mapping")
    managed: Flag = Field(default=True, description="overlayc creates its netns and veth pairs")

    def attachments(self) -> dict[str, EndpointAttachment]:
        """Network name → attachment, in the order written (a bare name gets the defaults)."""
        return {n: a or _BARE_ENDPOINT_ATTACHMENT for n, a in self.networks.items()}


class Config(Model):
    version: Version = Field(description="config format version: 1 (or \"1\")")
    cluster: Cluster
    nodes: dict[Name, Node] = Field(default_factory=new_dict)
    networks: dict[Name, Network] = Field(default_factory=new_dict)
    services: dict[Name, Service] = Field(default_factory=new_dict)
    endpoints: dict[Name, StandaloneEndpoint] = Field(default_factory=new_dict)

    @cached_property  # a scan of every node, asked once per network and endpoint by validate and compile
    def ipv6_underlay(self) -> bool:
        """Whether the nodes reach each other over IPv6 (validate refuses mixed families)."""
        return any(node.address.version == 6 for node in self.nodes.values())
