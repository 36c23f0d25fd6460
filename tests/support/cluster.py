"""Clusters on a `lab.topology.Lab`: the seed example copied for a lab, configs written from
dicts, applying a node (the CLI in a subprocess, or in-process), and the endpoints a config places.
Everything made here is named after the lab's tag and removed with it."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from lab.topology import Lab
from tests.support.host import EXAMPLES

SEED = EXAMPLES / "seed"
SEED_IPV6 = EXAMPLES / "seed-ipv6"  # the seed over an IPv6 underlay 2001:db8::/64 (same keys)


def seed_workdir(lab: Lab, where: Path, *, encrypted: bool = True, rotation: str | None = None,
                 example: Path = SEED) -> Path:
    """The seed example (or its sibling `example`, e.g. SEED_IPV6) copied to `where` for `lab`:
    cluster named `lab.tag` (so its endpoint namespaces go with the lab), its lock, and the
    seed's EXAMPLE keys as `keys/<node>.key` mode 0600 (git drops file modes). `encrypted=False`
    makes `secure` a plain network; `rotation` sets `cluster.encryption.rotation`. Returns the
    config path."""
    where.mkdir(parents=True, exist_ok=True)
    text = (example / "overlay.yaml").read_text()
    text = re.sub(r"^  name: \S+\n", f"  name: {lab.tag}\n", text, count=1, flags=re.M)
    if rotation is not None:
        text = re.sub(r"^(  id: \S+\n)", rf"\1  encryption: {{rotation: {rotation}}}\n", text,
                      count=1, flags=re.M)
    if not encrypted:
        text = text.replace("    encrypted: true\n", "    encrypted: false\n", 1)
    assert f"name: {lab.tag}" in text and ("encrypted: true" in text) == encrypted, "seed example changed"
    for node in ("node1", "node2", "node3"):
        assert str(lab.address(node)) in text, f"seed address of {node} is not the lab's"
    cfg = where / "overlay.yaml"
    cfg.write_text(text)
    shutil.copy(example / "overlayc.lock", where / "overlayc.lock")
    keys = where / "keys"
    keys.mkdir(exist_ok=True)
    for src in sorted((SEED / "keys").glob("*.key")):
        dst = keys / src.name
        shutil.copy(src, dst)
        dst.chmod(0o600)
        assert stat.S_IMODE(dst.stat().st_mode) == 0o600
    return cfg


def key_file(cfg: Path, node: str) -> Path:
    """The private key file of `node` next to a config made by `seed_workdir`."""
    return cfg.parent / "keys" / f"{node}.key"


def write_config(path: Path, data: dict[str, Any]) -> Path:
    """Write a config given as a YAML-shaped dict (as JSON, which is YAML)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def overlayc_cli(cfg: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m overlayc ARGS` in the config's directory."""
    return subprocess.run([sys.executable, "-m", "overlayc", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=cfg.parent)  # fmt: skip


def apply_cli(
    cfg: Path, lab: Lab, node: str, *extra: str, key: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`overlayc apply -f CFG --node N --netns <lab ns> --yes [--key-file K] EXTRA`."""
    args = ["apply", "-f", str(cfg), "--node", node, "--netns", lab.netns(node), "--yes", *extra]
    if key is not None:
        args += ["--key-file", str(key)]
    return overlayc_cli(cfg, *args)


def reapplied_status(cfg: Path, lab: Lab, nodes: Iterable[str]) -> dict[str, Any]:
    """Apply every node of `nodes` again, asserting that each is a no-op, then `overlayc status
    --json` of node1, asserted healthy: its document."""
    for node in nodes:
        res = apply_cli(cfg, lab, node)
        assert res.returncode == 0 and "No changes" in res.stdout, res.stdout
    res = overlayc_cli(cfg, "status", "-f", str(cfg), "--node", "node1", "--netns", lab.netns("node1"),
                       "--sample", "0", "--json")
    doc: dict[str, Any] = json.loads(res.stdout)
    assert res.returncode == 0 and doc["healthy"] is True and doc["problems"] == [], res.stdout
    return doc


def apply_api(cfg: Path, lab: Lab, node: str, *, key: Path | None = None, at: datetime | None = None) -> int:
    """What `overlayc apply --yes` does, in-process: returns the outcome (0 nothing to do,
    2 changed and verified); AssertionError with the failures on anything else."""
    from overlayc.apply.run import Outcome
    from overlayc.apply.session import apply_target
    from overlayc.config.load import load_config
    from overlayc.inputs import prepare_target

    loaded = load_config([cfg])
    target = prepare_target(loaded, node=node, netns=lab.netns(node), at=at or datetime.now(UTC),
                            key_file=key)
    applied = apply_target(target, confirm=lambda plan: True)
    outcome = applied.result.outcome
    assert outcome in (Outcome.NOTHING, Outcome.CHANGED), f"apply {node}: {outcome!r} {applied.result}"
    return int(outcome)


@dataclass(frozen=True)
class Member:
    """An endpoint (task or standalone) on one network, where it runs and its namespace."""

    endpoint: str
    node: str
    network: str
    ip: IPv4Address
    mac: str
    netns: str


def members(cfg: Path) -> dict[str, list[Member]]:
    """Network → its managed endpoints, as the config and its lock place them (pure)."""
    from overlayc.config.load import load_config
    from tests.support.builders import assign_loaded

    loaded = load_config([cfg])
    assignment = assign_loaded(loaded)
    cluster = loaded.config.cluster.name
    return {
        net: [Member(a.endpoint, a.node, net, a.ip, a.mac, f"{cluster}-{a.endpoint}")
              for a in atts if a.managed and a.ip is not None]
        for net, atts in assignment.attachments.items()
    }


def matrix(groups: dict[str, list[Member]]) -> list[tuple[str, IPv4Address]]:
    """Every ordered pair (source netns, destination IP) of distinct endpoints sharing a network."""
    return [(a.netns, b.ip) for ms in groups.values() for a in ms for b in ms if a.endpoint != b.endpoint]


def sandbox(lab: Lab, node: str, network: str) -> str:
    """The name of `network`'s sandbox on `node` of a lab whose cluster is named `lab.tag`."""
    from overlayc.kernel.ownership import sandbox_name
    from overlayc.netlink.netns import namespace_id

    return sandbox_name(lab.tag, network, namespace_id(lab.netns(node)))


def node_sandboxes(lab: Lab, node: str) -> list[str]:
    """The sandboxes of `node` (of the cluster named `lab.tag`) that exist."""
    from lab.topology import list_netns
    from overlayc.netlink.netns import namespace_id

    suffix = "." + namespace_id(lab.netns(node))
    return sorted(n for n in list_netns() if n.startswith(f"{lab.tag}-sb.") and n.endswith(suffix))
