"""`make demo`: the seed scenario on three lab nodes, planned, applied, proven, removed again.

    python -m lab.demo            # as root; boots the ESP lab when this kernel has no ESP/GCM
    python -m lab.demo --inside   # the demo itself (what the ESP lab's guest runs)

Steps: a lab of three node namespaces on one underlay bridge (lab/topology.py) with the cluster
named after the lab's tag; the seed config, lock and EXAMPLE keys (0600) copied to a temp dir;
`overlayc plan` on every node (node2's shown in full); `overlayc apply` on every node (the real
CLI, as users run it; the nodes run at the same time, as real nodes would, one process each);
from `probe` (node1) to `web.1` (node2) on each network: ICMP echo + an HTTP GET, under a tcpdump
of the underlay (the sniff test: `insecure` shows the HTTP marker in clear, `secure` only ESP, no
UDP to the encrypted port, no marker); a second apply that must change nothing; destroy on every
node; the lab removed. A table of checks closes the run; exit 0 only when every check passed.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from ruamel.yaml import YAML

from lab import klab, klab_build
from lab.demo_picture import write_picture
from lab.demo_report import (
    CLIENT,
    ENCRYPTED_PORT,
    HTTP_PORT,
    PLAIN_PORT,
    SERVER,
    Check,
    check_apply,
    format_report,
    reach_checks,
    sniff_check,
    summary_lines,
)
from lab.sniff import PROTO_ESP, Capture, read_pcap, sniff_stats
from lab.topology import Lab, list_netns

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "seed"
PREFIX = "ocd-"
NODES = ("node1", "node2", "node3")
FULL_PLAN_NODE = "node2"
LAB_TIMEOUT = 480.0
APPLY_LOCK_DIR = Path(os.environ.get("OVERLAYC_LOCK_DIR", "/run/overlayc"))  # as overlayc/apply/lock.py
NEEDS_ROOT = (
    "make demo needs root: it creates network namespaces (a three-node lab) and runs `overlayc apply`\n"
    "in them. When this kernel lacks ESP/GCM (as on the project VMs) it also boots Debian's stock kernel\n"
    "under QEMU: as root it installs qemu-system-x86 (plus busybox-static, tcpdump) with apt-get.\n"
    "Run it as root, e.g. `sudo make demo`. Nothing was changed."
)


@dataclass
class Scenario:
    """The seed scenario written for one lab: config path, key per node, endpoint addresses."""

    workdir: Path
    config: Path
    keys: dict[str, Path]
    networks: list[str]
    ips: dict[str, dict[str, str]]  # endpoint -> network -> IP (from overlayc.lock)
    encrypted: set[str]  # networks with `encrypted: true`
    markers: dict[str, str] = field(default_factory=dict)  # network -> HTTP payload marker


def say(text: str = "") -> None:
    """Print and flush (the ESP lab relays the guest's output file while it is written)."""
    print(text, flush=True)


def write_scenario(workdir: Path, cluster: str, networks: Sequence[str] | None = None) -> Scenario:
    """Copy the seed config (cluster renamed, optionally only `networks`), its lock and the
    EXAMPLE keys (mode 0600: git drops file modes) into workdir."""
    yaml = YAML()
    data = yaml.load((SEED / "overlay.yaml").read_text())
    data["cluster"]["name"] = cluster
    keep = list(networks) if networks is not None else list(data["networks"])
    for name in [n for n in data["networks"] if n not in keep]:
        del data["networks"][name]
    for section in ("services", "endpoints"):
        for spec in data.get(section, {}).values():
            spec["networks"] = [n for n in spec["networks"] if n in keep]
    config = workdir / "overlay.yaml"
    with config.open("w") as f:
        yaml.dump(data, f)
    shutil.copy(SEED / "overlayc.lock", workdir / "overlayc.lock")
    lock = YAML(typ="safe").load((SEED / "overlayc.lock").read_text())
    ips = {ep: {net: str(a["ip"]) for net, a in nets.items()} for ep, nets in lock["endpoints"].items()}
    keys = {}
    for node in data["nodes"]:
        keys[node] = workdir / f"{node}.key"
        shutil.copy(SEED / "keys" / f"{node}.key", keys[node])
        keys[node].chmod(0o600)
    encrypted = {net for net, spec in data["networks"].items() if spec.get("encrypted") is True}
    return Scenario(workdir, config, keys, keep, ips, encrypted)


def overlayc_on_nodes(
    runs: dict[str, list[str]], outdir: Path
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run one overlayc per node at the same time, as the nodes would each on itself (the lab has
    one apply lock per namespace); output (stdout + stderr) in outdir/<node>.out."""
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for node, args in runs.items():
            with open(outdir / f"{node}.out", "w") as out:
                procs[node] = subprocess.Popen([sys.executable, "-m", "overlayc", *args], stdout=out,
                                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
        return {node: subprocess.CompletedProcess(p.args, p.wait(), (outdir / f"{node}.out").read_text(), "")
                for node, p in procs.items()}  # fmt: skip
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()  # our own child, by its PID (only on an interruption)
                p.wait()


def node_args(command: str, lab: Lab, sc: Scenario, node: str, *extra: str) -> list[str]:
    """`<command> -f CFG --node N --netns NS --key-file K [extra]` (plan, apply)."""
    return [command, "-f", str(sc.config), "--node", node, "--netns", lab.netns(node),
            "--key-file", str(sc.keys[node]), *extra]  # fmt: skip


class Demo:
    """The demo's steps against one lab; each step appends its checks."""

    def __init__(self, lab: Lab, sc: Scenario) -> None:
        self.lab, self.sc = lab, sc
        self.checks: list[Check] = []
        self.timings: list[tuple[str, float]] = []
        self._t0 = time.monotonic()

    def step(self, title: str) -> None:
        say(f"\n=== [t={time.monotonic() - self._t0:6.1f} s] {title}")

    def timed(self, name: str, start: float) -> None:
        self.timings.append((name, time.monotonic() - start))

    def endpoint_ns(self, endpoint: str) -> str:
        return f"{self.lab.tag}-{endpoint}"

    def plan_and_apply(self) -> None:
        start = time.monotonic()
        self.step("overlayc plan -f CFG --node <node> --netns <node ns> --key-file <node key>, on every "
                  f"node at once ({FULL_PLAN_NODE}'s plan in full, the others' summary)")  # fmt: skip
        runs = {node: node_args("plan", self.lab, self.sc, node) for node in self.lab.nodes}
        plans = overlayc_on_nodes(runs, self.sc.workdir)
        say(plans[FULL_PLAN_NODE].stdout.rstrip())
        for node, res in plans.items():
            if node != FULL_PLAN_NODE:
                say(f"  {node}: exit {res.returncode}: {' | '.join(summary_lines(res.stdout))}")
        self.step("overlayc apply -f CFG --node <node> --netns <node ns> --key-file <node key> --yes, "
                  "on every node at once")  # fmt: skip
        runs = {node: node_args("apply", self.lab, self.sc, node, "--yes") for node in self.lab.nodes}
        for node, res in overlayc_on_nodes(runs, self.sc.workdir).items():
            summary = " | ".join(summary_lines(res.stdout)) or res.stdout.strip()
            say(f"  {node}: exit {res.returncode}: {summary}")
            self.checks.append(check_apply(node, res))
        self.timed("plan+apply", start)

    def traffic(self) -> None:
        start = time.monotonic()
        www = self.sc.workdir / "www"
        www.mkdir()
        for net in self.sc.networks:
            self.sc.markers[net] = f"OCDEMO-{secrets.token_hex(4)}-NET-{net}"
            (www / f"{net}.txt").write_text(self.sc.markers[net] + "\n")
        server = subprocess.Popen(
            ["ip", "netns", "exec", self.endpoint_ns(SERVER), sys.executable, "-m", "http.server",
             str(HTTP_PORT), "--bind", "0.0.0.0", "--directory", str(www)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for net in self.sc.networks:
                self.probe_network(net)
        finally:
            server.terminate()  # our own child (ip netns exec execs python), by its PID
            server.wait(timeout=10)
        self.timed("traffic+sniff", start)

    def probe_network(self, net: str) -> None:
        dst = self.sc.ips[SERVER][net]
        self.step(f"{net}: ping + HTTP GET {CLIENT} -> {SERVER} ({dst}), tcpdump on the underlay bridge")
        pcap = self.sc.workdir / f"{net}.pcap"
        with Capture(self.lab.underlay, "br0", pcap):
            res = subprocess.run(
                ["ip", "netns", "exec", self.endpoint_ns(CLIENT), sys.executable, "-m", "lab.probe",
                 dst, str(HTTP_PORT), f"/{net}.txt", self.sc.markers[net]],
                capture_output=True, text=True, check=False, cwd=ROOT,
            )  # fmt: skip
        self.checks.extend(reach_checks(net, dst, res))
        packets = read_pcap(pcap)
        marker = self.sc.markers[net].encode()
        stats = sniff_stats(packets, marker, PLAIN_PORT, ENCRYPTED_PORT)
        say(f"  probe: {res.stdout.strip() or res.stderr.strip()[-300:]}")
        encrypted = net in self.sc.encrypted
        notable = [p for p in packets[4:] if marker in p.frame or (encrypted and p.proto != PROTO_ESP)]
        shown = packets[:4] + notable[:4]
        for pkt in shown:
            say(f"  {pkt.describe()}{'   <-- marker in clear' if marker in pkt.frame else ''}")
        say(
            f"  capture: {stats.ipv4} IPv4 packets: {stats.esp} ESP, {stats.udp_plain} UDP to :{PLAIN_PORT}, "
            f"{stats.udp_encrypted} UDP to :{ENCRYPTED_PORT}; "
            f"marker {self.sc.markers[net]} in {stats.marker_hits}"
        )
        self.checks.append(sniff_check(net, encrypted, stats))

    def second_apply(self) -> None:
        start = time.monotonic()
        self.step("second apply on every node (--detailed-exitcode: exit 0 = nothing to do)")
        rcs = {}
        runs = {
            node: node_args("apply", self.lab, self.sc, node, "--yes", "--detailed-exitcode")
            for node in self.lab.nodes
        }
        for node, res in overlayc_on_nodes(runs, self.sc.workdir).items():
            rcs[node] = res.returncode
            say(f"  {node}: exit {res.returncode}: {' | '.join(summary_lines(res.stdout))}")
        detail = ", ".join(f"{n} exit {rc}" for n, rc in rcs.items())
        self.checks.append(Check("second apply: zero changes", all(rc == 0 for rc in rcs.values()), detail))
        self.timed("second apply", start)

    def destroy(self) -> None:
        start = time.monotonic()
        self.step("overlayc destroy --netns <node> --yes on every node")
        ok, parts = True, []
        runs = {node: ["destroy", "--netns", self.lab.netns(node), "--yes"] for node in self.lab.nodes}
        for node, res in overlayc_on_nodes(runs, self.sc.workdir).items():
            lines = summary_lines(res.stdout)
            say(f"  {node}: exit {res.returncode}: {' | '.join(lines)}")
            ok = ok and res.returncode == 0
            removed = re.search(r"(\d+) object", lines[-1] if lines else "")
            parts.append(f"{node} {removed.group(1) if removed else 0} removed")
        left = [ns for ns in list_netns() if ns in (self.endpoint_ns(CLIENT), self.endpoint_ns(SERVER))]
        self.checks.append(Check("destroy on every node", ok and not left,
                                 ", ".join(parts) + f"; endpoint namespaces left: {len(left)}"))  # fmt: skip
        self.timed("destroy", start)


def run_demo(networks: Sequence[str] | None = None, nodes: Sequence[str] = NODES) -> int:
    """The demo on this kernel (which must have ESP when an encrypted network is among `networks`);
    tests play a part of it (fewer networks or nodes)."""
    start = time.monotonic()
    checks: list[Check] = []
    timings: list[tuple[str, float]] = []
    lab = Lab(nodes, prefix=PREFIX)
    workdir = Path(tempfile.mkdtemp(prefix=f"{lab.tag}-"))
    try:
        with lab:
            timings.append(("lab", time.monotonic() - start))
            sc = write_scenario(workdir, lab.tag, networks)
            say(f"overlayc demo: seed scenario ({', '.join(sc.networks)}) on {', '.join(lab.nodes)}; "
                f"lab {lab.tag}, kernel {os.uname().release}, config {sc.config}")  # fmt: skip
            if klab.in_lab():  # boot + modules + interpreter start-up, before the demo's own clock
                say(f"(ESP lab guest up for {Path('/proc/uptime').read_text().split()[0]} s)")
            demo = Demo(lab, sc)
            try:
                demo.plan_and_apply()
                demo.traffic()
                demo.second_apply()
            except Exception as exc:  # a broken step is a failed check; cleanup and report still run
                demo.checks.append(Check("demo steps ran to the end", False, f"{type(exc).__name__}: {exc}"))
            finally:
                demo.destroy()
                checks, timings = checks + demo.checks, timings + demo.timings
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        for node in lab.nodes:  # overlayc's per-namespace apply lock files (flock, left in place by design)
            (APPLY_LOCK_DIR / f"netns-{lab.netns(node)}.lock").unlink(missing_ok=True)
    left = [ns for ns in list_netns() if ns.startswith((lab.tag + "-", lab.underlay))]
    checks.append(Check("lab removed", not left, f"namespaces of {lab.tag} left: {len(left)}"))
    say(format_report(checks, timings))
    return 0 if all(c.ok for c in checks) else 1


class Relay:
    """Print the guest's output while the ESP lab runs, by tailing its run dir's io/output (the
    run dir is found by a token in its io/env). `finish()` prints what was not relayed yet."""

    def __init__(self, token: str) -> None:
        self.token, self.shown = token, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Relay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _find(self) -> Path | None:
        for env in (klab.cache_dir() / "runs").glob("run-*/io/env"):
            try:
                if self.token in env.read_text():
                    return env.parent / "output"
            except OSError:
                continue
        return None

    def _loop(self) -> None:
        output = None
        while not self._stop.wait(0.5):
            output = output or self._find()
            try:
                text = output.read_text(errors="replace") if output else ""
            except OSError:
                continue
            end = text.rfind("\n") + 1
            if end > self.shown:
                sys.stdout.write(text[self.shown : end])
                sys.stdout.flush()
                self.shown = end

    def finish(self, output: str) -> None:
        say(output[self.shown :].rstrip("\n"))


def run_in_klab(start: float) -> int:
    """Boot the ESP lab and run `python -m lab.demo --inside` there, relaying its output."""
    say("This kernel has no ESP/GCM: running the demo inside the ESP lab (Debian's stock kernel "
        "under QEMU/TCG, 10-30x slower); its output follows.")  # fmt: skip
    reason = klab.available()
    if reason:
        print(f"demo: the ESP lab cannot run here: {reason}", file=sys.stderr)
        return 1
    setup_start = time.monotonic()
    try:
        # klab.setup() takes the cache's exclusive lock even when there is nothing to do, so it
        # waits for every guest running at the time (measured: 60 s): call it only when needed
        if not klab.is_set_up() or klab_build.missing_packages():
            klab.setup()
    except Exception as exc:  # LabSetupError names the failed step
        print(f"demo: setting up the ESP lab failed: {exc}", file=sys.stderr)
        return 1
    setup_s = time.monotonic() - setup_start
    token = secrets.token_hex(6)
    cmd = shlex.join([sys.executable, "-u", "-m", "lab.demo", "--inside"])
    with Relay(token) as relay:
        res = klab.run(cmd, timeout=LAB_TIMEOUT, env={"OVERLAYC_DEMO_RUN": token}, cwd=str(ROOT),
                       modules=klab.ESP_MODULES)  # fmt: skip
    relay.finish(res.output)
    total = time.monotonic() - start
    say(f"wall time: host {total - res.wall_s:.1f} s (lab setup {setup_s:.1f} s), "
        f"ESP lab {res.wall_s:.1f} s (boot + guest); total {total:.1f} s")  # fmt: skip
    if res.rc == klab.LAB_FAILURE:
        print("demo: the ESP lab itself failed (see above)", file=sys.stderr)
    return 0 if res.rc == 0 else 1


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: the lab is removed


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `make demo`; exit 0 only when every check passed."""
    start = time.monotonic()
    args = list(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        print(NEEDS_ROOT, file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if "--inside" in args or klab.in_lab():
            return run_demo()
        picture = write_picture()  # needs no kernel: drawn on the host, before the lab
        say(picture)
        rc = run_demo() if klab.host_has_esp() else run_in_klab(start)
        say(picture)
        return rc
    except KeyboardInterrupt:
        print("demo: interrupted; what it had made is removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
