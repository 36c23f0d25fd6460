"""Load YAML files into a checked Config.

API (stable, used by every command that reads a config):
    load_config(paths) -> LoadedConfig     raises ConfigError (all diagnostics) or InputError
    LoadedConfig.config                    the checked Config
    LoadedConfig.files                     the files read, in order
    LoadedConfig.locate(path)              Location of a YAML path like ("networks", "web", "subnet")
    LoadedConfig.sources                   file → source lines (to render diagnostics raised later)
    LoadedConfig.lock_path                 where overlayc.lock lives (`lock_dir`)

Several files (or a directory of `*.yaml`/`*.yml`, sorted by name) are merged: the sections
`nodes`, `networks`, `services` and `endpoints` are unions of their entries; a name defined twice,
or any other top-level key (`cluster`, ...) set in two files, is an error showing both places.
`version` may repeat when equal. Then the model parses, then `validate_config` checks semantics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from overlayc.config.explain import KINDS, diagnostics_from_validation, show
from overlayc.config.lockdir import LOCK_NAME as LOCK_NAME
from overlayc.config.lockdir import lock_dir as lock_dir
from overlayc.config.model import Config
from overlayc.config.sourcemap import SourceMap, YamlPath
from overlayc.config.validate import validate_config
from overlayc.errors import ConfigError, Diagnostic, InputError, Location, Severity
from overlayc.files import prefetch
from overlayc.files.limits import LIMITS
from overlayc.files.safe import read_input

SUFFIXES = (".yaml", ".yml")
FATAL = ("yaml-syntax", "not-a-mapping", "yaml-limit")  # no point parsing the model after these


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    files: tuple[Path, ...]
    lock_path: Path
    source_map: SourceMap = field(default_factory=SourceMap, repr=False)

    @property
    def sources(self) -> dict[str, tuple[str, ...]]:
        """File (as shown in diagnostics) → its lines; pass to `render_text`/`ConfigError`."""
        return self.source_map.lines

    def locate(self, path: YamlPath) -> Location:
        """The location of the YAML node at `path`, or of its nearest ancestor that has one."""
        loc = self.source_map.locate(path)
        if loc.file == "<config>" and self.files:
            return Location(str(self.files[0]))
        return loc


def parse_yaml(file: str, text: str, smap: SourceMap) -> tuple[Any, list[Diagnostic]]:
    """`overlayc.config.source.parse_yaml`, imported when a file is parsed here: a command
    whose files the input prefetch parsed (`overlayc.files.prefetch`) never imports ruamel."""
    from overlayc.config.source import parse_yaml as parse

    return parse(file, text, smap)


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files to read: each file as given, each directory's `*.yaml`/`*.yml` sorted by name.

    Raises InputError for a missing path, an empty directory or no paths at all."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(x for x in p.iterdir() if x.suffix in SUFFIXES and x.is_file())
            if not found:
                raise InputError(f"{p}: directory holds no *.yaml or *.yml files")
            out.extend(found)
        elif p.exists():
            out.append(p)
        else:
            raise InputError(f"{p}: no such file or directory")
    if not out:
        raise InputError("no configuration files given (use -f FILE or -f DIR)")
    return out


def _read(path: Path) -> str:
    """The text of one configuration file: a regular file of at most LIMITS.config_bytes."""
    data = read_input(path, LIMITS.config_bytes, "configuration file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: cannot read: not UTF-8 text ({err.reason})") from None


def _duplicate(what: str, path: YamlPath, here: SourceMap, first: SourceMap) -> Diagnostic:
    return Diagnostic(
        Severity.ERROR, "duplicate-name" if len(path) == 2 else "duplicate-key",
        f"{what} is defined in more than one file", here.locate_key(path),
        related=(("first defined here", first.locate_key(path)),),
    )


@dataclass
class _Merger:
    """Accumulates documents; first definition wins, later duplicates are diagnostics."""

    data: dict[str, Any] = field(default_factory=dict)
    smap: SourceMap = field(default_factory=SourceMap)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(self, doc: Any, fmap: SourceMap, file: str) -> None:
        self._merge_map(fmap)
        if doc is None:
            return
        if not isinstance(doc, dict):
            self.diagnostics.append(Diagnostic(
                Severity.ERROR, FATAL[1],
                f"a configuration file must be a mapping (version, cluster, nodes, ...), got {show(doc)}",
                fmap.values.get((), Location(file, 1, 1))))
            return
        for key, value in doc.items():
            if key in KINDS and value is None:  # an empty section (`endpoints:`) is an empty mapping
                value = {}
            if key in KINDS and isinstance(value, dict) and isinstance(self.data.get(key), dict):
                for name, entry in value.items():
                    if name in self.data[key]:
                        self.diagnostics.append(
                            _duplicate(f"{KINDS[key]} '{name}'", (key, name), fmap, self.smap))
                    else:
                        self.data[key][name] = entry
            elif key in self.data and not (key == "version" and self.data[key] == value):
                self.diagnostics.append(_duplicate(f"top-level key '{key}'", (key,), fmap, self.smap))
            elif key not in self.data:
                self.data[key] = value

    def _merge_map(self, fmap: SourceMap) -> None:
        if not self.smap.values and not self.smap.keys:  # the first file: its map, not a copy
            self.smap.values, self.smap.keys = fmap.values, fmap.keys
            self.smap.lines.update(fmap.lines)
            return
        for path, loc in fmap.values.items():
            self.smap.values.setdefault(path, loc)
        for path, loc in fmap.keys.items():
            self.smap.keys.setdefault(path, loc)
        self.smap.lines.update(fmap.lines)


def load_config(paths: Sequence[Path]) -> LoadedConfig:
    """Read, merge, parse and validate the configuration at `paths` (files or directories).

    Raises InputError when a file cannot be read, ConfigError with every diagnostic otherwise."""
    files = expand_paths(paths)
    merger = _Merger()
    for f in files:
        fmap = SourceMap()
        text = _read(f)
        doc, diagnostics = prefetch.parsed_yaml(str(f), text, fmap) or parse_yaml(str(f), text, fmap)
        merger.diagnostics.extend(diagnostics)
        merger.add(doc, fmap, str(f))
    smap, diagnostics = merger.smap, merger.diagnostics
    if any(d.code in FATAL for d in diagnostics):  # the model's complaints would only be noise
        raise ConfigError(diagnostics, smap.lines)
    try:
        config = Config.model_validate(merger.data)
    except ValidationError as err:
        raise ConfigError(diagnostics + diagnostics_from_validation(err, smap), smap.lines) from None
    diagnostics += validate_config(config, smap)
    if any(d.severity is Severity.ERROR for d in diagnostics):
        raise ConfigError(diagnostics, smap.lines)
    return LoadedConfig(config, tuple(files), lock_dir(paths) / LOCK_NAME, smap)

