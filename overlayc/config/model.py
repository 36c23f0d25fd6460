"""The configuration language as pydantic v2 models: frozen, `extra="forbid"`.

Shape (YAML):

    version: 1
    cluster: {name, id, data_port, encrypted_data_port, underlay_mtu, encryption: {rotation, algorithm}}
    nodes:     {<name>: {address, public_key, labels, role}}
    networks:  {<name>: {subnet, vni, encrypted, attachable, mtu, gateway, all_nodes,
                         driver, driver_opts}}
    services:  {<name>: {replicas | mode: global, networks, constraints, managed}}
    endpoints: {<name>: {node, networks, managed}}

Docker-compose style `driver: overlay`, `driver_opts` and `attachable` are accepted where they map
onto the model (see `Network.normalise_docker_options`). Models only parse and normalise single
fields; cross-field and cross-object semantics live in `overlayc.config.validate`.
"""

from __future__ import annotations

import base64
import re
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from overlayc.kernel.objects import canonical_mac

CONFIG_VERSION = 1
DOCKER_OPT_ENCRYPTED = "encrypted"
DOCKER_OPT_MTU = "com.docker.network.driver.mtu"
DOCKER_OPT_VNI = "com.docker.network.driver.overlay.vxlanid_list"
DOCKER_OPTS = (DOCKER_OPT_ENCRYPTED, DOCKER_OPT_MTU, DOCKER_OPT_VNI)

NAME_RE = r"^[a-z0-9]([a-z0-9_-]{0,30}[a-z0-9])?$"
Name = Annotated[
    str,
    Field(
        pattern=NAME_RE,
        description="1-32 characters: lower-case letters, digits, '-' and '_' (not at the ends)",
    ),
]

_DURATION_RE = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> int:
    """`12h` / `90m` / `30s` / `1d` / `3600` → seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 12h, 90m or 30s")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return int(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError("expected a duration such as 12h, 90m or 30s")


def _mac(value: Any) -> Any:
    return canonical_mac(value) if isinstance(value, str) else value


def _strict_bool(value: Any) -> Any:
    """YAML `true`/`false` and the strings Docker users write ("true", "false", "")."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "yes", "on", "1", ""):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    return value


Mac = Annotated[str, BeforeValidator(_mac), Field(description="MAC address, e.g. 02:42:0a:00:01:02")]
Flag = Annotated[bool, BeforeValidator(_strict_bool)]
Seconds = Annotated[int, BeforeValidator(parse_duration), Field(gt=0)]
Port = Annotated[int, Field(ge=1, le=65535)]


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
    underlay_mtu: int = Field(default=1500, ge=1280, le=65535, description="MTU of the node network")
    encryption: Encryption = Field(default_factory=Encryption)


class Node(Model):
    address: IPv4Address = Field(description="underlay (VTEP) address of the node")
    public_key: str | None = Field(
        default=None, description="X25519 public key, base64 (from `overlayc keys gen`)"
    )
    labels: dict[str, str] = Field(default_factory=dict)
    role: Literal["manager", "worker"] = "worker"

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


class Network(Model):
    subnet: IPv4Network
    vni: int | None = Field(default=None, description="VXLAN id 1..16777215; auto-assigned from 4096")
    encrypted: Flag = Field(default=False, description="IPsec ESP between node pairs")
    attachable: Flag = Field(default=False, description="standalone endpoints may join")
    all_nodes: Flag = Field(
        default=False, description="present on every node, not only where a task or endpoint is"
    )
    mtu: int | None = Field(default=None, ge=68, description="inner MTU; default: underlay − overhead")
    gateway: IPv4Address | None = Field(default=None, description="address of the bridge (optional)")
    driver: Literal["overlay"] = "overlay"
    driver_opts: dict[str, str] | None = Field(
        default=None,
        description="Docker-compatible options: encrypted, com.docker.network.driver.mtu "
        "(underlay MTU), com.docker.network.driver.overlay.vxlanid_list (one VNI)",
    )

    @field_validator("driver_opts", mode="before")
    @classmethod
    def _opts_as_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ("" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
                    for k, v in value.items()}
        return value

    @field_validator("driver_opts")
    @classmethod
    def _known_opts(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key in value or {}:
            if key not in DOCKER_OPTS:
                raise ValueError(f"unknown driver option {key!r}")
        return value

    @model_validator(mode="after")
    def _check_docker_opts(self) -> Network:
        opts = self.driver_opts or {}
        if DOCKER_OPT_ENCRYPTED in opts:
            _strict_bool(opts[DOCKER_OPT_ENCRYPTED])
        if DOCKER_OPT_VNI in opts:
            _parse_vni_list(opts[DOCKER_OPT_VNI])
        if DOCKER_OPT_MTU in opts and not opts[DOCKER_OPT_MTU].isdigit():
            raise ValueError(f"{DOCKER_OPT_MTU} must be a number")
        return self

    # Effective values, with Docker options folded in (validate checks they do not conflict).
    @property
    def is_encrypted(self) -> bool:
        opts = self.driver_opts or {}
        if DOCKER_OPT_ENCRYPTED in opts:
            return bool(_strict_bool(opts[DOCKER_OPT_ENCRYPTED]))
        return self.encrypted

    @property
    def fixed_vni(self) -> int | None:
        opts = self.driver_opts or {}
        if self.vni is None and DOCKER_OPT_VNI in opts:
            return _parse_vni_list(opts[DOCKER_OPT_VNI])
        return self.vni

    @property
    def underlay_mtu(self) -> int | None:
        """Docker's `com.docker.network.driver.mtu` is the underlay MTU for this network."""
        opts = self.driver_opts or {}
        return int(opts[DOCKER_OPT_MTU]) if DOCKER_OPT_MTU in opts else None


def _parse_vni_list(text: str) -> int:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) != 1 or not parts[0].isdigit():
        raise ValueError(f"{DOCKER_OPT_VNI} must hold exactly one VNI (one subnet per network)")
    return int(parts[0])


class ServiceAttachment(Model):
    ipv4_addresses: list[IPv4Address] = Field(
        default_factory=list, description="fixed addresses, one per task in task order"
    )


class EndpointAttachment(Model):
    ipv4_address: IPv4Address | None = None
    mac_address: Mac | None = None


class Service(Model):
    replicas: int | None = Field(default=None, description="number of tasks (default 1)")
    mode: Literal["replicated", "global"] = "replicated"
    networks: list[Name] | dict[Name, ServiceAttachment | None] = Field(default_factory=list)
    constraints: list[str] = Field(
        default_factory=list,
        description="Docker placement constraints: node.hostname|node.role|node.labels.<k> ==|!= value",
    )
    managed: bool = Field(
        default=True, description="overlayc creates each local task's netns and veth pairs"
    )

    def attachments(self) -> dict[str, ServiceAttachment]:
        if isinstance(self.networks, list):
            return {n: ServiceAttachment() for n in self.networks}
        return {n: a or ServiceAttachment() for n, a in self.networks.items()}


class StandaloneEndpoint(Model):
    node: Name
    networks: list[Name] | dict[Name, EndpointAttachment | None] = Field(default_factory=list)
    managed: bool = Field(default=True, description="overlayc creates its netns and veth pairs")

    def attachments(self) -> dict[str, EndpointAttachment]:
        if isinstance(self.networks, list):
            return {n: EndpointAttachment() for n in self.networks}
        return {n: a or EndpointAttachment() for n, a in self.networks.items()}


class Config(Model):
    version: Literal[1] = Field(description="config format version (1)")
    cluster: Cluster
    nodes: dict[Name, Node] = Field(default_factory=dict)
    networks: dict[Name, Network] = Field(default_factory=dict)
    services: dict[Name, Service] = Field(default_factory=dict)
    endpoints: dict[Name, StandaloneEndpoint] = Field(default_factory=dict)
