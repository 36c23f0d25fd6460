"""The hostile inputs of issue 16, as data shared by the tests and the fuzz harness: YAML bombs,
bad option values, broken saved plans and snapshots, and an in-process CLI runner."""

from __future__ import annotations

import copy
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from overlayc.cli import main
from overlayc.exitcodes import Exit
from tests.support.host import EXAMPLES


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """`overlayc ARGS` in this process (cli.main, with its error handling); never raises."""
    saved = sys.argv
    sys.argv = ["overlayc", *args]
    capsys.readouterr()
    code: int
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved
    got = capsys.readouterr()
    return Run(code, got.out, got.err)


def plain_copy(tmp: Path, cluster: str = "plain") -> Path:
    """A private copy of examples/plain (commands may write its overlayc.lock), its cluster
    renamed to `cluster` (endpoint namespaces are named after it: unique ones keep tests that
    run at the same time apart); its config."""
    shutil.copytree(EXAMPLES / "plain", tmp / "plain")
    cfg = tmp / "plain" / "overlay.yaml"
    cfg.write_text(cfg.read_text().replace("  name: plain\n", f"  name: {cluster}\n"))
    return cfg


def laughs(levels: int, width: int = 9) -> str:
    """A billion-laughs document: `levels` anchors, each `width` aliases of the one before."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


# (name, YAML text, diagnostic code, words of the message)
YAML_BOMBS: list[tuple[str, str, str, str]] = [
    ("billion-laughs-6", laughs(6), "yaml-limit", "aliases expand to"),
    ("billion-laughs-7", laughs(7), "yaml-limit", "values (aliases expanded)"),
    ("billion-laughs-9", laughs(9), "yaml-limit", "values (aliases expanded)"),
    ("yaml-1.3", "%YAML 1.3\n---\nversion: 1\n", "yaml-syntax", "directive %YAML 1.3"),
    ("yaml-1.3-later", "version: 1\n...\n%YAML 1.3\n---\nx: 1\n", "yaml-syntax", "directive %YAML 1.3"),
    ("tag-directive", "%TAG ! tag:example.com,2000:\n---\nversion: 1\n", "yaml-syntax", "directive %TAG"),
    ("int-5000", "version: " + "9" * 5000 + "\n", "yaml-limit", "integer of 5,000 digits"),
    ("long-string", "version: 1\ncluster: {name: " + "x" * 70_000 + "}\n", "yaml-limit",
     "longer than the limit"),
    ("long-folded-string", "version: 1\nx: >-\n" + ("  " + "y" * 100 + "\n") * 700, "yaml-limit",
     "a value of 70,"),
    ("long-line", "version: 1\n" + "#" * 70_000 + "\n", "yaml-limit", "a line of 70,000 characters"),
    ("binary-tag", "version: !!binary aGVsbG8=\n", "yaml-limit", "not part of the configuration language"),
    ("local-tag", "version: !thing 1\n", "yaml-limit", "not part of the configuration language"),
    ("python-tag", "version: !!python/object/apply:os.system [id]\n", "yaml-limit", "not part of"),
    ("recursive", "a: &a [*a]\n", "yaml-limit", "refers to its own anchor"),
    ("deep", "a: " + "[" * 2000 + "]" * 2000 + "\n", "yaml-limit", "nests deeper than 64 levels"),
    ("deep-40000", "a: " + "[" * 40_000 + "\n", "yaml-limit", "nests deeper than 64 levels"),
    ("deep-block", "".join("  " * i + f"k{i}:\n" for i in range(80)) + "  " * 80 + "v: 1\n",
     "yaml-limit", "nests deeper than 64"),
    ("bad-date", "version: 1\nx: 2026-13-45\n", "yaml-syntax", "invalid value"),
]


def _plan_mutations() -> list[tuple[str, Callable[[dict[str, Any]], Any], str]]:
    def without(key: str) -> Callable[[dict[str, Any]], Any]:
        return lambda d: {k: v for k, v in d.items() if k != key}

    def setting(key: str, value: Any) -> Callable[[dict[str, Any]], Any]:
        return lambda d: {**d, key: value}

    def a_link_change(key: str, value: Any) -> Callable[[dict[str, Any]], Any]:
        def mutate(d: dict[str, Any]) -> Any:
            d = copy.deepcopy(d)
            change = next(c for c in d["changes"] if c["after"] is not None and "mtu" in c["after"])
            change["after"][key] = value
            return d
        return mutate

    return [
        ("version-1.9", setting("format_version", "1.9"), "'1.9' is not a supported plan format"),
        ("version-int", setting("format_version", 1), "1 is not a supported plan format"),
        ("version-missing", without("format_version"), "missing field(s) format_version"),
        ("digests-missing", without("live_digests"), "missing field(s) live_digests"),
        ("digests-empty", setting("live_digests", []), "the staleness check would be skipped"),
        ("netns-path", setting("netns", "../../proc/1/ns/net"), "not a network namespace name"),
        ("netns-int", setting("netns", 7), "a network namespace name is text"),
        ("node-path", setting("node", "../x"), "is not a node name"),
        ("unknown-field", setting("extra", 1), "unknown field(s) extra"),
        ("changes-dict", setting("changes", {}), "changes: must be a list"),
        ("mtu-text", a_link_change("mtu", "1500"), "field mtu has the wrong type"),
        ("kind-unknown", a_link_change("kind", "teapot"), "not a kernel object"),
        ("at-garbage", setting("at", "tomorrow"), "not an RFC 3339"),
        ("digest-short", setting("config_digest", "abc"), "must be 64 hex digits"),
    ]


PLAN_MUTATIONS = _plan_mutations()

# (name, file bytes, words of the one-line error)
PLAN_BYTES: list[tuple[str, bytes, str]] = [
    ("garbage", b"\x00\x01garbage", "not JSON"),
    ("not-utf8", b"\xff\xfe{}", "not UTF-8"),
    ("deep", b"[" * 100_000 + b"]" * 100_000, "nests deeper than 64"),
    ("huge-int", b'{"format_version": ' + b"9" * 5000 + b"}", "larger than the limit of 20 digits"),
    ("huge-float", b'{"format_version": 1e999}', "out of range"),
    ("nan", b'{"format_version": NaN}', "NaN is not a JSON number"),
    ("array", b"[]", "plan: must be an object"),
]

# (name, snapshot JSON value or bytes, words of the one-line error)
SNAPSHOTS: list[tuple[str, Any, str]] = [
    ("garbage", b"garbage", "not JSON"),
    ("not-utf8", b"\xff\xfe", "not UTF-8"),
    ("deep", b"[" * 5000 + b"]" * 5000, "nests deeper than 64"),
    ("format-2", {"format": 2, "objects": []}, "format: must be 1"),
    ("format-text", {"format": "1", "objects": []}, "format: must be 1"),
    ("fdb-dev-int", {"format": 1, "objects": [
        {"kind": "fdb", "dev": 7, "lladdr": "02:00:00:00:00:01", "dst": "192.0.2.9"}]},
     "field dev has the wrong type"),
    ("unknown-field", {"format": 1, "objects": [], "x": 1}, "unknown field(s) x"),
    ("object-extra", {"format": 1, "objects": [{"kind": "netns", "name": "a", "b": 1}]}, "not a valid netns"),
    ("duplicate", {"format": 1, "objects": [
        {"kind": "bridge", "name": "ovb1", "mac": "02:00:00:00:00:01", "mtu": mtu, "alias": "overlayc:c:n",
         "address": None} for mtu in (1400, 1450)]}, "objects:"),
]


def snapshot_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


# (name, argument list after the command's -f FILE, exit code, words of the message); the
# commands read examples/plain (see plain_copy); `{dir}` is a directory, `{cfg}` the config
USAGE = Exit.USAGE  # 64: click's usage errors, never 2 (`--detailed-exitcode`'s changes)
BAD_OPTIONS: list[tuple[str, list[str], int, str]] = [
    ("netns-traversal", ["plan", "--netns", "../../../../tmp/x/victim", "--state", "empty"], USAGE,
     "is not a network namespace name"),
    ("netns-proc", ["plan", "--netns", "../../proc/1/ns/net", "--state", "empty"], USAGE, "no '/'"),
    ("netns-dotdot", ["plan", "--netns", "..", "--state", "empty"], USAGE, "not '.' or '..'"),
    ("netns-long", ["plan", "--netns", "n" * 300, "--state", "empty"], USAGE, "1 to 255 bytes"),
    ("netns-status", ["status", "--netns", "a/b"], USAGE, "no '/'"),
    ("node-path", ["plan", "--node", "../x", "--state", "empty"], USAGE, "is not a node name"),
    ("key-dir", ["plan", "--node", "host-a", "--state", "empty", "--key-file", "{dir}"], USAGE,
     "is a directory, not a regular file"),
    ("at-9", ["render", "--node", "host-a", "--at", "9"], 1, "is not an RFC 3339 date-time"),
    ("at-11", ["render", "--node", "host-a", "--at", "11"], 1, "is not an RFC 3339 date-time"),
    ("at-year-0", ["render", "--node", "host-a", "--at", "0001-01-01T00:00:00+01:00"], 1,
     "is not a valid date-time"),
    ("at-date-only", ["render", "--node", "host-a", "--at", "2026-01-01"], 1, "RFC 3339"),
    ("sample-nan", ["status", "--node", "host-a", "--sample", "nan"], USAGE,
     "nan is not a number of seconds"),
    ("sample-inf", ["status", "--node", "host-a", "--sample", "inf"], USAGE, "is not a number of seconds"),
    ("sample-negative", ["status", "--node", "host-a", "--sample", "-1"], USAGE, "from 0 to 3600"),
    ("port-negative", ["reconcile", "--metrics-port", "-1"], USAGE, "is not a TCP port"),
    ("port-70000", ["reconcile", "--metrics-port", "70000"], USAGE, "is not a TCP port"),
    ("address", ["reconcile", "--metrics-port", "9", "--metrics-address", "not-an-address"], USAGE,
     "is not an IP address"),
    ("interval-huge", ["reconcile", "--interval", "99999999999d"], USAGE, "from 0.001 to 604800"),
    ("interval-garbage", ["reconcile", "--interval", "soon"], USAGE, "--interval"),
    ("lock-timeout-inf", ["apply", "--lock-timeout", "inf", "--yes"], USAGE, "is not a number of seconds"),
    ("state-dev-zero", ["plan", "--node", "host-a", "--state", "/dev/zero"], USAGE, "a device or socket"),
    ("state-dir", ["plan", "--node", "host-a", "--state", "{dir}"], USAGE, "is a directory"),
    ("cluster", ["destroy", "--cluster", "../x", "--yes"], USAGE, "is not a cluster name"),
]
