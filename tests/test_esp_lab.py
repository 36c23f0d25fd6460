"""The ESP lab runs every `@pytest.mark.esp` test when this host's kernel lacks ESP + GCM.

One boot for all of them (lab/esp_suite.py); each failing esp test is named with its message.
"""

from __future__ import annotations

import pytest

from lab import esp_suite, klab


@pytest.mark.slow
def test_esp_suite_in_lab(request: pytest.FixtureRequest) -> None:
    if klab.in_lab():
        pytest.skip("already inside the ESP lab")
    if klab.host_has_esp():
        pytest.skip("this kernel has ESP + GCM: the esp tests run directly on the host")
    reason = klab.available()
    if reason:
        pytest.skip(reason)
    klab.setup()
    paths = [*request.config.stash.get(esp_suite.ESP_PATHS_KEY, []), *esp_suite.DEFAULT_PATHS]
    suite = esp_suite.run_suite(paths)
    out = suite.lab.output[-4000:]
    assert suite.lab.rc != klab.LAB_FAILURE, f"the ESP lab failed:\n{out}"
    assert suite.cases, f"no esp test ran in the lab (rc={suite.lab.rc}):\n{out}"
    failed = "\n".join(f"  {c.nodeid}: {c.message}" for c in suite.failures)
    assert not failed, f"esp tests failed in the lab ({suite.lab.wall_s:.0f} s):\n{failed}\n{out}"
    assert suite.lab.rc == 0, out
    print(f"esp lab: {len(suite.cases)} tests in {suite.lab.wall_s:.1f} s")
