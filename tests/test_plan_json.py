"""Plan documents: versioned JSON round trip, saved plans, staleness, no key material."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from overlayc.diff import diff
from overlayc.errors import InputError
from overlayc.files.plans import load_plan, save_plan
from overlayc.kernel.state import KernelState, Observed
from overlayc.plan import Plan, make_plan, plan_from_json, plan_to_json, stale_keys
from tests.support.builders import AT_NOON as AT
from tests.support.planobjects import LOCAL, PEERS, bridge, fdb, neigh, sa, vxlan

MAC = "02:42:0a:01:00:02"
SECRET = b"\x13" * 20


def _plan_and_live() -> tuple[Plan, Observed]:
    secret_sa = replace(sa(PEERS[0], LOCAL, 0x1000), secret=SECRET)
    desired = KernelState([bridge("a"), vxlan("a"), fdb("a", MAC, PEERS[0]), secret_sa])
    live = Observed(KernelState([bridge("a", mtu=1400), vxlan("a", vni=7), neigh("a", "10.1.0.2", MAC)]))
    return make_plan("node1", "ns1", AT, "c0ffee", diff(desired, live), live, LOCAL), live


def test_json_round_trip_keeps_everything_but_secrets() -> None:
    plan, _ = _plan_and_live()
    doc = plan_to_json(plan)
    again = plan_from_json(json.loads(json.dumps(doc)))
    assert again == plan
    assert SECRET.hex() not in json.dumps(doc) and "secret" not in json.dumps(doc)


def test_document_shape_and_summary() -> None:
    plan, _ = _plan_and_live()
    doc = plan_to_json(plan)
    assert doc["format_version"] == "1.0" and doc["node"] == "node1" and doc["at"] == "2026-01-01T12:00:00Z"
    assert doc["summary"] == {"add": 2, "change": 1, "replace": 1, "destroy": 1}
    first = doc["changes"][0]
    assert set(first) == {"action", "key", "kind", "before", "after", "reason", "fields", "detail"}
    assert [c["action"] for c in doc["changes"]] == ["delete", "update", "replace", "create", "create"]


def test_saved_plan_loads_back(tmp_path: Path) -> None:
    plan, _ = _plan_and_live()
    save_plan(plan, tmp_path / "plan.json")
    assert load_plan(tmp_path / "plan.json") == plan


@pytest.mark.parametrize(("text", "message"), [
    ('{"format_version": "2.0"}', "plan format 2.0 is not supported"),
    ('{"format_version": "1.0", "node": "n"}', "malformed plan document"),
    ("[]", "not a plan document"),
    ("{", "not a plan document"),
])
def test_unusable_plan_files_are_input_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "plan.json").write_text(text)
    with pytest.raises(InputError, match=message):
        load_plan(tmp_path / "plan.json")


def test_fresh_plan_is_not_stale() -> None:
    plan, live = _plan_and_live()
    assert stale_keys(plan, live) == []


def test_drift_of_touched_objects_makes_the_plan_stale_naming_each() -> None:
    plan, _ = _plan_and_live()
    now = Observed(KernelState([bridge("a", mtu=1300), fdb("a", MAC, PEERS[0]), neigh("a", "10.1.0.2", MAC)]))
    assert stale_keys(plan, now) == [
        (("bridge", "ov-a"), "changed since the plan was made"),
        (("fdb", "vx-a", MAC, "10.0.0.2"), "appeared since the plan was made"),
        (("vxlan", "vx-a"), "disappeared since the plan was made"),
    ]


def test_drift_of_untouched_objects_does_not_make_the_plan_stale() -> None:
    plan, live = _plan_and_live()
    now = Observed(KernelState([*live.owned, bridge("other")]))
    assert stale_keys(plan, now) == []
