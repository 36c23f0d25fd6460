"""examples/deploy: the systemd units start valid overlayc commands, and the CI workflow's shell
steps validate and plan every node of examples/seed."""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from ruamel.yaml import YAML

from overlayc.cli import app
from tests.support.host import EXAMPLES

DEPLOY = EXAMPLES / "deploy"
SERVICES = ["overlayc-reconcile.service", "overlayc-apply.service"]


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True, empty_lines_in_values=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text())
    return parser


def exec_start(name: str) -> list[str]:
    argv = shlex.split(unit(name)["Service"]["ExecStart"])
    assert Path(argv[0]).name == "overlayc", argv
    return argv[1:]


@pytest.mark.parametrize("name", SERVICES)
def test_exec_start_is_a_valid_overlayc_invocation(name: str) -> None:
    args = exec_start(name)
    helped = subprocess.run([sys.executable, "-m", "overlayc", *args, "--help"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert helped.returncode == 0, helped.stderr
    assert f"overlayc {args[0]} [OPTIONS]" in helped.stdout
    # every option and value parses (types, choices), without running the command
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    ctx = group.make_context("overlayc", list(args), resilient_parsing=False)
    command = group.get_command(ctx, args[0])
    assert command is not None
    sub = command.make_context(args[0], list(args[1:]), parent=ctx)
    assert sub.params["files"] == [Path("/etc/overlayc/overlay.yaml")] and sub.params["locked"] is True


@pytest.mark.parametrize("name", SERVICES)
def test_the_units_are_hardened(name: str) -> None:
    service = unit(name)["Service"]
    assert service["CapabilityBoundingSet"].split() == ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    assert "/run/netns" in service["ReadWritePaths"].split()
    assert service["RuntimeDirectory"] == "overlayc"  # the apply lock: /run/overlayc
    # the SA counters in /var/lib/overlayc must stay writable under ProtectSystem=strict
    assert (service["StateDirectory"], service["StateDirectoryMode"]) == ("overlayc", "0700")


def test_the_agent_reloads_on_sighup_and_the_timer_runs_the_oneshot() -> None:
    agent = unit("overlayc-reconcile.service")["Service"]
    assert agent["ExecReload"] == "/bin/kill -HUP $MAINPID" and agent["KillSignal"] == "SIGTERM"
    oneshot = unit("overlayc-apply.service")["Service"]
    assert oneshot["Type"] == "oneshot" and oneshot["SuccessExitStatus"] == "2"
    assert "--detailed-exitcode" in exec_start("overlayc-apply.service")
    timer = unit("overlayc-apply.timer")["Timer"]
    assert timer["OnUnitActiveSec"] == "5min"


def workflow() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load((DEPLOY / "github-workflow.yml").read_text())
    return data


def test_the_ci_workflow_validates_and_plans_every_seed_node(tmp_path: Path) -> None:
    job = workflow()["jobs"]["plan"]
    config_dir = tmp_path / Path(job["env"]["CONFIG"]).parent
    config_dir.mkdir(parents=True)
    for name in ("overlay.yaml", "overlayc.lock"):
        shutil.copy(EXAMPLES / "seed" / name, config_dir / name)
    env = {**os.environ, **job["env"], "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "OVERLAYC_KEY_DIR": str(tmp_path / "no-keys")}
    outputs = []
    for step in job["steps"]:
        if "run" not in step or step.get("id") == "install":
            continue
        res = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert res.returncode == 0, (step.get("name"), res.stdout, res.stderr)
        outputs.append(res.stdout)
    assert "valid (3 nodes" in outputs[0]
    assert "node1: changes" in outputs[1] and "node2: changes" in outputs[1]
    assert "node3: no changes" in outputs[1]  # no task on node3: nothing to plan
    for node in ("node1", "node2", "node3"):
        plan = json.loads((tmp_path / "plans" / f"{node}.json").read_text())
        assert plan["node"] == node and plan["format_version"] == "1.0"
        assert f"Plan for {node}" in (tmp_path / "plans" / f"{node}.txt").read_text() or not plan["changes"]
    assert "### node2" in (tmp_path / "summary.md").read_text()
    assert (config_dir / "overlayc.lock").read_text() == (EXAMPLES / "seed" / "overlayc.lock").read_text()


@pytest.mark.parametrize("name", SERVICES)
def test_the_units_name_documentation_that_exists(name: str) -> None:
    docs = unit(name)["Unit"]["Documentation"].split()
    assert docs and all(d.startswith("file:///usr/share/doc/overlayc/") for d in docs)  # no man page
    shipped = {p.name for p in (EXAMPLES.parent / "docs").glob("*.md")} | {"README.md"}
    assert {d.rsplit("/", 1)[-1] for d in docs} <= shipped


def test_the_workflow_uses_no_python_internals_and_no_placeholder_url() -> None:
    text = (DEPLOY / "github-workflow.yml").read_text()
    assert "from overlayc" not in text and "example/overlayc" not in text
    assert "overlayc nodes -f" in text
