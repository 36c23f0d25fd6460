"""The caps on every document overlayc parses, by name (docs/operations.md, "Limits"); the
checks that apply them are in `overlayc.files.bounded`. Kept apart from it so that reading a lock
in the common layout does not load the YAML library."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The caps. Generous for real configurations (5,000 nodes, 100,000 tasks fit), tiny next to
    what a bomb needs."""

    config_bytes: int = 4 * MiB  # one configuration file (5,000 nodes take ~300 KiB)
    lock_bytes: int = 64 * MiB  # overlayc.lock (one pin per endpoint and network)
    json_bytes: int = 256 * MiB  # a saved plan or a state snapshot (a 50k-entry FDB plan is ~20 MiB)
    depth: int = 64  # nesting of mappings/sequences (configs need 6)
    yaml_nodes: int = 4_000_000  # values in one YAML file, aliases expanded
    alias_expansion: int = 100_000  # values reached only through aliases
    scalar_chars: int = 65_536  # one string
    line_chars: int = 66_560  # one YAML line (a string at the limit, its key and indentation)
    int_digits: int = 20  # one integer (a u64 has 20 digits)


LIMITS = Limits()
