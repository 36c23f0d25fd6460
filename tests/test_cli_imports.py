"""A command imports what it runs: `plan` and `validate` of a config file leave the agent, the
keys' cryptography, apply, netlink and the kernel reader unimported (each is tens of milliseconds
of a process that a CI job or an operator starts for every node)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.builders import AT_NOON, cli_at
from tests.support.host import ROOT

# Runs the console script's `main` in this interpreter, then prints the loaded module names.
_PROBE = """
import json, sys
sys.argv = ["overlayc", *sys.argv[1:]]
from overlayc.launch import main
try:
    main()
except SystemExit as done:
    code = done.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""

NOT_FOR_OFFLINE = ("overlayc.agent", "overlayc.apply", "overlayc.netlink", "overlayc.planlive",
                   "overlayc.observe.kernel", "overlayc.render.dot", "overlayc.render.iproute2",
                   "overlayc.config.schema", "overlayc.files.plans", "cryptography", "pyroute2", "rich",
                   "importlib.metadata")  # pydantic's plugin scan (overlayc.config.noplugins)


def _modules(tmp_path: Path, *args: str, **env_vars: str) -> tuple[int, set[str]]:
    """Exit code and every module loaded by `overlayc ARGS` run as a process (state and lock
    directories under `tmp_path`; `env_vars` added to its environment)."""
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}  # as a user has it
    env.update(OVERLAYC_STATE_DIR=str(tmp_path / "state"), OVERLAYC_LOCK_DIR=str(tmp_path / "locks"),
               **env_vars)
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120, check=False)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


def _loaded_under(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "overlay.yaml"
    shutil.copy(ROOT / "examples/seed/overlay.yaml", path)
    return path


def test_plan_from_empty_state_imports_nothing_of_apply_agent_netlink_or_keys(config: Path) -> None:
    code, modules = _modules(config.parent, "plan", "-f", str(config), "--node", "node2", "--state",
                             "empty", "--at", cli_at(AT_NOON))
    assert code == 0
    assert "overlayc.plan" in modules and "overlayc.compile.assign" in modules  # it did plan
    assert _loaded_under(modules, NOT_FOR_OFFLINE) == []


def test_validate_imports_no_planning_or_kernel_modules(config: Path) -> None:
    code, modules = _modules(config.parent, "validate", "-f", str(config))
    assert code == 0
    assert "overlayc.config.validate" in modules
    assert _loaded_under(modules, (*NOT_FOR_OFFLINE, "overlayc.diff", "overlayc.observe.snapshot")) == []


def test_render_iproute2_still_finds_its_renderer(config: Path) -> None:
    code, modules = _modules(config.parent, "render", "-f", str(config), "--node", "node2",
                             "--format", "iproute2", "--at", cli_at(AT_NOON))
    assert code == 0
    assert "overlayc.render.iproute2" in modules


def test_pydantic_plugins_are_looked_for_only_when_the_user_asks(config: Path) -> None:
    """overlayc stands in for pydantic's plugin loader (no `importlib.metadata` scan) unless
    PYDANTIC_DISABLE_PLUGINS keeps some plugins: then pydantic's own loader runs."""
    args = ("validate", "-f", str(config))
    code, modules = _modules(config.parent, *args)
    assert code == 0 and "pydantic.plugin._schema_validator" in modules  # it built validators
    assert "importlib.metadata" not in modules
    code, modules = _modules(config.parent, *args, PYDANTIC_DISABLE_PLUGINS="")
    assert code == 0 and "importlib.metadata" in modules
    code, modules = _modules(config.parent, *args, PYDANTIC_DISABLE_PLUGINS="__all__")
    assert code == 0 and "importlib.metadata" not in modules


def test_a_configuration_the_prefetch_parsed_is_never_parsed_again(config: Path) -> None:
    """The input prefetch's child parsed the file (overlayc.files.prefetch): the command itself
    imports no YAML parser (ruamel, overlayc.config.source), for plan and validate alike."""
    for args in (("validate", "-f", str(config)),
                 ("plan", "-f", str(config), "--node", "node2", "--state", "empty", "--at", cli_at(AT_NOON))):
        code, modules = _modules(config.parent, *args)
        assert code == 0 and "overlayc.config.sourcemap" in modules
        assert _loaded_under(modules, ("ruamel", "overlayc.config.source")) == []


def test_apply_reads_its_journal_without_a_yaml_parser(tmp_path: Path) -> None:
    """apply's modules (its journal reads JSON through `overlayc.files.bounded`) import no YAML
    parser: ruamel is imported where a YAML graph is walked (~25 ms of every apply's start-up)."""
    probe = ("import json, sys\nimport overlayc.cli, overlayc.apply.session, overlayc.files.bounded\n"
             "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          check=True, cwd=tmp_path)
    modules = set(json.loads(done.stdout))
    assert "overlayc.apply.journal" in modules
    assert _loaded_under(modules, ("ruamel", "overlayc.config.source")) == []


def test_the_yaml_walker_still_measures_a_graph() -> None:
    """`yaml_graph_problem` imports ruamel's node classes when it walks: a plain tree passes, an
    alias to its own anchor is refused."""
    from ruamel.yaml import YAML

    from overlayc.files.bounded import yaml_graph_problem

    assert yaml_graph_problem(YAML().compose("a: [1, 2, {b: c}]\n")) is None
    node = YAML().compose("a: &x [1, *x]\n")
    found = yaml_graph_problem(node)
    assert found is not None and "recursive" in found[1]
