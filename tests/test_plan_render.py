"""Text rendering details the golden cases do not pin down: colour, secrets, summary lines."""

from __future__ import annotations

from dataclasses import replace

from overlayc.diff import diff
from overlayc.kernel.objects import KernelObject
from overlayc.kernel.state import KernelState, Observed
from overlayc.plan import make_plan
from overlayc.render.plan import UNKNOWN_KEY, render_plan_text
from tests.support.builders import AT_NOON as AT
from tests.support.planobjects import LOCAL, PEERS, bridge, sa, vxlan


def _text(desired: list[KernelObject], live: list[KernelObject], color: bool = False) -> str:
    live_state = Observed(KernelState(live))
    changes = diff(KernelState(desired), live_state)
    return render_plan_text(make_plan("node2", None, AT, "d", changes, live_state, LOCAL), color)


def test_empty_plan_is_one_line() -> None:
    assert _text([bridge("a")], [bridge("a")]) == "No changes. Node node2 matches the configuration.\n"


def test_colour_only_when_asked() -> None:
    plain, coloured = _text([bridge("a")], [], False), _text([bridge("a")], [], True)
    assert "\x1b[" not in plain
    assert "\x1b[32m  + bridge ov-a\x1b[0m" in coloured


def test_replace_marks_the_fields_that_force_it() -> None:
    text = _text([vxlan("a", vni=5, mtu=1450)], [vxlan("a", vni=4, mtu=1400)])
    assert "-/+ vxlan vx-a\n" in text
    assert "~ vni = 4 -> 5  # forces replacement\n" in text
    assert "~ mtu = 1400 -> 1450\n" in text
    assert "Plan for node2: 0 to add, 0 to change, 1 to replace, 0 to destroy." in text


def test_key_material_shows_only_as_fingerprint_or_unknown() -> None:
    secret = b"\xab" * 20
    known = replace(sa(PEERS[0], LOCAL, 0x1000, "sha256:0123456789ab"), secret=secret)
    text = _text([known, sa(PEERS[1], LOCAL, 0x1001, None)], [])
    assert 'key_fp        = "sha256:0123456789ab"' in text
    assert f"key_fp        = {UNKNOWN_KEY}" in text
    assert secret.hex() not in text and "secret" not in text
