"""FDB/neighbour entries held as compact keys (overlayc.kernel.entries) and diffed as sets: the
same changes, objects and state behaviour as when every entry was an object of its own."""

from __future__ import annotations

import random
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from overlayc.diff import Action, Change, Reason, diff
from overlayc.errors import PlanError
from overlayc.kernel.entries import Entries, _macs_distinct, fdb_in_key_order, mac_bytes, neigh_in_key_order
from overlayc.kernel.objects import Fdb, KernelObject, Neigh
from overlayc.kernel.state import KernelState, Observed
from overlayc.plan import order
from tests.support.planobjects import bridge, vxlan

DEVS = ("vx-a", "vx-b")
VTEPS = (IPv4Address("10.0.0.2"), IPv4Address("10.0.0.3"), IPv6Address("fd00::2"))


def _mac(i: int) -> str:
    return f"02:42:0a:00:{i >> 8:02x}:{i & 0xff:02x}"


def _random_entries(rng: random.Random, n: int) -> list[Fdb | Neigh]:
    out: list[Fdb | Neigh] = []
    for i in rng.sample(range(400), n):
        dev, mac = rng.choice(DEVS), _mac(i if rng.random() < 0.8 else i + 1000)
        out.append(Fdb(dev=dev, lladdr=mac, dst=rng.choice(VTEPS)))
        out.append(Neigh(dev=dev, dst=IPv4Address(f"172.16.{i >> 8}.{i & 0xff}"), lladdr=mac))
    return out


def _reference(desired: list[Fdb | Neigh], live: list[Fdb | Neigh]) -> set[tuple[object, ...]]:
    """The changes, object by object by key, as diff made them when every entry was an object."""
    want, have = {o.key: o for o in desired}, {o.key: o for o in live}
    out: set[tuple[object, ...]] = set()
    for key, obj in want.items():
        if key not in have:
            out.add((Action.CREATE, key, None, obj, Reason.NOT_IN_KERNEL, ()))
        elif have[key] != obj:
            out.add((Action.UPDATE, key, have[key], obj, Reason.DRIFT, ("lladdr",)))
    out |= {(Action.DELETE, key, obj, None, Reason.NOT_IN_CONFIG, ()) for key, obj in have.items()
            if key not in want}
    return out


def _as_tuples(changes: Sequence[Change]) -> set[tuple[object, ...]]:
    return {(c.action, c.key, c.before, c.after, c.reason, c.fields) for c in changes}


@pytest.mark.parametrize("seed", range(12))
def test_set_diff_of_entries_equals_the_object_by_object_diff(seed: int) -> None:
    rng = random.Random(seed)
    desired, live = _random_entries(rng, 60), _random_entries(rng, 60)
    live += [Neigh(dev=o.dev, dst=o.dst, lladdr=_mac(3000 + i))  # same address, another MAC
             for i, o in enumerate(desired[1:12:2]) if isinstance(o, Neigh)]
    live = list({o.key: o for o in live}.values())  # one neighbour per address, as the kernel
    devices: list[KernelObject] = [bridge("a"), vxlan("a"), bridge("b"), vxlan("b")]
    changes = diff(KernelState([*devices, *desired]), Observed(KernelState([*devices, *live])))
    assert _as_tuples(changes) == _reference(desired, live)
    assert len(changes) == len(_reference(desired, live))
    assert any(c.action is Action.UPDATE for c in changes)
    assert any(c.action is Action.CREATE for c in changes) and any(c.action is Action.DELETE for c in changes)


def test_an_entry_added_removed_or_with_another_mac_is_the_only_change() -> None:
    base: list[KernelObject] = [vxlan("a"), Fdb("vx-a", _mac(1), VTEPS[0]),
                                Neigh("vx-a", IPv4Address("172.16.0.1"), _mac(1))]
    extra = Fdb("vx-a", _mac(2), VTEPS[2])
    moved = Fdb("vx-a", _mac(1), VTEPS[1])  # the same MAC behind another VTEP: a new entry
    relabelled = Neigh("vx-a", IPv4Address("172.16.0.1"), _mac(9))
    assert diff(KernelState(base), Observed(KernelState(base))) == []
    [added] = diff(KernelState([*base, extra]), Observed(KernelState(base)))
    assert (added.action, added.after) == (Action.CREATE, extra)
    assert added.key == ("fdb", "vx-a", _mac(2), "fd00::2")
    [gone] = diff(KernelState(base), Observed(KernelState([*base, extra])))
    assert (gone.action, gone.before, gone.reason) == (Action.DELETE, extra, Reason.NOT_IN_CONFIG)
    swapped = diff(KernelState([*base[:1], moved, base[2]]), Observed(KernelState(base)))
    assert {(c.action, c.key) for c in swapped} == {(Action.CREATE, moved.key), (Action.DELETE, base[1].key)}
    [update] = diff(KernelState([*base[:2], relabelled]), Observed(KernelState(base)))
    assert (update.action, update.before, update.after, update.fields) == (
        Action.UPDATE, base[2], relabelled, ("lladdr",))


def test_a_foreign_entry_with_a_desired_key_is_a_collision() -> None:
    entry = Fdb("vx-a", _mac(1), VTEPS[0])
    desired = KernelState([vxlan("a"), entry])
    with pytest.raises(PlanError) as err:
        diff(desired, Observed(KernelState([vxlan("a")]), foreign={entry.key: "fdb entry, learned"}))
    assert err.value.collisions == [(entry.key, "fdb entry, learned")]
    other = ("fdb", "vx-a", _mac(2), "10.0.0.2")
    [create] = diff(desired, Observed(KernelState([vxlan("a")]), foreign={other: "fdb entry, learned"}))
    assert create.after == entry


def test_a_state_answers_for_its_entries_as_objects() -> None:
    objs: list[KernelObject] = [bridge("a"), vxlan("a"), Fdb("vx-a", _mac(2), VTEPS[2]),
                                Fdb("vx-a", _mac(1), VTEPS[0]),
                                Neigh("vx-a", IPv4Address("172.16.0.1"), _mac(1))]
    state = KernelState(objs)
    assert len(state) == 5 and len(state.entries) == 3
    kinds = ["bridge", "vxlan", "fdb", "neigh"]
    assert list(state) == sorted(objs, key=lambda o: (kinds.index(o.kind), o.key))
    assert state.keys() == [o.key for o in state]
    for obj in objs:
        assert state.get(obj.key) == obj and obj.key in state
    assert state.get(("fdb", "vx-a", _mac(3), "10.0.0.2")) is None
    assert ("neigh", "vx-a", "172.16.0.9") not in state and state.get(("neigh", "vx-a", "no-ip")) is None
    assert state.of_kind("fdb") == [objs[3], objs[2]] and state.of_kind("neigh") == [objs[4]]
    assert dict(state.items()) == {o.key: o for o in objs}
    again = KernelState.loads(state.dumps())
    assert again == state and again.dumps() == state.dumps()
    assert repr(state) == "KernelState(bridge=1, fdb=2, neigh=1, vxlan=1)"


def test_bulk_written_entries_equal_added_objects() -> None:
    entries = Entries()
    entries.add_fdb("vx-a", mac_bytes(_mac(1)), ip_address("fd00::2").packed)
    entries.add_neigh("vx-a", IPv4Address("172.16.0.1").packed, mac_bytes(_mac(1)))
    added = KernelState([Fdb("vx-a", _mac(1), VTEPS[2]), Neigh("vx-a", IPv4Address("172.16.0.1"), _mac(1))])
    assert KernelState((), entries) == added
    assert KernelState((), entries) != KernelState([Fdb("vx-a", _mac(1), VTEPS[2])])


def test_two_macs_for_one_neighbour_are_refused_and_duplicates_are_one_entry() -> None:
    state = KernelState([Neigh("vx-a", IPv4Address("172.16.0.1"), _mac(1))])
    state.add(Neigh("vx-a", IPv4Address("172.16.0.1"), _mac(1)))
    state.add(Fdb("vx-a", _mac(1), VTEPS[0]))
    state.add(Fdb("vx-a", _mac(1), VTEPS[0]))
    assert len(state) == 2
    with pytest.raises(ValueError, match="two different objects with key"):
        state.add(Neigh("vx-a", IPv4Address("172.16.0.1"), _mac(2)))


def test_ipv6_entries_keep_their_family() -> None:
    """A 16-byte address is an IPv6 one, on the fdb (VTEP) and on the neighbour (overlay) side."""
    entries = Entries()
    dst = IPv6Address("fd00:1::5")
    entries.add_neigh("vx-a", dst.packed, mac_bytes(_mac(5)))
    entries.add_fdb("vx-a", mac_bytes(_mac(5)), VTEPS[2].packed)
    got = sorted(entries.objects(), key=lambda o: o.kind)
    assert [(o.kind, o.dst) for o in got] == [("fdb", VTEPS[2]), ("neigh", dst)]
    assert KernelState((), entries).get(("neigh", "vx-a", "fd00:1::5")) == got[1]


def test_entries_of_a_replaced_vxlan_are_recreated_in_order() -> None:
    kept: list[KernelObject] = [Fdb("vx-a", _mac(i), VTEPS[0]) for i in (3, 1, 2)]
    kept.append(Neigh("vx-a", IPv4Address("172.16.0.1"), _mac(1)))
    changes = order(diff(KernelState([vxlan("a"), *kept]), Observed(KernelState([vxlan("a", vni=9), *kept]))))
    entries = [(c.action, c.key) for c in changes if c.kind != "vxlan"]
    deletes = [k for a, k in entries if a is Action.DELETE]
    creates = [k for a, k in entries if a is Action.CREATE]
    assert deletes == [kept[3].key, *sorted(o.key for o in kept[:3])]
    assert creates == [*sorted(o.key for o in kept[:3]), kept[3].key]
    assert all(c.reason is Reason.DEVICE_REPLACED for c in changes if c.kind != "vxlan")


def test_built_entries_equal_constructed_ones_key_and_all() -> None:
    """Builder makes objects without `__init__` (objects.fdb_of/neigh_of): equal, and with the
    key, hash and repr `__init__` gives them, for both families."""
    entries = Entries()
    made: list[Fdb | Neigh] = []
    vteps: tuple[IPv4Address | IPv6Address, ...] = VTEPS
    for i, (vtep, dst) in enumerate(zip(vteps, ("172.16.0.1", "fd00:1::5", "172.16.0.10"), strict=True)):
        mac = _mac(i)
        made += [Fdb("vx-a", mac, vtep), Neigh("vx-a", ip_address(dst), mac)]
        entries.add_fdb("vx-a", mac_bytes(mac), vtep.packed)
        entries.add_neigh("vx-a", ip_address(dst).packed, mac_bytes(mac))
    built = sorted(entries.objects(), key=lambda o: o.key)
    made.sort(key=lambda o: o.key)
    assert built == made
    assert [(o.key, hash(o), repr(o)) for o in built] == [(o.key, hash(o), repr(o)) for o in made]
    devices: list[KernelObject] = [bridge("a"), vxlan("a")]
    changes = diff(KernelState(devices), Observed(KernelState([*devices, *made])))
    assert [c.key for c in changes] == sorted(o.key for o in made)  # delete order: by key


@pytest.mark.parametrize("seed", range(6))
def test_a_device_without_live_entries_gets_every_entry_created_in_key_order(seed: int) -> None:
    rng = random.Random(seed)
    desired, live = _random_entries(rng, 60), _random_entries(rng, 60)
    live = list({o.key: o for o in live if o.dev == "vx-a"}.values())  # nothing live on vx-b
    devices: list[KernelObject] = [bridge("a"), vxlan("a"), bridge("b"), vxlan("b")]
    changes = diff(KernelState([*devices, *desired]), Observed(KernelState([*devices, *live])))
    assert _as_tuples(changes) == _reference(desired, live)
    on_b = [c for c in changes if c.key[1] == "vx-b"]
    assert on_b and all(c.action is Action.CREATE for c in on_b)
    for kind in ("fdb", "neigh"):
        keys = [c.key for c in on_b if c.kind == kind]
        wanted = {o.key for o in desired if o.dev == "vx-b" and o.kind == kind}
        assert keys == sorted(keys) and len(keys) == len(wanted)


def test_ipv4_neighbours_sort_as_their_texts_without_making_them() -> None:
    """Every pair of octet values in two positions (65,536 addresses, shuffled) and random
    addresses: the order of `neigh_in_key_order` is the order of the addresses' texts."""
    rng = random.Random(7)
    pairs = [bytes((a, b)) for a in range(256) for b in range(256)]
    for dsts in ([b"\x0a\x00" + p for p in pairs], [p + b"\x01\xff" for p in pairs],
                 [rng.randbytes(4) for _ in range(5000)]):
        rng.shuffle(dsts)
        ordered = neigh_in_key_order(dsts)
        assert ordered == sorted(dsts, key=lambda d: str(IPv4Address(d)))
        assert {id(d) for d in ordered} == {id(d) for d in dsts}  # the keys' own objects, no copies


def test_neighbours_of_both_families_sort_as_their_texts() -> None:
    dsts = [IPv4Address("10.0.0.10").packed, IPv6Address("fd00::2").packed, IPv4Address("10.0.0.2").packed,
            IPv6Address("fd00::10").packed]
    assert neigh_in_key_order(dsts) == sorted(dsts, key=lambda d: str(ip_address(d)))
    assert neigh_in_key_order([]) == []


@pytest.mark.parametrize("hint", ["exact", "shuffled", "duplicate", "missing", "extra", "none"])
def test_the_order_fdb_keys_were_written_in_never_changes_the_creates(hint: str) -> None:
    """`Entries.fdb_order` (compile's hint) is used only while it holds exactly the device's
    keys; any other hint, and none, gives the same creates, in key order (a MAC behind two
    VTEPs included: those sort by the VTEPs' texts)."""
    rng = random.Random(3)
    keys = [rng.randbytes(6) + IPv4Address("10.0.0.2").packed for _ in range(300)]
    keys += [keys[0][:6] + IPv4Address("10.0.0.10").packed]  # "10.0.0.10" < "10.0.0.2"
    desired = Entries()
    desired.fdb["vx-a"] = set(keys)
    order = {"exact": list(keys), "shuffled": rng.sample(keys, len(keys)),
             "duplicate": [*keys[:-1], keys[0]], "missing": keys[:-1], "extra": [*keys[1:], b"\x02" * 10],
             "none": None}[hint]
    if order is not None:
        desired.fdb_order["vx-a"] = order
    reference = Entries()
    reference.fdb["vx-a"] = set(keys)
    expected = reference.difference(Entries())
    assert desired.difference(Entries()) == expected
    changes = diff(KernelState([bridge("a"), vxlan("a")], entries=desired), Observed(KernelState()))
    assert [c.key for c in changes if c.kind == "fdb"] == sorted(o.key for o in desired.objects())


@pytest.mark.parametrize("seed", range(6))
def test_fdb_keys_sort_as_their_keys_whether_macs_repeat_or_not(seed: int) -> None:
    """`fdb_in_key_order` is the order of the `Fdb.key`s (MAC text, then the VTEP's text): MACs
    told apart a column at a time when every key has one length, one at a time otherwise; a MAC
    behind several VTEPs (IPv4 ones whose texts sort unlike their bytes, and IPv6 ones)."""
    rng = random.Random(seed)
    vteps: list[IPv4Address | IPv6Address] = [IPv4Address("10.0.0.9"), IPv4Address("10.0.0.10"),
                                              IPv4Address("10.0.1.2"), IPv6Address("fd00::2"),
                                              IPv6Address("fd00::10")]
    for _ in range(60):
        family = rng.choice([(4,), (6,), (4, 6)])
        pool = [v for v in vteps if v.version in family]
        macs = [rng.randbytes(6) for _ in range(rng.randint(1, 40))]
        macs += rng.sample(macs, k=rng.randint(0, len(macs))) if rng.random() < 0.5 else []  # repeated
        keys = list({m + rng.choice(pool).packed for m in macs})
        rng.shuffle(keys)
        want = sorted(keys, key=lambda k: Fdb(dev="vx", lladdr=k[:6].hex(":"), dst=ip_address(k[6:])).key)
        assert fdb_in_key_order(keys) == want
        assert _macs_distinct(sorted(keys)) == (len({k[:6] for k in keys}) == len(keys))
    assert fdb_in_key_order([]) == [] and _macs_distinct([]) and _macs_distinct([bytes(10)])


def test_adjacent_keys_of_one_mac_are_found_in_every_byte_of_it() -> None:
    base = bytes.fromhex("02420a000102") + bytes([10, 0, 0, 2])
    for byte in range(6):  # keys differing in one MAC byte only: distinct MACs
        other = bytearray(base)
        other[byte] ^= 0x80
        assert _macs_distinct(sorted([base, bytes(other)]))
    same_mac = base[:6] + bytes([10, 0, 0, 3])
    assert not _macs_distinct(sorted([base, same_mac, bytes.fromhex("02420a0001ff") + base[6:]]))
