"""A read-only mapping whose dict is made on first use (`LazyMapping`): the lock's pins, the
cached task placement and the attachments by node are built only when something looks one up,
walks or counts them (`ByNode` builds a looked-up node's alone)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LazyMapping(Mapping[K, V]):
    """A Mapping over the dict `_built()` returns (made once by the subclass, on the first
    look-up, walk or len). Compares equal to a dict of the same content (Mapping.__eq__)."""

    __slots__ = ()

    def _built(self) -> Mapping[K, V]:
        raise NotImplementedError

    def __getitem__(self, key: K) -> V:
        return self._built()[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())

    def __repr__(self) -> str:
        return repr(self._built())
