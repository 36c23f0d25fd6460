"""Where the configuration was written: the source map of YAML paths to locations (no YAML
parser here: a command whose files the input prefetch parsed never imports ruamel;
`overlayc.config.source` builds the map when it parses).

The source map is two dicts keyed by YAML path (`("networks", "web", "subnet")`, list items by
index): `values` holds where each value starts, `keys` where each mapping key starts. Lookups are
O(1), so locating stays cheap for configs with thousands of nodes and tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from overlayc.errors import Location

YamlPath = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Where every value and key of the merged configuration was written, and the source lines."""

    values: dict[YamlPath, Location] = field(default_factory=dict)
    keys: dict[YamlPath, Location] = field(default_factory=dict)
    lines: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def locate(self, path: YamlPath) -> Location:
        """Location of the value at `path` or of its nearest ancestor that has one.

        A mapping or sequence is located at its key (`web:`), a scalar at its value."""
        for n in range(len(path), -1, -1):
            loc = self.values.get(path[:n])
            if loc is not None:
                return loc
        return Location(next(iter(self.lines), "<config>"))

    def locate_key(self, path: YamlPath) -> Location:
        """Location of the mapping key that ends `path` (falls back to `locate`)."""
        return self.keys.get(path) or self.locate(path)
