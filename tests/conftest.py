"""Shared fixtures. Kernel tests create their own network namespaces (prefix `oct-`) and remove
them afterwards, also when the test fails; they skip only when the capability is truly absent."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent import Agent, make_agent
from tests.support.host import NETNS_PREFIX, netns_unavailable, run_in, sandboxes_of


@pytest.fixture
def make_netns() -> Iterator[Callable[[], str]]:
    """Factory of fresh, uniquely named namespaces (`oct-<hex>`), all deleted at teardown."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    made: list[str] = []

    def make() -> str:
        name = f"{NETNS_PREFIX}{secrets.token_hex(4)}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        made.append(name)
        run_in(name, "ip", "link", "set", "lo", "up")
        return name

    yield make
    for name in made:
        for sandbox in sandboxes_of(name):  # left by a test that did not destroy what it applied
            subprocess.run(["ip", "netns", "del", sandbox], check=False)
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def netns(make_netns: Callable[[], str]) -> str:
    """One fresh namespace for the test."""
    return make_netns()


@pytest.fixture(autouse=True, scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test's state directory (SA counters, DESIGN §4) is under the session's tmp dir, never
    the machine's /var/lib/overlayc; also for the `overlayc` processes tests start."""
    from overlayc.files.statedir import STATE_DIR_ENV

    path = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(STATE_DIR_ENV, str(path))
        yield path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """esp tests: run here when the kernel has ESP (or inside the ESP lab), else skip them here,
    because tests/test_esp_lab.py runs them all in one boot of the lab (lab/esp_suite.py)."""
    from lab.esp_suite import skip_esp_items

    skip_esp_items(config, items)


@pytest.fixture
def lab_factory() -> Iterator[Callable[..., Any]]:
    """Factory of multi-node labs: `lab_factory(["node1", "node2"], **kw)` -> an entered
    `lab.topology.Lab`; every lab (and every namespace it owns) is removed at teardown."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    from lab.topology import Lab

    labs: list[Lab] = []

    def make(nodes: list[str], **kw: Any) -> Lab:
        lab = Lab(nodes, **kw)
        labs.append(lab)
        return lab.__enter__()

    yield make
    for lab in reversed(labs):
        lab.close()


@pytest.fixture(autouse=True, scope="session")
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test (and every overlayc it starts) keeps its state (intent journals, crash
    reports) in a private directory, never in the machine's /var/lib/overlayc."""
    from overlayc.files.statedir import STATE_DIR_ENV

    before = os.environ.get(STATE_DIR_ENV)
    os.environ[STATE_DIR_ENV] = str(tmp_path_factory.mktemp("state"))
    yield
    if before is None:
        os.environ.pop(STATE_DIR_ENV, None)
    else:
        os.environ[STATE_DIR_ENV] = before


@pytest.fixture
def agent(make_netns: Callable[[], str], tmp_path: Path) -> Iterator[Agent]:
    """A node namespace and config for `overlayc reconcile` (tests/support/agent.py); the
    cluster's endpoint namespaces are removed at teardown."""
    yield from make_agent(make_netns, tmp_path)


@pytest.fixture
def endpoint_netns() -> Iterator[Callable[[], str]]:
    """Names for endpoint namespaces overlayc will create (`ovep-<hex>`), removed at teardown."""
    made: list[str] = []

    def name() -> str:
        made.append(f"ovep-{secrets.token_hex(3)}")
        return made[-1]

    yield name
    for n in made:
        if os.path.exists(f"/run/netns/{n}"):
            subprocess.run(["ip", "netns", "del", n], check=False)
