"""A lock file in any YAML layout (hand-edited, re-indented, an older writer): read by the
configuration's bounded loader and validated by pydantic, when `overlayc.files.lock`'s readers of
`format_lock`'s own layout do not apply. The result equals theirs for every file both read."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from overlayc.compile.lock import LOCK_VERSION, Lock, Pin
from overlayc.config.model import Mac
from overlayc.errors import ConfigError, InputError


@dataclass(frozen=True)
class _PinDoc:
    """A pin as a lock file holds it: a mapping of these keys and no other (`Pin` is a named
    tuple, which pydantic would also take from a list)."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")
    ip: IPv4Address | None
    mac: Mac
    ip6: IPv6Address | None = None


@dataclass(frozen=True)
class _LockDoc:
    """A lock file: `Lock`'s fields, with its pins as `_PinDoc`."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")
    version: Annotated[int, Field(ge=LOCK_VERSION, le=LOCK_VERSION)] = LOCK_VERSION
    vnis: dict[str, int] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, dict[str, _PinDoc]] = field(default_factory=dict)


@functools.cache
def _lock_file() -> TypeAdapter[_LockDoc]:
    """The validator of lock files in any layout, built on first use."""
    return TypeAdapter(_LockDoc)


def parse_lock_doc(text: str, where: str) -> Lock:
    """Read `text` (a lock file named `where` in messages) with the configuration's bounded YAML
    loader (no bombs, directives, tags or huge values: located diagnostics, ConfigError) and
    validate it as a lock in any YAML layout (InputError naming the first wrong value)."""
    from overlayc.config.source import SourceMap, parse_yaml

    smap = SourceMap()
    doc, diagnostics = parse_yaml(where, text, smap)
    if diagnostics:
        raise ConfigError(diagnostics, smap.lines)
    try:
        lock = _lock_file().validate_python(doc or {})
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{where}: not an overlayc lock file: {loc}: {first['msg']}") from None
    for ep, pins in lock.endpoints.items():
        for net, pin in pins.items():
            if pin.ip is None and pin.ip6 is None:
                raise InputError(f"{where}: not an overlayc lock file: endpoints.{ep}.{net}: "
                                 "neither ip nor ip6")
    endpoints = {ep: {net: Pin(p.ip, p.mac, p.ip6) for net, p in pins.items()}
                 for ep, pins in lock.endpoints.items()}
    return Lock(version=lock.version, vnis=lock.vnis, tasks=lock.tasks, endpoints=endpoints)
