"""An Assignment read from the assignment cache holds each network's attachments as columns
(`overlayc.compile.columns`): it compiles, diffs, plans and renders exactly as the Assignment
`resolve` makes (many seeds, IPv4, dual-stack and IPv6-only networks), without building an
`Attachment` for a remote endpoint; as a sequence it is that tuple."""

from __future__ import annotations

import json
import marshal
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from overlayc.cli import app
from overlayc.compile import Lock, compile_node, resolve
from overlayc.compile.assign import Assignment, Attachment
from overlayc.compile.columns import AttachmentColumns, Remote, TaskColumns, remote_columns
from overlayc.compile.networks import compile_remote
from overlayc.config.model import Config
from overlayc.diff import diff
from overlayc.files import assign_cache
from overlayc.kernel.entries import Entries
from overlayc.kernel.state import KernelState, Observed
from overlayc.plan import plan_node
from overlayc.render.plan import render_plan_json, render_plan_text
from tests.support.gen import config_dict

AT = datetime(2026, 11, 30, tzinfo=UTC)


def _with_ipv6(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with every second network dual-stack and every third IPv6-only."""
    for i, net in enumerate(sorted(data["networks"])):
        spec = data["networks"][net]
        if i % 3 == 1:
            spec["subnets"] = [spec.pop("subnet"), f"fd00:{i + 1:x}::/64"]
        elif i % 3 == 2:
            spec["subnet"] = f"fd00:{i + 1:x}::/64"
    return data


def _cases() -> list[tuple[int, int, int, bool]]:
    return [(nodes, tasks, seed, seed % 2 == 1) for seed, (nodes, tasks) in
            enumerate([(1, 2), (3, 2), (5, 4), (8, 3), (12, 5), (20, 4), (30, 6), (40, 2), (60, 3), (90, 4)])]


def _cached(assignment: Assignment) -> Assignment:
    """`assignment` as the assignment cache gives it back (FORMAT 4: columns)."""
    return assign_cache._decode(marshal.loads(marshal.dumps(assign_cache._encode(assignment))))


@pytest.mark.parametrize(("nodes", "tasks", "seed", "ipv6"), _cases())
def test_columns_compile_and_plan_as_the_resolved_rows(nodes: int, tasks: int, seed: int, ipv6: bool) -> None:
    data = config_dict(nodes, tasks, seed)
    config = Config.model_validate(_with_ipv6(data) if ipv6 else data)
    fresh = resolve(config, Lock())[0]
    hit = _cached(fresh)
    assert all(isinstance(atts, AttachmentColumns) for atts in hit.attachments.values())
    assert isinstance(hit.tasks, TaskColumns)
    names = sorted(config.nodes)
    for node in names[::max(1, len(names) // 5)]:  # a few nodes of each (every node of the small ones)
        want = compile_node(config, fresh, node, at=AT, private_key=None, owner="ns1")
        got = compile_node(config, hit, node, at=AT, private_key=None, owner="ns1")
        assert got == want and got.dumps() == want.dumps()
        assert got.entries.fdb_order == want.entries.fdb_order  # diff's sorting hint
        assert list(got.entries.neigh) == list(want.entries.neigh)
        for live in (KernelState(), want):
            assert diff(got, Observed(live)) == diff(want, Observed(live))
        empty = Observed(KernelState())
        plans = [plan_node(config, a, node, at=AT, private_key=None, live=empty, owner="ns1")
                 for a in (fresh, hit)]
        assert render_plan_json(plans[0]) == render_plan_json(plans[1])
        assert render_plan_text(plans[0], color=False) == render_plan_text(plans[1], color=False)
    assert hit == fresh and fresh == hit


def test_compiling_a_node_builds_no_attachment_of_a_remote_endpoint() -> None:
    config = Config.model_validate(config_dict(20, 5, 3))
    hit = _cached(resolve(config, Lock())[0])
    node = "node7"
    state = compile_node(config, hit, node, at=AT, private_key=None)
    assert len(state.entries) > 0
    assert all(atts._rows is None for atts in hit.attachments.values())  # type: ignore[attr-defined]
    assert hit.by_node.get(node, ()) == tuple(a for atts in hit.attachments.values() for a in atts
                                              if a.node == node)


def _example() -> tuple[tuple[Attachment, ...], AttachmentColumns]:
    v4, v6 = IPv4Address("10.1.0.6"), IPv6Address("fd00::6")
    rows = (Attachment("web.1", "n1", "net", v4, "02:42:0a:01:00:06", True, v6),
            Attachment("web.2", "n2", "net", None, "02:42:0a:01:00:07", False, None),
            Attachment("web.3", "n1", "net", IPv4Address("10.1.0.8"), "02:42:0a:01:00:08", False, None))
    return rows, AttachmentColumns.of("net", rows)


def test_columns_are_the_sequence_of_their_attachments() -> None:
    rows, columns = _example()
    assert columns.macs == [bytes.fromhex("02420a010006"), bytes.fromhex("02420a010007"),
                            bytes.fromhex("02420a010008")]
    assert columns.ips == [bytes([10, 1, 0, 6]), None, bytes([10, 1, 0, 8])]
    assert columns.ips6 == [IPv6Address("fd00::6").packed, None, None]
    assert len(columns) == 3 and columns._rows is None  # the length is the columns'
    assert columns.on_node("n1") == (rows[0], rows[2]) and columns.on_node("n3") == ()
    assert columns._rows is None  # one node's rows only
    assert columns == rows and rows == columns and columns != rows[:2] and columns != "net"
    assert columns[1] == rows[1] and columns[-1] == rows[-1] and columns[:2] == rows[:2]
    assert list(columns) == list(rows) and all(type(a) is Attachment for a in columns)
    assert [hash(a) for a in columns] == [hash(a) for a in rows]
    assert repr(columns) == repr(rows)
    assert columns.on_node("n1") == (rows[0], rows[2])  # from the built rows now
    with pytest.raises(TypeError):
        hash(columns)
    with pytest.raises(AttributeError):
        columns[0].node = "n2"  # type: ignore[misc]


def test_remote_columns_leave_out_the_node_and_pair_addresses_with_their_macs() -> None:
    rows, columns = _example()
    v4 = [bytes([10, 1, 0, 6]), None, bytes([10, 1, 0, 8])]
    for given in (rows, columns):
        others = remote_columns(given, "n1")
        assert others == Remote(["n2"], [columns.macs[1]], ([], []), ([], []))
        everyone = remote_columns(given, "n9")
        assert everyone.nodes == ["n1", "n2", "n1"] and everyone.macs == columns.macs
        assert everyone.v4 == ([v4[0], v4[2]], [columns.macs[0], columns.macs[2]])
        assert everyone.v6 == ([IPv6Address("fd00::6").packed], [columns.macs[0]])
        assert remote_columns(given, "n2").v4 == ([v4[0], v4[2]], [columns.macs[0], columns.macs[2]])
    assert remote_columns(columns, "n9").nodes is columns.nodes  # nothing to leave out: the columns
    assert remote_columns((), "n1") == Remote([], [], ([], []), ([], []))


def test_task_columns_are_the_tasks_dict() -> None:
    tasks = TaskColumns(["web.1", "web.2"], ["n1", "n2"])
    assert tasks == {"web.1": "n1", "web.2": "n2"} and tasks == {"web.1": "n1", "web.2": "n2"}
    assert tasks["web.2"] == "n2" and list(tasks) == ["web.1", "web.2"] and len(tasks) == 2
    assert dict(tasks) == {"web.1": "n1", "web.2": "n2"} and repr(tasks) == repr(dict(tasks))


@pytest.mark.parametrize("damage", ["short mac", "long ip", "ip as text", "int flag", "missing node",
                                    "task column", "net name"])
def test_a_malformed_column_is_a_miss(tmp_path: Path, damage: str) -> None:
    config = Config.model_validate(config_dict(6, 3, 4))
    assignment = resolve(config, Lock())[0]
    vnis, names, nodes, attachments, present = assign_cache._encode(assignment)
    net, endpoints, on, ips, macs, managed, ips6 = attachments[0]
    if damage == "short mac":
        macs[0] = macs[0][:5]
    elif damage == "long ip":
        ips[-1] = ips[-1] + b"\0"
    elif damage == "ip as text":
        ips[0] = "10.0.0.1"
    elif damage == "int flag":
        managed[0] = 1
    elif damage == "missing node":
        on.pop()
    elif damage == "task column":
        nodes.append("node1")
    else:
        net = 7
    attachments[0] = (net, endpoints, on, ips, macs, managed, ips6)
    state = tmp_path / "state"
    state.mkdir()
    body = marshal.dumps((vnis, names, nodes, attachments, present))
    (state / assign_cache.CACHE_NAME).write_bytes(assign_cache.FORMAT + b"k\n" + body)
    assert assign_cache.load(state, "k") is None
    assign_cache.store(state, "k", assignment)
    assert assign_cache.load(state, "k") == assignment


def test_plan_output_is_byte_identical_from_the_cache(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    data = _with_ipv6(config_dict(12, 4, 5))
    path = tmp_path / "overlay.yaml"
    with path.open("w") as f:
        YAML().dump(data, f)
    monkeypatch.setenv("OVERLAYC_LOCK_DIR", str(tmp_path))
    state = tmp_path / "state"
    runner = CliRunner()
    args = ["plan", "-f", str(path), "--node", "node3", "--state", "empty", "--at", "2026-11-30T00:00:00Z",
            "--state-dir", str(state)]
    outs = []
    for made in (False, True, True, True):  # no state dir: resolved; then stored, then read
        if made:
            state.mkdir(mode=0o700, exist_ok=True)
        for fmt in ([], ["--json"]):
            result = runner.invoke(app, [*args, *fmt])
            assert result.exit_code == 0, result.output
            outs.append(result.stdout)
    assert (state / assign_cache.CACHE_NAME).exists()
    assert outs[0::2] == [outs[0]] * 4 and outs[1::2] == [outs[1]] * 4
    assert json.loads(outs[1])["changes"]


def test_an_assignment_the_columns_cannot_hold_exactly_is_not_stored(tmp_path: Path) -> None:
    rows, _ = _example()
    odd = rows[0]._replace(mac="02:42:0A:01:00:06")  # not the canonical text (config never makes it)
    a = Assignment(vnis={"net": 4096}, tasks={}, attachments={"net": (odd, *rows[1:])},
                   network_nodes={"net": frozenset({"n1", "n2"})})
    state = tmp_path / "state"
    state.mkdir()
    assign_cache.store(state, "k", a)
    assert not (state / assign_cache.CACHE_NAME).exists()
    good = Assignment(vnis={"net": 4096}, tasks={}, attachments={"net": rows},
                      by_node={"n1": (rows[0], rows[2]), "n2": (rows[1],)},
                      network_nodes={"net": frozenset({"n1", "n2"})})
    assign_cache.store(state, "k", good)
    assert assign_cache.load(state, "k") == good


def test_an_address_twice_is_one_neighbour_for_one_mac_and_refused_for_two() -> None:
    config = Config.model_validate(config_dict(3, 1, 1))
    ip = IPv4Address("10.1.0.6")
    same = (Attachment("a.1", "node2", "net", ip, "02:42:0a:01:00:06", False),
            Attachment("a.2", "node3", "net", ip, "02:42:0a:01:00:06", False))
    other = (same[0], same[1]._replace(mac="02:42:0a:01:00:07"))
    for atts in (same, AttachmentColumns.of("net", same)):
        a = Assignment(vnis={"net": 4096}, tasks={}, attachments={"net": atts})
        into = Entries()
        compile_remote(config, a, "node1", "net", into)
        assert into.neigh == {"ovx4096": {ip.packed: bytes.fromhex("02420a010006")}}
        assert into.fdb == {"ovx4096": {bytes.fromhex("02420a010006") + config.nodes[n].address.packed
                                        for n in ("node2", "node3")}}
    for atts in (other, AttachmentColumns.of("net", other)):
        a = Assignment(vnis={"net": 4096}, tasks={}, attachments={"net": atts})
        with pytest.raises(ValueError, match="two different objects"):
            compile_remote(config, a, "node1", "net", Entries())
