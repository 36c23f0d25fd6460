"""diff: desired × owned live → changes, one behaviour per test."""

from __future__ import annotations

import pytest

from overlayc.diff import Action, Change, Reason, diff
from overlayc.errors import PlanError
from overlayc.kernel.objects import KernelObject
from overlayc.kernel.ownership import Key
from overlayc.kernel.state import KernelState, Observed
from tests.support.planobjects import LOCAL, PEERS, bridge, endpoint, fdb, neigh, netns, sa, vxlan

MAC = "02:42:0a:01:00:02"


def _diff(desired: list[KernelObject], live: list[KernelObject],
          foreign_links: dict[str, str] | None = None, foreign: dict[Key, str] | None = None) -> list[Change]:
    observed = Observed(KernelState(live), foreign_links or {}, foreign or {})
    return sorted(diff(KernelState(desired), observed), key=lambda c: (c.key, c.action))


def test_identical_states_have_no_changes() -> None:
    objs: list[KernelObject] = [bridge("web"), vxlan("web"), fdb("web", MAC, PEERS[0])]
    assert _diff(objs, objs) == []


def test_missing_object_is_created_because_not_in_kernel() -> None:
    [change] = _diff([bridge("web")], [])
    assert (change.action, change.reason, change.before, change.after) == (
        Action.CREATE, Reason.NOT_IN_KERNEL, None, bridge("web"))


def test_owned_object_not_in_config_is_deleted() -> None:
    [change] = _diff([], [bridge("old")])
    assert (change.action, change.reason, change.before, change.after) == (
        Action.DELETE, Reason.NOT_IN_CONFIG, bridge("old"), None)


def test_mtu_difference_is_an_in_place_update_naming_the_field() -> None:
    [change] = _diff([vxlan("web", mtu=1450)], [vxlan("web", mtu=1400)])
    assert (change.action, change.fields, change.reason) == (Action.UPDATE, ("mtu",), Reason.DRIFT)
    assert change.before == vxlan("web", mtu=1400) and change.after == vxlan("web", mtu=1450)


@pytest.mark.parametrize(("live", "fields", "detail"), [
    (vxlan("web", vni=4097), ("vni",), "vni cannot be changed in place"),
    (vxlan("web", port=4800), ("port",), "port cannot be changed in place"),
    (vxlan("web", vni=4097, mtu=1400), ("vni", "mtu"), "vni cannot be changed in place"),
])
def test_fixed_field_difference_is_a_replace(
        live: KernelObject, fields: tuple[str, ...], detail: str) -> None:
    [change] = _diff([vxlan("web")], [live])
    assert (change.action, change.reason, change.fields, change.detail) == (
        Action.REPLACE, Reason.CANNOT_UPDATE, fields, detail)


def test_neigh_lladdr_is_updated_in_place() -> None:
    [change] = _diff([neigh("web", "10.1.0.2", MAC)], [neigh("web", "10.1.0.2", "02:42:0a:01:00:09")])
    assert (change.action, change.fields) == (Action.UPDATE, ("lladdr",))


def test_unknown_key_fingerprint_never_causes_an_update_by_itself() -> None:
    assert _diff([sa(PEERS[0], LOCAL, 0x1000, key_fp=None)], [sa(PEERS[0], LOCAL, 0x1000)]) == []


def test_known_key_fingerprint_difference_replaces_the_sa() -> None:
    [change] = _diff([sa(PEERS[0], LOCAL, 0x1000, "sha256:bbbbbbbbbbbb")], [sa(PEERS[0], LOCAL, 0x1000)])
    assert (change.action, change.fields) == (Action.REPLACE, ("key_fp",))


def test_entries_on_a_replaced_vxlan_are_deleted_and_created_again() -> None:
    kept: list[KernelObject] = [fdb("web", MAC, PEERS[0]), neigh("web", "10.1.0.2", MAC)]
    changes = _diff([vxlan("web"), *kept], [vxlan("web", vni=9), *kept])
    assert [(c.action, c.kind, c.reason) for c in changes] == [
        (Action.CREATE, "fdb", Reason.DEVICE_REPLACED), (Action.DELETE, "fdb", Reason.DEVICE_REPLACED),
        (Action.CREATE, "neigh", Reason.DEVICE_REPLACED), (Action.DELETE, "neigh", Reason.DEVICE_REPLACED),
        (Action.REPLACE, "vxlan", Reason.CANNOT_UPDATE),
    ]
    assert all(c.detail == "its device vx-web is replaced" for c in changes if c.kind != "vxlan")


def test_every_foreign_collision_is_listed_in_one_error() -> None:
    desired: list[KernelObject] = [
        bridge("web"), vxlan("web"), netns("t1"), endpoint("t1", "web", "10.1.0.5/24", MAC)]
    with pytest.raises(PlanError) as err:
        _diff(desired, [], foreign_links={"vx-web": "vxlan, not overlayc's", "ve-t1": "veth"},
              foreign={("netns", "t1"): "netns t1, not overlayc's"})
    assert err.value.exit_code == 1
    assert [k for k, _ in err.value.collisions] == [
        ("vxlan", "vx-web"), ("netns", "t1"), ("endpoint", "t1", "eth0")]
    assert "link vx-web exists: vxlan, not overlayc's" in str(err.value)
    assert "netns t1: netns t1, not overlayc's" in str(err.value)


def test_foreign_objects_that_do_not_collide_are_ignored() -> None:
    assert _diff([bridge("web")], [bridge("web")], foreign_links={"eth0": "physical"}) == []
