"""`ByNode`: an Assignment's attachments per node, each node's built when it is asked for.

A command compiles one node, and looks up that node's attachments only (`compile_node`); the
whole index, one Python step per attachment of the cluster (32k for 1,000 nodes, 50k for the
50k-endpoint node), is built only when a caller walks it (the dot renderer, a comparison).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, compress, repeat
from operator import attrgetter, eq
from typing import Protocol, TypeVar, runtime_checkable

from overlayc.compile.lazymap import LazyMapping

_NODE = attrgetter("node")  # C-level, as the field getter of a named tuple is


class _OnNode(Protocol):
    """What ByNode indexes: `compile.assign.Attachment` (not imported: assign imports this)."""

    @property
    def node(self) -> str: ...


Attachment = TypeVar("Attachment", bound=_OnNode)
_Row = TypeVar("_Row", bound=_OnNode, covariant=True)


@runtime_checkable
class _Columns(Protocol[_Row]):
    """What a network's attachments held as columns answer (`compile.columns.AttachmentColumns`)."""

    def on_node(self, node: str) -> tuple[_Row, ...]: ...


class ByNode(LazyMapping[str, tuple[Attachment, ...]]):
    """node -> the attachments of the endpoints on it, in network order (the order of
    `attachments`), then in each network's order; only nodes holding an attachment are keys.
    Equal to the dict of the same content (`Mapping.__eq__`), iterated in the order of each
    node's first attachment, as a dict built attachment by attachment would be."""

    __slots__ = ("_all", "_attachments", "_one")

    def __init__(self, attachments: Mapping[str, Sequence[Attachment]]) -> None:
        self._attachments = attachments  # network -> its attachments, never changed afterwards
        self._one: dict[str, tuple[Attachment, ...]] = {}
        self._all: dict[str, tuple[Attachment, ...]] | None = None

    def __getitem__(self, node: str) -> tuple[Attachment, ...]:
        if self._all is not None:
            return self._all[node]
        found = self._one.get(node)
        if found is None:  # a C-level filter of each network's attachments (or of its columns)
            found = tuple(chain.from_iterable(_on_node(atts, node) for atts in self._attachments.values()))
            if not found:
                raise KeyError(node)
            self._one[node] = found
        return found

    def _built(self) -> dict[str, tuple[Attachment, ...]]:
        """Every node's, for a walk or a count (a look-up builds only its node's)."""
        if self._all is None:
            grouped: dict[str, list[Attachment]] = {}
            for atts in self._attachments.values():
                for a in atts:
                    grouped.setdefault(a.node, []).append(a)
            self._all = {node: tuple(atts) for node, atts in grouped.items()}
        return self._all


def _on_node(attachments: Sequence[Attachment], node: str) -> Iterable[Attachment]:
    """The attachments on `node` among one network's, in order: columns build only those."""
    if isinstance(attachments, _Columns):
        return attachments.on_node(node)
    return compress(attachments, map(eq, map(_NODE, attachments), repeat(node)))
