"""The executor's fast path, the cached keys of fdb/neigh entries and the lazy lock (pure)."""

from __future__ import annotations

import itertools
from ipaddress import IPv4Address

from overlayc.apply.requests import entry_messages, requests_for
from overlayc.compile.lock import LazyPins, Lock, Pin
from overlayc.diff import Action, Change, Reason, diff
from overlayc.kernel.objects import Fdb, Neigh, from_json, to_json
from overlayc.kernel.state import KernelState, Observed
from overlayc.netlink.core import NLM_F_REQUEST, pack_msg
from tests.support.planobjects import bridge, fdb, neigh, vxlan

MAC = "02:42:0a:01:00:06"
ENTRIES: list[Fdb | Neigh] = [
    Fdb("ovx1", MAC, IPv4Address("10.0.0.2")), Neigh("ovx1", IPv4Address("10.1.0.6"), MAC),
    Fdb("ovx2", "0e:00:00:00:00:01", IPv4Address("192.0.2.255")),
    Neigh("ovx2", IPv4Address("172.16.0.1"), "0e:00:00:00:00:01"),
]
IFINDEX = {"ovx1": 7, "ovx2": 300}


def _change(obj: Fdb | Neigh, action: Action = Action.CREATE) -> Change:
    before = obj if action is not Action.CREATE else None
    return Change(action, obj.key, before, obj, Reason.NOT_IN_KERNEL)


def test_fast_path_bytes_equal_the_general_path() -> None:
    for action in (Action.CREATE, Action.UPDATE):
        changes = [_change(o, action) for o in ENTRIES]
        general = [pack_msg(t, f | NLM_F_REQUEST, 41 + i, body)  # without ACK: batch.send_chunked
                   for i, (t, f, body) in enumerate(itertools.chain.from_iterable(
                       requests_for(c, IFINDEX) for c in changes))]
        assert entry_messages(changes, IFINDEX, 41) == general


def test_fast_path_declines_deletes_other_kinds_and_missing_devices() -> None:
    assert entry_messages([_change(ENTRIES[0], Action.DELETE)], IFINDEX, 1) is None
    assert entry_messages([_change(ENTRIES[0], Action.REPLACE)], IFINDEX, 1) is None
    assert entry_messages([_change(ENTRIES[0])], {"ovx2": 3}, 1) is None
    assert entry_messages([], IFINDEX, 1) == []
    for obj in ENTRIES[:2]:  # a malformed change: the general path refuses it
        assert entry_messages([Change(Action.CREATE, obj.key, None, None, Reason.DRIFT)], IFINDEX, 1) is None


def test_fast_path_sends_the_new_mac_of_an_updated_neighbour() -> None:
    old, new = ENTRIES[1], Neigh("ovx1", IPv4Address("10.1.0.6"), "02:00:00:00:00:99")
    assert isinstance(old, Neigh)
    [message] = entry_messages([Change(Action.UPDATE, old.key, old, new, Reason.DRIFT, ("lladdr",))],
                               IFINDEX, 1) or []
    assert message.endswith(bytes.fromhex("020000000099") + bytes(2))  # NDA_LLADDR, padded


def test_cached_key_is_the_documented_key_and_stays_out_of_json_repr_and_equality() -> None:
    f, n = ENTRIES[0], ENTRIES[1]
    assert f.key == ("fdb", "ovx1", MAC, "10.0.0.2")
    assert n.key == ("neigh", "ovx1", "10.1.0.6")
    assert "_key" not in to_json(f) and "_key" not in repr(n)
    assert from_json(to_json(f)) == f and hash(from_json(to_json(n))) == hash(n)


def _fdb(i: int) -> Fdb:
    return fdb("a", f"02:42:0a:00:00:{i:02x}", IPv4Address(f"10.0.0.{i}"))


def _neigh(i: int) -> Neigh:
    return neigh("a", f"10.1.0.{i}", f"02:42:0a:00:00:{i:02x}")


def test_state_iterates_sorted_after_every_add_and_diff_order_is_by_key() -> None:
    state = KernelState([_neigh(2), _fdb(1), vxlan("a"), bridge("a")])
    assert [o.kind for o in state] == ["bridge", "vxlan", "fdb", "neigh"]
    state.add(_fdb(0))
    assert [o.key for o in state][2:4] == [_fdb(0).key, _fdb(1).key]
    assert state.keys() == [o.key for o in state]
    changes = diff(KernelState([_neigh(3), _fdb(3), _neigh(1)]), Observed(KernelState([_fdb(5), _neigh(4)])))
    assert [(c.action.value, c.key) for c in changes] == [
        ("create", _fdb(3).key), ("create", _neigh(1).key), ("create", _neigh(3).key),
        ("delete", _fdb(5).key), ("delete", _neigh(4).key),
    ]


def test_lazy_pins_build_once_and_equal_a_dict() -> None:
    calls = []
    pins = {"web.1": {"a": Pin(IPv4Address("10.0.0.2"), "02:42:0a:00:00:02")}}

    def build() -> dict[str, dict[str, Pin]]:
        calls.append(1)
        return pins

    lazy = Lock(endpoints=LazyPins(build))
    assert calls == []
    assert lazy == Lock(endpoints=pins) and Lock(endpoints=pins) == lazy
    assert dict(lazy.endpoints) == pins and len(calls) == 1
