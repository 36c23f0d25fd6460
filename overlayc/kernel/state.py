"""KernelState: a set of kernel objects held by key, with a deterministic JSON round trip and digest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import ItemsView, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from overlayc.kernel.entries import ENTRY_KINDS, Entries
from overlayc.kernel.objects import KIND_ORDER, Fdb, KernelObject, Neigh, from_json, to_json
from overlayc.kernel.ownership import Key

STATE_FORMAT_VERSION = "1.0"  # the one `format_version` key of every JSON document overlayc writes
LEGACY_FORMAT = 1  # snapshots written before: {"format": 1, ...}; still read


_KIND_RANK = {kind: rank for rank, kind in enumerate(KIND_ORDER)}


def sort_key(key: Key) -> tuple[int, Key]:
    """The order of keys in a KernelState: by kind in dependency order, then by key."""
    return (_KIND_RANK.get(key[0], len(KIND_ORDER)), key)


class KernelState:
    """Objects by key. Adding a second object with the same key is a bug (ValueError).

    Iteration is deterministic: by kind in dependency order, then by key. The sorted order is
    computed once and kept until the next `add`; `items()` walks without sorting.

    FDB and neighbour entries are held apart, as compact keys per device (`entries`,
    overlayc.kernel.entries): compile and observe fill them in bulk, diff compares them as sets,
    and every other method answers for them as `Fdb`/`Neigh` objects built on demand.
    """

    __slots__ = ("_objects", "_order", "entries")

    def __init__(self, objects: Iterable[KernelObject] = (), entries: Entries | None = None) -> None:
        self._objects: dict[Key, KernelObject] = {}
        self._order: list[KernelObject] | None = None
        self.entries = Entries() if entries is None else entries
        for obj in objects:
            self.add(obj)

    def add(self, obj: KernelObject) -> None:
        self._order = None
        if isinstance(obj, Fdb | Neigh):
            self.entries.add(obj)
            return
        key = obj.key
        have = self._objects.get(key)
        if have is not None:
            if have == obj:
                return
            raise ValueError(f"two different objects with key {key}: {have!r} and {obj!r}")
        self._objects[key] = obj

    def touched(self) -> None:
        """Forget the sorted order: call after writing to `entries` directly."""
        self._order = None

    def get(self, key: Key) -> KernelObject | None:
        if key[0] in ENTRY_KINDS:
            return self.entries.get(key)
        return self._objects.get(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, tuple) and key and key[0] in ENTRY_KINDS:
            return self.entries.get(key) is not None
        return key in self._objects

    def __len__(self) -> int:
        return len(self._objects) + len(self.entries)

    def __iter__(self) -> Iterator[KernelObject]:
        return iter(self._sorted())

    def _sorted(self) -> list[KernelObject]:
        if self._order is None:
            every: list[KernelObject] = [*self._objects.values(), *self.entries.objects()]
            every.sort(key=lambda obj: sort_key(obj.key))
            self._order = every
        return self._order

    def keys(self) -> list[Key]:
        return [obj.key for obj in self._sorted()]

    def items(self) -> Iterable[tuple[Key, KernelObject]]:
        """(key, object) pairs in no particular order, entries built as objects: for whole-state
        walks whose result does not depend on the order, which then need not sort."""
        yield from self._objects.items()
        for obj in self.entries.objects():
            yield obj.key, obj

    def other_items(self) -> ItemsView[Key, KernelObject]:
        """`items()` of everything but the FDB and neighbour entries (see `entries`)."""
        return self._objects.items()

    def of_kind(self, kind: str) -> list[KernelObject]:
        """The objects of one kind, in iteration order; sorts only those (asking whether a
        state of 100k fdb/neigh entries holds an SA must not sort the entries)."""
        found: list[tuple[Key, KernelObject]]
        if kind in ENTRY_KINDS:
            found = [(obj.key, obj) for obj in self.entries.objects() if obj.kind == kind]
        else:
            found = [(key, obj) for key, obj in self._objects.items() if obj.kind == kind]
        found.sort(key=lambda pair: sort_key(pair[0]))
        return [obj for _, obj in found]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, KernelState) and self._objects == other._objects
                and self.entries == other.entries)

    def __repr__(self) -> str:
        counts: dict[str, int] = self.entries.counts()
        for obj in self._objects.values():
            counts[obj.kind] = counts.get(obj.kind, 0) + 1
        return f"KernelState({', '.join(f'{k}={n}' for k, n in sorted(counts.items()))})"

    # --- JSON ---------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"format_version": STATE_FORMAT_VERSION, "objects": [to_json(o) for o in self]}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KernelState:
        major = str(data.get("format_version", "")).split(".")[0] if isinstance(data, dict) else ""
        if major != STATE_FORMAT_VERSION.split(".")[0] and not (
            isinstance(data, dict) and data.get("format") == LEGACY_FORMAT
        ):
            raise ValueError(f"not an overlayc state document of format_version {STATE_FORMAT_VERSION}")
        return cls(from_json(o) for o in data["objects"])

    @classmethod
    def loads(cls, text: str) -> KernelState:
        return cls.from_json(json.loads(text))

    def digest(self) -> str:
        """sha256 of the canonical JSON (secrets excluded, fingerprints included)."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Observed:
    """What observe returns: the owned live state, plus an index of foreign objects that would
    collide with a desired one.

    `foreign_links` maps the name of every link overlayc does not own to a short description
    (`"vxlan, not overlayc's"`); `foreign` maps keys (same scheme as desired objects: netns,
    xfrm-state (dst, esp, spi), xfrm-policy selector) of foreign objects to a description.
    """

    owned: KernelState
    foreign_links: Mapping[str, str] = field(default_factory=dict)
    foreign: Mapping[Key, str] = field(default_factory=dict)
