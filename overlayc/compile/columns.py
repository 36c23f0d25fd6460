"""One network's attachments as columns, in the packed form compile writes kernel entries in.

An apply of a node that sees 50k remote endpoints reads its Assignment from the state
directory's cache (`overlayc.files.assign_cache`) and compiles one fdb and one neigh entry per
endpoint as compact bytes keys (`overlayc.kernel.entries`). Built as `Attachment` rows, each
endpoint cost an IPv4Address and a tuple on the way in, and its address and MAC were packed
again on the way out (~0.2 s of the 50k-endpoint apply). `AttachmentColumns` holds what the
cache stores instead — per attachment its endpoint, node, packed IPv4 address, packed MAC,
managed flag and packed IPv6 address — and compile reads the columns (`remote_columns`). It is
still a sequence of `Attachment`s, equal to the tuple `resolve` makes: the rows are built, once,
only when something walks it (the dot renderer, a comparison); `on_node` builds those of one node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from ipaddress import IPv4Address, IPv6Address
from itertools import compress, repeat
from operator import eq, is_, is_not, itemgetter, ne
from typing import Any, NamedTuple, cast, overload

from overlayc.compile.assign import Attachment
from overlayc.compile.lazymap import LazyMapping

_new_tuple = tuple.__new__  # an Attachment of one row, without the named tuple's Python `__new__`
_ENDPOINT, _NODE, _IP, _MAC, _MANAGED, _IP6 = (
    itemgetter(Attachment._fields.index(f)) for f in ("endpoint", "node", "ip", "mac", "managed", "ip6"))


class AttachmentColumns(Sequence[Attachment]):
    """The attachments to `network`, in order, as columns of one length: `endpoints`, `nodes`,
    `ips` (4 packed bytes, None: no IPv4 address), `macs` (6 bytes), `managed`, `ips6` (16 packed
    bytes or None). The columns are never changed after construction; the caller passes
    well-formed ones (`overlayc.files.assign_cache` checks a file's before).

    As a sequence it is the tuple of `Attachment`s `resolve` makes for the network, built on
    first use; it compares equal to any sequence of the same attachments."""

    __slots__ = ("_rows", "endpoints", "ips", "ips6", "macs", "managed", "network", "nodes")

    def __init__(self, network: str, endpoints: list[str], nodes: list[str], ips: list[bytes | None],
                 macs: list[bytes], managed: list[bool], ips6: list[bytes | None]) -> None:
        self.network = network
        self.endpoints, self.nodes, self.ips, self.macs = endpoints, nodes, ips, macs
        self.managed, self.ips6 = managed, ips6
        self._rows: tuple[Attachment, ...] | None = None

    @classmethod
    def of(cls, network: str, attachments: Sequence[Attachment]) -> AttachmentColumns:
        """The columns of `attachments` (all to `network`), a column at a time (C-level maps but
        for one `IPv4Address.__int__` per address)."""
        if isinstance(attachments, AttachmentColumns):
            return attachments
        macs = list(map(bytes.fromhex, map(str.replace, map(_MAC, attachments), repeat(":"), repeat(""))))
        ips = _packed(list(map(_IP, attachments)), IPv4Address.__int__, 4)
        ips6 = _packed(list(map(_IP6, attachments)), IPv6Address.__int__, 16)
        return cls(network, list(map(_ENDPOINT, attachments)), list(map(_NODE, attachments)), ips, macs,
                   list(map(_MANAGED, attachments)), ips6)

    def on_node(self, node: str) -> tuple[Attachment, ...]:
        """The attachments on `node`, in order; only their rows are built (the whole sequence's
        when it is built already)."""
        if self._rows is not None:
            return tuple(compress(self._rows, map(eq, self.nodes, repeat(node))))
        here = list(map(eq, self.nodes, repeat(node)))
        if not any(here):
            return ()
        return self._where(here).rows()

    def _where(self, keep: list[bool]) -> AttachmentColumns:
        """The columns of the attachments where `keep` is true."""
        return AttachmentColumns(self.network, list(compress(self.endpoints, keep)),
                                 list(compress(self.nodes, keep)), list(compress(self.ips, keep)),
                                 list(compress(self.macs, keep)), list(compress(self.managed, keep)),
                                 list(compress(self.ips6, keep)))

    def rows(self) -> tuple[Attachment, ...]:
        """The `Attachment`s, built at the first call (a column at a time) and kept."""
        if self._rows is None:
            n = len(self.endpoints)
            macs = map(bytes.hex, self.macs, repeat(":", n))
            rows = zip(self.endpoints, self.nodes, repeat(self.network, n), _addresses(IPv4Address, self.ips),
                       macs, self.managed, _addresses(IPv6Address, self.ips6), strict=True)
            self._rows = tuple(map(_new_tuple, repeat(Attachment, n), rows))
        return self._rows

    def __len__(self) -> int:
        return len(self.endpoints)

    @overload
    def __getitem__(self, index: int) -> Attachment: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Attachment, ...]: ...

    def __getitem__(self, index: int | slice) -> Attachment | tuple[Attachment, ...]:
        return self.rows()[index]

    def __iter__(self) -> Iterator[Attachment]:
        return iter(self.rows())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AttachmentColumns):
            return self.network == other.network and self._columns() == other._columns()
        return isinstance(other, Sequence) and self.rows() == tuple(other)

    __hash__ = None  # type: ignore[assignment]  # equal to tuples, so not hashable as one

    def __repr__(self) -> str:
        return repr(self.rows())

    def _columns(self) -> tuple[list[Any], ...]:
        return (self.endpoints, self.nodes, self.ips, self.macs, self.managed, self.ips6)


class TaskColumns(LazyMapping[str, str]):
    """task -> node, held as two columns of one length (`names`, `nodes`, never changed): the
    dict is built at the first look-up. A node's apply from the assignment cache never looks
    one up (the placement is in the attachments); building it cost 50k inserts."""

    __slots__ = ("_dict", "names", "nodes")

    def __init__(self, names: list[str], nodes: list[str]) -> None:
        self.names, self.nodes = names, nodes
        self._dict: dict[str, str] | None = None

    def _built(self) -> dict[str, str]:
        if self._dict is None:
            self._dict = dict(zip(self.names, self.nodes, strict=True))
        return self._dict


class Remote(NamedTuple):
    """What compile writes fdb and neigh entries from, for one network's attachments on other
    nodes than the one compiled, in order: their `nodes` and packed `macs` (an fdb entry each),
    and (packed addresses, their MACs) of those with an IPv4 address (`v4`) and an IPv6 one (`v6`)."""

    nodes: list[str]
    macs: list[bytes]
    v4: tuple[list[bytes], list[bytes]]
    v6: tuple[list[bytes], list[bytes]]


def remote_columns(attachments: Sequence[Attachment], node: str) -> Remote:
    """The `Remote` of one network's `attachments` for `node`: read from the columns when
    `attachments` holds them (nothing to pack), else from the rows on other nodes (a resolved
    Assignment's tuple), a column at a time."""
    if isinstance(attachments, AttachmentColumns):
        c = attachments
        keep = list(map(ne, c.nodes, repeat(node)))
        if all(keep):
            nodes, macs, ips, ips6 = c.nodes, c.macs, c.ips, c.ips6
        else:
            nodes, macs = list(compress(c.nodes, keep)), list(compress(c.macs, keep))
            ips, ips6 = list(compress(c.ips, keep)), list(compress(c.ips6, keep))
        return Remote(nodes, macs, _addressed(ips, macs, _same), _addressed(ips6, macs, _same))
    others = list(compress(attachments, map(ne, map(_NODE, attachments), repeat(node))))
    macs = list(map(bytes.fromhex, map(str.replace, map(_MAC, others), repeat(":"), repeat(""))))
    return Remote(list(map(_NODE, others)), macs, _addressed(list(map(_IP, others)), macs, _pack4),
                  _addressed(list(map(_IP6, others)), macs, _pack6))


def _addressed(column: list[Any], macs: list[bytes],
               pack: Callable[[Iterable[Any]], list[bytes]]) -> tuple[list[bytes], list[bytes]]:
    """(the packed addresses, the MACs) of the values of `column` that are not None (addresses,
    or packed ones), `macs` the MACs of the whole column. (`None in` would call an address's
    Python `__eq__` for each value: `is_not` is C.)"""
    has = list(map(is_not, column, repeat(None)))
    if all(has):
        return pack(column), macs
    if not any(has):
        return [], []
    return pack(compress(column, has)), list(compress(macs, has))


def _same(packed: Iterable[bytes]) -> list[bytes]:
    """Packed addresses as they are (the columns' own list when it is one)."""
    return packed if isinstance(packed, list) else list(packed)


def _pack4(ips: Iterable[IPv4Address]) -> list[bytes]:
    """`ip.packed` of each of `ips` (the property is a Python call per address)."""
    return list(map(int.to_bytes, map(IPv4Address.__int__, ips), repeat(4)))


def _pack6(ips: Iterable[IPv6Address]) -> list[bytes]:
    """`ip.packed` of each of `ips`."""
    return list(map(int.to_bytes, map(IPv6Address.__int__, ips), repeat(16)))


def _packed(addresses: list[Any], to_int: Callable[[Any], int], size: int) -> list[bytes | None]:
    """The packed bytes of each address of a column (`size` of them), None kept. (`None in`
    would call the address's Python `__eq__` for each: `is_` is C.)"""
    absent = list(map(is_, addresses, repeat(None)))
    if not any(absent):
        return list(map(int.to_bytes, map(to_int, addresses), repeat(size)))
    if all(absent):  # a network without a subnet of this family
        return [None] * len(addresses)
    return [None if a is None else to_int(a).to_bytes(size) for a in addresses]


def _addresses(make: Callable[[bytes], Any], column: list[bytes | None]) -> Iterator[Any]:
    """The address objects of a column of packed addresses, None kept."""
    if None not in column:
        return map(make, cast(list[bytes], column))
    return iter([None if value is None else make(value) for value in column])
