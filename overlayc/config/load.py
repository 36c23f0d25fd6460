"""Load YAML files into a checked Config.

API (stable, used by every command that reads a config):
    load_config(paths) -> LoadedConfig     raises ConfigError (all diagnostics) or InputError
    LoadedConfig.config                    the checked Config
    LoadedConfig.locate(path)              Location of a YAML path like ("networks", "web", "subnet")
    LoadedConfig.lock_path                 where overlayc.lock lives (next to the first config)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from overlayc.config.model import Config
from overlayc.errors import ConfigError, Diagnostic, InputError, Location, Severity

LOCK_NAME = "overlayc.lock"


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    files: tuple[Path, ...]
    lock_path: Path
    _locations: dict[tuple[str | int, ...], Location] = field(default_factory=dict, repr=False)

    def locate(self, path: tuple[str | int, ...]) -> Location:
        """The location of the YAML node at `path`, or of its nearest ancestor that has one."""
        for n in range(len(path), -1, -1):
            loc = self._locations.get(path[:n])
            if loc is not None:
                return loc
        return Location(str(self.files[0]) if self.files else "<config>")


def _expand(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(x for x in p.iterdir() if x.suffix in (".yaml", ".yml") and x.is_file()))
        elif p.exists():
            out.append(p)
        else:
            raise InputError(f"{p}: no such file or directory")
    if not out:
        raise InputError("no configuration files given")
    return out


def load_config(paths: Sequence[Path]) -> LoadedConfig:
    files = _expand(paths)
    merged: dict[str, Any] = {}
    for f in files:
        try:
            doc = YAML(typ="safe").load(f.read_text())
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"{f}: cannot read: {err}") from None
        except YAMLError as err:
            raise ConfigError([Diagnostic(Severity.ERROR, "yaml-syntax", str(err), Location(str(f)))]) from None
        for k, v in (doc or {}).items():
            if isinstance(v, dict) and isinstance(merged.get(k), dict):
                merged[k].update(v)
            else:
                merged[k] = v
    config = Config.model_validate(merged)
    first = paths[0]
    lock_dir = first if first.is_dir() else first.parent
    return LoadedConfig(config, tuple(files), lock_dir / LOCK_NAME)
