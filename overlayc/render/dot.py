"""`overlayc render --format dot`: the whole cluster as a Graphviz picture (pure).

One box (a `cluster_` subgraph) per node, labelled with its name, underlay address and role; in it
its VTEP and each task or standalone endpoint placed there. One ellipse per network (subnet, VNI,
MTU; encrypted ones filled and marked "ESP"); an edge from each endpoint to each network it joins,
labelled with its address. Node pairs that share an encrypted network are joined VTEP to VTEP by a
bold edge labelled with the epoch and both directions' outbound SPIs (the same text as tooltip, so
SVG viewers show it on hover). Everything is sorted: the same input gives the same bytes (golden).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from datetime import datetime

from overlayc.compile.assign import Assignment, Attachment
from overlayc.config.model import Config
from overlayc.errors import EnvironmentProblem
from overlayc.kernel.objects import Vxlan, XfrmState
from overlayc.kernel.state import KernelState

ENCRYPTED_FILL = "#fde0dd"
PLAIN_FILL = "#e0ecf4"


def quote(text: str) -> str:
    """A DOT double-quoted string (backslash and quote escaped; `\\n` kept as DOT's line break)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(**attrs: str) -> str:
    return "[" + ", ".join(f"{k}={quote(v)}" for k, v in attrs.items()) + "]"


def _node_box(config: Config, name: str, atts: tuple[Attachment, ...]) -> list[str]:
    node = config.nodes[name]
    vtep = _attrs(shape="box", style="filled", fillcolor="#f0f0f0", label=f"VTEP {node.address}")
    lines = [f"  subgraph {quote('cluster_node_' + name)} {{",
             f"    label={quote(f'{name}  {node.address}  ({node.role})')}; style=rounded;",
             f"    {quote('vtep:' + name)} {vtep};"]
    for endpoint in sorted({a.endpoint for a in atts}):
        lines.append(f"    {quote('ep:' + endpoint)} {_attrs(shape='component', label=endpoint)};")
    lines.append("  }")
    return lines


def _network(config: Config, assignment: Assignment, name: str, mtu: int | None) -> str:
    net = config.networks[name]
    enc = net.is_encrypted
    subnets = "  ".join(map(str, net.all_subnets))
    label = f"{name}\n{subnets}  vni {assignment.vnis.get(name, '-')}" + (f"  mtu {mtu}" if mtu else "")
    label += "\nESP (encrypted)" if enc else ""
    return f"  {quote('net:' + name)} " + _attrs(
        shape="ellipse", style="filled", fillcolor=ENCRYPTED_FILL if enc else PLAIN_FILL,
        color="red" if enc else "black", label=label)


def _mtus(states: Mapping[str, KernelState]) -> dict[str, int]:
    """Network → inner MTU, from the vxlan devices' ownership tags (`...:<network>`)."""
    out: dict[str, int] = {}
    for state in states.values():
        for o in state.of_kind("vxlan"):
            if isinstance(o, Vxlan):
                out.setdefault(o.alias.rsplit(":", 1)[-1], o.mtu)
    return out


def _esp_pairs(config: Config, states: Mapping[str, KernelState], epoch: int | None) -> list[str]:
    """One edge per node pair holding SAs: epoch and each direction's outbound SPI."""
    names = {n.address: name for name, n in config.nodes.items()}
    spis: dict[tuple[str, str], int] = {}
    for node, state in states.items():
        for o in state.of_kind("xfrm-state"):
            if isinstance(o, XfrmState) and names.get(o.src) == node and o.epoch == epoch:
                spis[(node, names.get(o.dst, str(o.dst)))] = o.spi
    lines = []
    for a, b in sorted({tuple(sorted(pair)) for pair in spis}):
        text = f"ESP epoch {epoch}\n" + "\n".join(
            f"{x}→{y} spi {spis[(x, y)]:#010x}" for x, y in ((a, b), (b, a)) if (x, y) in spis)
        lines.append(f"  {quote('vtep:' + a)} -- {quote('vtep:' + b)} " + _attrs(
            style="bold", color="red", fontcolor="red", label=text, tooltip=text))
    return lines


def render_dot(config: Config, assignment: Assignment, states: Mapping[str, KernelState],
               at: datetime, epoch: int | None) -> str:
    """The cluster picture in DOT. `states` holds each node's desired state compiled at `at`
    (their vxlan MTUs and SAs are shown); `epoch` is the key epoch at `at` (None: no encryption)."""
    c = config.cluster
    when = at.isoformat().replace("+00:00", "Z")
    title = f"cluster {c.name} at {when}" + (f", key epoch {epoch}" if epoch is not None else "")
    lines = ["graph overlay {",
             f"  graph {_attrs(label=title, labelloc='t', fontname='Helvetica', rankdir='LR')};",
             f"  node {_attrs(fontname='Helvetica', fontsize='10')};",
             f"  edge {_attrs(fontname='Helvetica', fontsize='9')};"]
    for name in sorted(config.nodes):
        lines += _node_box(config, name, assignment.by_node.get(name, ()))
    mtus = _mtus(states)
    lines += [_network(config, assignment, n, mtus.get(n)) for n in sorted(config.networks)]
    for net in sorted(assignment.attachments):
        for a in assignment.attachments[net]:
            style = "solid" if a.managed else "dashed"
            ips = " ".join(str(ip) for ip in (a.ip, a.ip6) if ip is not None)
            lines.append(f"  {quote('ep:' + a.endpoint)} -- {quote('net:' + net)} "
                         + _attrs(label=ips, tooltip=f"{a.endpoint} {ips} {a.mac}", style=style))
    lines += _esp_pairs(config, states, epoch)
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_to_svg(dot_text: str) -> str:
    """Lay out `dot_text` with Graphviz's `dot -Tsvg` (the one side effect here: a subprocess).

    Raises EnvironmentProblem when Graphviz is not installed or fails."""
    exe = shutil.which("dot")
    if exe is None:
        raise EnvironmentProblem("--format svg needs Graphviz's `dot` (apt-get install graphviz); "
                                 "--format dot prints the picture's source without it")
    done = subprocess.run([exe, "-Tsvg"], input=dot_text, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise EnvironmentProblem(f"dot -Tsvg failed: {done.stderr.strip()}")
    return done.stdout


def render_cluster(config: Config, assignment: Assignment, at: datetime, svg: bool = False) -> str:
    """The DOT (or, through Graphviz, SVG) picture of the whole cluster at `at`: every node
    compiled without private keys (SPIs are public data)."""
    from overlayc.compile import compile_node
    from overlayc.compile.epoch import epoch_of

    states = {n: compile_node(config, assignment, n, at=at, private_key=None) for n in sorted(config.nodes)}
    encrypted = any(net.is_encrypted for net in config.networks.values())
    epoch = epoch_of(at, config.cluster.encryption.rotation) if encrypted else None
    text = render_dot(config, assignment, states, at, epoch)
    return dot_to_svg(text) if svg else text
