"""Changes held compactly: runs of fdb/neighbour entry creates or deletes as bytes (pure).

A node of a large cluster is planned from empty as tens of thousands of entry creates that
differ only in their addresses. `diff` hands them on as one `EntryRun` per action, kind and
device: the compact keys of `overlayc.kernel.entries` (fdb `mac + dst`, neighbour `dst` and
its MAC), in key order. `Changes` is the sequence of a plan's changes: every other change is a
`Change` of its own, and a run stands for its entries in place.

As a sequence, `Changes` is the tuple of the same `Change`s (length, indexing, slicing,
iteration and equality), so a consumer that needs entries one by one (`--json`, `--full`, a
saved plan, a rollback's inverses, an error message) gets them, built as it asks. The hot
consumers read the parts instead (`parts`, `counts`, `singles`, and the helpers below):
ordering, digests, the grouped text plan, the journal and the executor's packing. Indices
always mean positions in the sequence, as the executor's `applied` and failures need.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, overload

from overlayc.change import Action, Change, Reason
from overlayc.kernel.entries import Builder
from overlayc.kernel.objects import Fdb, Neigh


@dataclass(frozen=True, slots=True)
class EntryRun:
    """`action` (CREATE or DELETE) of `kind` ("fdb"/"neigh") entries on device `dev`, for
    `reason`: `keys` are fdb `mac + dst` or neighbour `dst` (4 or 16 bytes) in the order of the
    entries' keys, `macs[i]` the MAC of neighbour `keys[i]` (None for fdb)."""

    action: Action
    reason: Reason
    kind: str
    dev: str
    keys: Sequence[bytes]
    macs: Sequence[bytes] | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def obj(self, i: int, build: Builder) -> Fdb | Neigh:
        """The object of entry `i`, built through `build` (which shares texts between entries)."""
        if self.macs is None:
            return build.fdb(self.dev, self.keys[i])
        return build.neigh(self.dev, self.keys[i], self.macs[i])

    def change(self, i: int, build: Builder) -> Change:
        """The `Change` of entry `i`, as `diff` made it per entry."""
        obj = self.obj(i, build)
        if self.action is Action.CREATE:
            return Change(Action.CREATE, obj.key, None, obj, self.reason)
        return Change(Action.DELETE, obj.key, obj, None, self.reason)

    def changes(self, build: Builder) -> Iterator[Change]:
        return (self.change(i, build) for i in range(len(self.keys)))

    def cut(self, start: int, stop: int) -> EntryRun:
        """The run of entries `start` to `stop` (exclusive)."""
        macs = None if self.macs is None else self.macs[start:stop]
        return EntryRun(self.action, self.reason, self.kind, self.dev, self.keys[start:stop], macs)


Part = Change | EntryRun


def size(part: Part) -> int:
    """How many changes a part stands for."""
    return len(part) if isinstance(part, EntryRun) else 1


class Changes(Sequence[Change]):
    """An ordered sequence of changes, held as parts (see the module docstring). Empty runs are
    dropped; otherwise the parts are kept as given."""

    __slots__ = ("_ends", "parts")

    def __init__(self, parts: Iterable[Part] = ()) -> None:
        self.parts: tuple[Part, ...] = tuple(p for p in parts if isinstance(p, Change) or len(p))
        self._ends = list(accumulate(map(size, self.parts)))

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    @overload
    def __getitem__(self, index: int) -> Change: ...

    @overload
    def __getitem__(self, index: slice) -> Changes: ...

    def __getitem__(self, index: int | slice) -> Change | Changes:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return Changes(tuple(self)[index])
            return Changes(self._cut(start, stop))
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError("change index out of range")
        at = bisect_right(self._ends, i)
        part = self.parts[at]
        if isinstance(part, EntryRun):
            return part.change(i - self._ends[at] + len(part), Builder())
        return part

    def _cut(self, start: int, stop: int) -> Iterator[Part]:
        for part, end in zip(self.parts, self._ends, strict=True):
            begin = end - size(part)
            if end <= start or begin >= stop:
                continue
            if isinstance(part, EntryRun):
                yield part.cut(max(start - begin, 0), min(stop, end) - begin)
            else:
                yield part

    def __iter__(self) -> Iterator[Change]:
        build = Builder()
        for part in self.parts:
            if isinstance(part, EntryRun):
                yield from part.changes(build)
            else:
                yield part

    def __eq__(self, other: object) -> bool:
        """Equal to a tuple, list or Changes of the same changes in the same order."""
        if isinstance(other, Changes) and self.parts == other.parts:
            return True
        if not isinstance(other, Changes | list | tuple):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"Changes({list(self)!r})"

    def counts(self) -> Counter[Action]:
        """Changes by action, counted per part."""
        out: Counter[Action] = Counter()
        for part in self.parts:
            out[part.action] += size(part)
        return out

    def singles(self) -> list[Change]:
        """The changes that are not in a run (every change but the runs' entry creates/deletes)."""
        return [p for p in self.parts if isinstance(p, Change)]


def counts_of(changes: Iterable[Change]) -> Counter[Action]:
    """Changes by action (of a Changes: counted per part, its runs not built)."""
    if isinstance(changes, Changes):
        return changes.counts()
    return Counter(c.action for c in changes)


def parts_of(changes: Iterable[Change]) -> Sequence[Part]:
    """The parts of `changes`: a Changes' own, or every change as a part of its own."""
    return changes.parts if isinstance(changes, Changes) else tuple(changes)


def singles_of(changes: Iterable[Change]) -> list[Change]:
    """Every change of `changes` not held in a run (what a check of links or SAs looks at)."""
    return changes.singles() if isinstance(changes, Changes) else list(changes)


def kinds_of(changes: Sequence[Change]) -> list[str]:
    """The kind of each change, in order (a run's without building its entries)."""
    return _key_parts(changes, 0)


def picked(changes: Sequence[Change], idx: Sequence[int]) -> Sequence[Change]:
    """The changes at positions `idx`; a slice of a Changes when they are consecutive."""
    if isinstance(changes, Changes) and idx and idx[-1] - idx[0] + 1 == len(idx):
        return changes[idx[0]:idx[-1] + 1]
    return [changes[i] for i in idx]


def devices_of(changes: Sequence[Change], idx: Sequence[int]) -> list[str]:
    """The device (`key[1]`) of the fdb/neigh changes at positions `idx`, in order."""
    return _key_parts(picked(changes, idx), 1)


def _key_parts(changes: Sequence[Change], at: int) -> list[str]:
    """`key[at]` of each change, in order (0: the kind, 1: the device of an entry); a run's
    (whose entries' keys begin kind, device) without building its entries."""
    if not isinstance(changes, Changes):
        return [c.key[at] for c in changes]
    out: list[str] = []
    for part in changes.parts:
        if isinstance(part, EntryRun):
            out += [(part.kind, part.dev)[at]] * len(part)
        else:
            out.append(part.key[at])
    return out


def sort_parts(parts: Iterable[Part], key_of: Callable[[Change], Any]) -> list[Part]:
    """`parts` sorted as their changes would be by `key_of` (a function of a change's key, and
    possibly its action), with each run kept whole where no other part shares its kind and
    device: its entries are in key order and every other key sorts before or after all of them.
    A run that shares its kind and device with another part (an entry update, an entry deleted
    and created again around its replaced device) is taken apart into its changes first."""
    whole = _apart([p for p in parts if isinstance(p, Change) or len(p)])
    build = Builder()
    return sorted(whole, key=lambda p: key_of(p if isinstance(p, Change) else p.change(0, build)))


def _apart(parts: list[Part]) -> list[Part]:
    """`parts` with every run that shares its kind and device with another part as its changes."""
    runs = [p for p in parts if isinstance(p, EntryRun)]
    if not runs:
        return parts
    spots = Counter((p.kind, p.dev) if isinstance(p, EntryRun) else p.key[:2] for p in parts)
    shared = {(r.kind, r.dev) for r in runs if spots[r.kind, r.dev] > 1}
    if not shared:
        return parts
    build = Builder()
    out: list[Part] = []
    for p in parts:
        if isinstance(p, EntryRun) and (p.kind, p.dev) in shared:
            out += p.changes(build)
        else:
            out.append(p)
    return out
