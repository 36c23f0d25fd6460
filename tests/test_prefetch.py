"""The prefetch of a plan's big dumps (overlayc.observe.prefetch): which command lines fork the
reader, and, on a node holding thousands of entries, that observe decodes the prefetched dumps
to exactly what it reads live, reads a sandbox again when its dump was interrupted or when the
sandbox is not the one prefetched, and that the command as a process plans from them."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from overlayc.kernel.ownership import parse_sandbox_name
from overlayc.netlink.core import HDR
from overlayc.netlink.netns import NETNS_DIR, namespace_id
from overlayc.netlink.sock import NLM_F_DUMP_INTR, NetlinkSocket
from overlayc.observe import prefetch
from overlayc.observe.kernel import observe
from tests.support.agent import big_network_node
from tests.support.cluster import overlayc_cli
from tests.support.host import holding, run_in

REPLICAS = 2000  # ~2000 × 72 B of fdb entries: several 32 KiB dump buffers of each kind


@pytest.mark.parametrize(("argv", "netns"), [
    (["plan", "-f", "x.yaml", "--netns", "n1"], "n1"),
    (["plan", "--netns=n1", "-f", "x.yaml"], "n1"),
    (["plan", "-f", "x.yaml", "--netns", "n1", "--state", "s.json"], None),  # offline: no kernel
    (["plan", "-f", "x.yaml", "--state=empty", "--netns", "n1"], None),
    (["plan", "-f", "x.yaml"], None),
    (["plan", "--netns"], None),
    (["apply", "-f", "x.yaml", "--netns", "n1"], None),  # reads the kernel under the apply lock
    (["reconcile", "-f", "x.yaml", "--netns", "n1"], None),
    ([], None),
])
def test_only_a_plan_against_a_namespace_is_prefetched(argv: list[str], netns: str | None) -> None:
    assert prefetch.netns_of(argv) == netns


@pytest.mark.parametrize("outcome", ["failed", "reaped elsewhere", "garbled"])
def test_a_reader_that_failed_or_cannot_be_waited_for_gives_nothing(outcome: str) -> None:
    fd = os.memfd_create("oct-prefetch")
    pid = os.fork()
    if pid == 0:  # the child: as a reader that failed, or wrote something that is not its output
        if outcome == "garbled":
            os.write(fd, b"not marshal data")
        os._exit(1 if outcome == "failed" else 0)
    if outcome == "reaped elsewhere":  # as with SIGCHLD ignored: waitpid finds no child
        os.waitpid(pid, 0)
    assert prefetch._Child(pid, fd).collect() == {}
    with pytest.raises(OSError):
        os.fstat(fd)  # closed
    if outcome != "reaped elsewhere":
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, 0)  # reaped


@pytest.fixture
def node(make_netns: Callable[[], str], tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """(node namespace, cluster, config) of node a, applied: REPLICAS fdb + neighbour entries."""
    with big_network_node(make_netns, tmp_path, REPLICAS, 5202) as (ns, cluster, cfg):
        applied = overlayc_cli(cfg, "apply", "-f", str(cfg), "--node", "a", "--netns", ns, "--yes")
        assert applied.returncode == 0, applied.stderr
        yield ns, cluster, cfg


@pytest.fixture
def fresh_prefetch(monkeypatch: pytest.MonkeyPatch) -> None:
    """No prefetch left over from another test; none left behind."""
    monkeypatch.setattr(prefetch, "_child", None)


def _prefetched(ns: str) -> dict[tuple[str, int], prefetch.Dumps]:
    """Fork the reader for `plan --netns ns` and wait for what it read."""
    prefetch.start(["plan", "--netns", ns])
    child = prefetch._child
    assert child is not None
    return child.collect()


def _sandbox(ns: str) -> str:
    [name] = [n for n in os.listdir(NETNS_DIR) if (p := parse_sandbox_name(n)) and p[2] == namespace_id(ns)]
    return name


def _counting_live_dumps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The families of the RTM_GETNEIGH dumps observe reads live from now on."""
    live: list[int] = []
    dump_parsed = NetlinkSocket.dump_parsed

    def counted(self: NetlinkSocket, msg_type: int, body: bytes, parse: object) -> None:
        live.append(body[0])
        dump_parsed(self, msg_type, body, parse)  # type: ignore[arg-type]
    monkeypatch.setattr(NetlinkSocket, "dump_parsed", counted)
    return live


@pytest.mark.kernel
@pytest.mark.usefixtures("fresh_prefetch")
def test_prefetched_dumps_decode_to_what_observe_reads_live(
    node: tuple[str, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ns, cluster, _ = node
    live = observe(ns, cluster).owned
    assert len(live.entries) == 2 * REPLICAS
    got = _prefetched(ns)
    sandbox = _sandbox(ns)
    assert list(got) == [(sandbox, os.stat(os.path.join(NETNS_DIR, sandbox)).st_ino)]
    dumps = _counting_live_dumps(monkeypatch)
    assert observe(ns, cluster).owned == live
    assert dumps == []  # both entry dumps came from the prefetch
    assert observe(ns, cluster).owned == live and len(dumps) == 2  # given out once: then live


@pytest.mark.kernel
@pytest.mark.usefixtures("fresh_prefetch")
def test_an_interrupted_or_foreign_prefetch_is_read_again_live(
    node: tuple[str, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ns, cluster, _ = node
    live = observe(ns, cluster).owned
    got = _prefetched(ns)
    [(key, dumps)] = got.items()
    _, buffers = dumps[7]  # AF_BRIDGE: its first message as written during a table change
    first = bytearray(buffers[0])
    n, kind, flags, mseq, pid = HDR.unpack_from(first, 0)
    struct.pack_into(HDR.format, first, 0, n, kind, flags | NLM_F_DUMP_INTR, mseq, pid)
    buffers[0] = bytes(first)
    dumps_read = _counting_live_dumps(monkeypatch)
    assert observe(ns, cluster).owned == live  # not a foreign sandbox: read again, whole
    assert dumps_read == [7, 0]  # the attempt after the interrupted one read both live

    got.clear()
    got[(key[0], key[1] + 1)] = dumps  # another namespace file by that name: not this sandbox's
    dumps_read.clear()
    assert observe(ns, cluster).owned == live and dumps_read == [7, 0]


@pytest.mark.kernel
def test_the_plan_process_finds_a_drifted_entry_among_prefetched_ones(node: tuple[str, str, Path]) -> None:
    ns, _, cfg = node
    noop = overlayc_cli(cfg, "plan", "-f", str(cfg), "--node", "a", "--netns", ns, "--detailed-exitcode")
    assert (noop.returncode, noop.stdout) == (0, "No changes. Node a matches the configuration.\n")
    sb = holding(ns, "ovx5202")
    neigh = run_in(sb, "ip", "neigh", "show", "dev", "ovx5202").stdout.splitlines()
    gone = neigh[len(neigh) // 2].split()[0]
    run_in(sb, "ip", "neigh", "del", gone, "dev", "ovx5202")
    drift = overlayc_cli(cfg, "plan", "-f", str(cfg), "--node", "a", "--netns", ns, "--detailed-exitcode",
                         "--full")
    assert drift.returncode == 2, drift.stderr
    assert f"+ neigh ovx5202 {gone}" in drift.stdout
    assert "1 to add, 0 to change, 0 to replace, 0 to destroy" in drift.stdout
    missing = overlayc_cli(cfg, "plan", "-f", str(cfg), "--node", "a", "--netns", f"{ns}-gone")
    assert (missing.returncode, missing.stderr) == (1, f"overlayc: error: network namespace '{ns}-gone' "
                                                      "does not exist\n")
