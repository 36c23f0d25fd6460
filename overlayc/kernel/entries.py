"""FDB and neighbour entries held as compact keys, per vxlan device (the bulk of a node's state).

A node holds one FDB and one neighbour entry per remote endpoint: tens of thousands. Held as
`Fdb`/`Neigh` objects they cost a frozen object, a key tuple and two texts each, built on the
desired side by compile and on the live side by observe, and compared one by one by diff.
`Entries` holds them as the bytes the kernel speaks instead, per device:

- an FDB entry as `mac + dst`: 6 MAC bytes, then the packed VTEP address (4 bytes for IPv4,
  16 for IPv6): the whole entry is its identity (`Fdb.key`: dev, lladdr, dst);
- a neighbour entry as `dst → mac`: the packed address (4 or 16 bytes) is its identity
  (`Neigh.key`: dev, dst), the MAC its one updatable value.

The family is the length of the packed address, so IPv4 and IPv6 entries live side by side.
Compile and observe fill the same shape, diff compares them as set differences per device
(`difference`), and `Fdb`/`Neigh` objects are built only for what a caller asks for: the
entries that differ, a key looked up, or a whole-state walk (JSON, render).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterable, Iterator
from ipaddress import IPv4Address, IPv6Address
from itertools import islice
from operator import eq, itemgetter, methodcaller

from overlayc.kernel.objects import Fdb, IPAddress, Neigh
from overlayc.kernel.ownership import Key

ENTRY_KINDS = frozenset({"fdb", "neigh"})


def _packed(text: str) -> bytes:
    """The packed bytes of an address text (OSError when it is none); `inet_pton` is C: a saved
    plan or a plan's digests look up one key per change, 100k of them."""
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)


EntryKeys = tuple[str, str, list[bytes], list[bytes] | None]
"""Entries of one kind on one device: (kind, dev, keys, MACs). Keys in the order of the objects'
keys: fdb `mac + dst` (MACs None), neighbour `dst` with `MACs[i]` the MAC of `keys[i]`."""


def address_text(packed: bytes) -> str:
    """The text of a packed address as a key holds it (`Fdb.key`, `Neigh.key`): IPv4 dotted,
    IPv6 in its compressed form (`str` of an IPv6Address, which `inet_ntop` does not always give)."""
    return socket.inet_ntoa(packed) if len(packed) == 4 else str(IPv6Address(packed))


def fdb_in_key_order(keys: Iterable[bytes]) -> list[bytes]:
    """FDB keys (`mac + dst`) in the order of their `Fdb.key`s: by MAC (its text sorts as its
    bytes), then by the text of the dst, which sorts as its bytes only while each MAC has one."""
    out = sorted(keys)
    if not _macs_distinct(out):  # a MAC behind several VTEPs: by their texts
        out.sort(key=lambda k: (k[:6], address_text(k[6:])))
    return out


def _macs_distinct(keys: list[bytes]) -> bool:
    """Whether the sorted fdb keys `keys` (`mac + dst`) have distinct MACs, that is, no two
    neighbours share their first 6 bytes. Keys of one length (every VTEP of one family, the
    common case) are compared as columns: byte j of every key is `joined[j::width]`, and byte
    i of `differ`, the OR over j of (byte j of key i) XOR (byte j of key i+1), is 0 exactly when
    keys i and i+1 have one MAC; a dozen C-level operations on n-byte integers, instead of a
    slice and a set entry per key (50k of them: ~6 ms)."""
    n = len(keys)
    if n < 2:
        return True
    width, joined = len(keys[0]), b"".join(keys)
    if len(joined) != width * n:  # IPv4 and IPv6 VTEPs: every key is 6 + 4 or 6 + 16 bytes long,
        return len(set(map(_MAC_PART, keys))) == n  # so one length is a total of n times it
    differ = 0
    for j in range(6):
        column = joined[j::width]
        differ |= int.from_bytes(column[:-1]) ^ int.from_bytes(column[1:])
    return b"\0" not in differ.to_bytes(n - 1)


def neigh_in_key_order(dsts: Iterable[bytes]) -> list[bytes]:
    """Neighbour keys (packed `dst`) in the order of their `Neigh.key`s: by the text of the address.

    IPv4 alone (the common case) without making the texts: a dotted quad's text order is the
    order of its four octets' texts, each followed by a dot (`"1."` < `"10."` < `"2."`; the end
    of the text sorts below a digit as the dot does), so the packed bytes sort as their texts
    once each octet is replaced by its rank in that order (`_TO_RANK`, a permutation of the
    byte values: `bytes.translate`, C)."""
    keys = list(dsts)
    if len(b"".join(keys)) == 4 * len(keys):  # IPv4 alone (a key is 4 or 16 bytes long)
        return sorted(keys, key=_RANKED)  # the keys' own objects, by their ranked bytes
    return sorted(keys, key=address_text)


_BY_TEXT = bytes(sorted(range(256), key=lambda octet: f"{octet}."))  # the octets in the order of their texts
_TO_RANK = bytes(map(_BY_TEXT.index, range(256)))  # octet -> its rank in that order
_RANKED = methodcaller("translate", _TO_RANK)  # a key's bytes ranked: C, no Python call per key


_MAC_PART = itemgetter(slice(0, 6))  # the MAC of an fdb key `mac + dst`


def mac_bytes(text: str) -> bytes:
    """The 6 bytes of a canonical MAC text (`02:42:0a:00:00:02`)."""
    return bytes.fromhex(text.replace(":", ""))


def address_of(packed: bytes) -> IPAddress:
    """The address of 4 (IPv4) or 16 (IPv6) packed bytes."""
    return IPv4Address(packed) if len(packed) == 4 else IPv6Address(packed)


def fdb_object(dev: str, key: bytes) -> Fdb:
    """The `Fdb` of compact key `mac + dst` on `dev`."""
    return Fdb(dev=dev, lladdr=key[:6].hex(":"), dst=address_of(key[6:]))


def neigh_object(dev: str, dst: bytes, mac: bytes) -> Neigh:
    """The `Neigh` of `dst → mac` on `dev`."""
    return Neigh(dev=dev, dst=address_of(dst), lladdr=mac.hex(":"))


_set = object.__setattr__  # the frozen dataclasses' own way to set a field


def fdb_of(dev: str, lladdr: str, dst: IPAddress, dst_text: str) -> Fdb:
    """`Fdb(dev, lladdr, dst)`, whose key's last part `dst_text` (`str(dst)`, interned) the caller
    has at hand: `Builder` makes one per entry (100k) and skips `__init__` recomputing the text
    of a VTEP shared by thousands. Values are canonical."""
    obj = object.__new__(Fdb)
    _set(obj, "dev", dev)
    _set(obj, "lladdr", lladdr)
    _set(obj, "dst", dst)
    _set(obj, "_key", ("fdb", dev, lladdr, dst_text))
    return obj


def neigh_of(dev: str, dst: IPAddress, dst_text: str, lladdr: str) -> Neigh:
    """`Neigh(dev, dst, lladdr)` with `dst_text` = `str(dst)` at hand (as `fdb_of`)."""
    obj = object.__new__(Neigh)
    _set(obj, "dev", dev)
    _set(obj, "dst", dst)
    _set(obj, "lladdr", lladdr)
    _set(obj, "_key", ("neigh", dev, dst_text))
    return obj


class Builder:
    """`Fdb`/`Neigh` objects of compact entries that share what entries have in common, as
    objects built from the configuration do: the MAC text of an endpoint (its fdb and its neigh
    entry) and the address of a VTEP (every fdb entry behind it). One per walk: a plan of
    100k creates then holds one MAC text per endpoint and one address per VTEP."""

    __slots__ = ("_macs", "_vteps")

    def __init__(self) -> None:
        self._macs: dict[bytes, str] = {}
        self._vteps: dict[bytes, tuple[IPAddress, str]] = {}  # an address and its interned text

    def mac(self, raw: bytes) -> str:
        text = self._macs.get(raw)
        if text is None:
            text = self._macs[raw] = raw.hex(":")
        return text

    def fdb(self, dev: str, key: bytes) -> Fdb:
        """`fdb_object(dev, key)`."""
        raw = key[6:]
        vtep = self._vteps.get(raw)
        if vtep is None:
            address = address_of(raw)
            vtep = self._vteps[raw] = address, sys.intern(str(address))
        return fdb_of(dev, self.mac(key[:6]), *vtep)

    def neigh(self, dev: str, dst: bytes, mac: bytes) -> Neigh:
        """`neigh_object(dev, dst, mac)`."""
        if len(dst) == 4:  # inet_ntoa is C; str() of an IPv4Address is not
            return neigh_of(dev, IPv4Address(dst), socket.inet_ntoa(dst), self.mac(mac))
        address = IPv6Address(dst)
        return neigh_of(dev, address, str(address), self.mac(mac))


class Entries:
    """FDB keys (`mac + dst`) and neighbours (`dst → mac`) by device name.

    `fdb` and `neigh` are public for the bulk writers (compile, observe) and readers (diff);
    a device is present only while it holds an entry of that kind, so two tables holding the
    same entries compare equal. `fdb_order` is a bulk writer's hint, not part of the content:
    a device's fdb keys in the order they were written (compile writes them nearly in key
    order; a set iterates in hash order), used by `difference` only while it holds exactly
    the device's keys."""

    __slots__ = ("fdb", "fdb_order", "neigh")

    def __init__(self) -> None:
        self.fdb: dict[str, set[bytes]] = {}
        self.neigh: dict[str, dict[bytes, bytes]] = {}
        self.fdb_order: dict[str, list[bytes]] = {}

    def _fdb_in_key_order(self, dev: str) -> list[bytes]:
        """`fdb_in_key_order` of the fdb keys of `dev`, sorted from `fdb_order` when it holds
        exactly them (each once: a key written twice, or one written elsewhere, and the table's
        hash order is sorted instead). Checked without a set of them: every written key is in
        the table, as many as it holds, and none twice (equal keys are neighbours once sorted)."""
        keys, order = self.fdb.get(dev, set()), self.fdb_order.get(dev)
        if order is not None and len(order) == len(keys) and keys.issuperset(order):
            out = fdb_in_key_order(order)
            if not any(map(eq, out, islice(out, 1, None))):
                return out
        return fdb_in_key_order(keys)

    def add_fdb(self, dev: str, mac: bytes, dst: bytes) -> None:
        self.fdb.setdefault(dev, set()).add(mac + dst)

    def add_neigh(self, dev: str, dst: bytes, mac: bytes) -> None:
        """Adds `dst → mac` on `dev`; ValueError when `dst` is there with another MAC."""
        table = self.neigh.setdefault(dev, {})
        have = table.setdefault(dst, mac)
        if have != mac:
            raise ValueError(f"two different objects with key {('neigh', dev, str(address_of(dst)))}: "
                             f"{neigh_object(dev, dst, have)!r} and {neigh_object(dev, dst, mac)!r}")

    def add(self, obj: Fdb | Neigh) -> None:
        if isinstance(obj, Fdb):
            self.add_fdb(obj.dev, mac_bytes(obj.lladdr), obj.dst.packed)
        else:
            self.add_neigh(obj.dev, obj.dst.packed, mac_bytes(obj.lladdr))

    def __len__(self) -> int:
        return sum(map(len, self.fdb.values())) + sum(map(len, self.neigh.values()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entries) and self.fdb == other.fdb and self.neigh == other.neigh

    def counts(self) -> dict[str, int]:
        """Entries by kind (kinds without an entry left out)."""
        out = {"fdb": sum(map(len, self.fdb.values())), "neigh": sum(map(len, self.neigh.values()))}
        return {kind: n for kind, n in out.items() if n}

    def objects(self, devs: Iterable[str] | None = None) -> Iterator[Fdb | Neigh]:
        """Every entry (of the devices `devs`, None: of all) as an object, in no particular order."""
        build = Builder()
        for dev in self.fdb if devs is None else devs:
            for key in self.fdb.get(dev, ()):
                yield build.fdb(dev, key)
        for dev in self.neigh if devs is None else devs:
            for dst, mac in self.neigh.get(dev, {}).items():
                yield build.neigh(dev, dst, mac)

    def get(self, key: Key) -> Fdb | Neigh | None:
        """The entry of an `Fdb.key` / `Neigh.key`, or None (also for a key of another shape,
        or one whose texts are not the canonical ones a key is made of)."""
        try:
            found: Fdb | Neigh | None = None
            table: dict[str, set[bytes]] | dict[str, dict[bytes, bytes]] = (
                self.fdb if key[0] == "fdb" else self.neigh)
            if key[1] not in table:  # no entry on that device: nothing to parse (a plan's creates)
                return None
            if key[0] == "fdb" and len(key) == 4:
                dev, entry = key[1], mac_bytes(key[2]) + _packed(key[3])
                found = fdb_object(dev, entry) if entry in self.fdb.get(dev, ()) else None
            elif key[0] == "neigh" and len(key) == 3:
                dev, dst = key[1], _packed(key[2])
                mac = self.neigh.get(dev, {}).get(dst)
                found = None if mac is None else neigh_object(dev, dst, mac)
        except (ValueError, TypeError, OSError, IndexError):  # not an address, a MAC, a device name
            return None
        return found if found is not None and found.key == key else None

    def difference(self, live: Entries) -> tuple[list[EntryKeys], list[EntryKeys], list[tuple[Neigh, Neigh]]]:
        """(in self only, in `live` only, neighbours in both with another MAC as (live, self)),
        with self the desired side: set differences per device. The first two are compact, one
        `EntryKeys` per kind and device, keys in key order; objects only for the third (few)."""
        create: list[EntryKeys] = []
        delete: list[EntryKeys] = []
        for dev in sorted(self.fdb.keys() | live.fdb.keys()):
            want, have = self.fdb.get(dev, set()), live.fdb.get(dev, set())
            if not have:  # a device without live fdb entries (a plan from empty): all are new,
                if want:  # sorted from the order they were written in, when known (near-sorted)
                    create.append(("fdb", dev, self._fdb_in_key_order(dev), None))
                continue
            if want != have:
                if new := want - have:
                    create.append(("fdb", dev, fdb_in_key_order(new), None))
                if gone := have - want:
                    delete.append(("fdb", dev, fdb_in_key_order(gone), None))
        changed: list[tuple[Neigh, Neigh]] = []
        build = Builder()
        for dev in sorted(self.neigh.keys() | live.neigh.keys()):
            wants, haves = self.neigh.get(dev, {}), live.neigh.get(dev, {})
            if not haves:  # a device without live neighbours (a plan from empty): all are new
                if new_dsts := neigh_in_key_order(wants):
                    create.append(("neigh", dev, new_dsts, list(map(wants.__getitem__, new_dsts))))
                continue
            if wants == haves:
                continue
            if new_dsts := neigh_in_key_order(wants.keys() - haves.keys()):
                create.append(("neigh", dev, new_dsts, [wants[d] for d in new_dsts]))
            if gone_dsts := neigh_in_key_order(haves.keys() - wants.keys()):
                delete.append(("neigh", dev, gone_dsts, [haves[d] for d in gone_dsts]))
            changed += ((build.neigh(dev, d, haves[d]), build.neigh(dev, d, m))
                        for d, m in wants.items() if d in haves and haves[d] != m)
        return create, delete, changed
