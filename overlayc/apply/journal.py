"""The intent journal: what an apply or destroy is about to create or remove, written (fsynced)
before the first change, so that after SIGKILL at any instant the next run finds and repairs what
was left half-made — without ever touching an object it cannot prove is overlayc's.

What a kill can leave, and why each is provably ours (the ownership rules, docs/security.md):
- a bridge/vxlan/veth created but not yet tagged (the kernel ignores IFLA_IFALIAS on create, so
  the tag is a second request): it carries overlayc's link group (set in the create request
  itself) and its name is in the journal. Removed.
- an endpoint half-made (veth tagged, its peer not yet addressed inside its namespace): tagged
  as ours, named in the journal. Removed; the apply then creates it whole.
- an empty file in /run/netns (killed between creating the name and mounting the namespace, or
  between unmounting and unlinking it; an endpoint's namespace or a sandbox): no namespace is
  mounted there, named in the journal. Removed. A namespace itself is tagged from before it has
  a name (overlayc.apply.netns), so observe owns it even without the journal.
- the same half-made links in the node's sandboxes (bridge, vxlan, host sides of veths): the
  sandbox is overlayc's, the link carries the link group and its name is in the journal. Removed.

    intents_of(changes) -> list[Intent]     what a list of changes may leave half-made
    record(directory, intents)              write the journal (atomically, mode 0600)
    replay(directory, links) -> list[str]   repair what the journal names; then clear it
    clear(directory)                        the run ended cleanly
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from overlayc.apply.links import LinkOps
from overlayc.changeset import singles_of
from overlayc.diff import Change
from overlayc.errors import InputError, OverlaycError
from overlayc.files.bounded import loads_json
from overlayc.files.safe import MiB, read_capped, write_atomic
from overlayc.kernel.objects import Bridge, Endpoint, Gateway, Netns, Sandbox, Vxlan
from overlayc.kernel.ownership import LINK_GROUP, parse_alias
from overlayc.netlink import link as nl
from overlayc.netlink import netns as nsops
from overlayc.observe.kernel import read_endpoint
from overlayc.options import netns_problem

JOURNAL_NAME = "intents.json"
KINDS = ("link", "endpoint", "netns")
LINK_KINDS = ("bridge", "vxlan", "veth")
_ATOMIC_KINDS = frozenset({"fdb", "neigh", "xfrm-state", "xfrm-policy"})


@dataclass(frozen=True, order=True)
class Intent:
    """One object a run may leave half-made: a `link` by name, an `endpoint` by its host-side
    veth `name` and namespace `netns`, a `netns` by name."""

    kind: str
    name: str
    netns: str = ""


def intents_of(changes: Sequence[Change]) -> list[Intent]:
    """The intents of every change that creates, replaces, updates or deletes a link, an
    endpoint or a namespace (FDB, neighbour and XFRM objects are atomic in the kernel)."""
    out: set[Intent] = set()
    for change in singles_of(changes):  # entries held compactly are atomic: not even looked at
        if change.key[0] in _ATOMIC_KINDS:  # most changes of a large plan: skip them cheaply
            continue
        for obj in (change.before, change.after):
            if isinstance(obj, Bridge | Vxlan | Gateway):
                out.add(Intent("link", obj.name))
            elif isinstance(obj, Endpoint):
                out.add(Intent("endpoint", obj.host, obj.netns))
            elif isinstance(obj, Netns | Sandbox):
                out.add(Intent("netns", obj.name))
    return sorted(out)


def _path(directory: Path) -> Path:
    return directory / JOURNAL_NAME


def record(directory: Path, intents: Sequence[Intent]) -> None:
    """Write the journal before the first change (replacing any older one)."""
    doc = [{"kind": i.kind, "name": i.name, "netns": i.netns} for i in intents]
    write_atomic(_path(directory), json.dumps(doc).encode(), 0o600)


def read(directory: Path) -> list[Intent]:
    """The intents of the journal in `directory` (empty when there is none); InputError when it
    is not a journal (a file overlayc did not write: it is then left alone, for a human)."""
    path = _path(directory)
    if not os.path.lexists(path):
        return []
    data = loads_json(read_capped(path, 16 * MiB), str(path))
    if not isinstance(data, list):
        raise InputError(f"{path}: not an overlayc intent journal; look at it, then remove it")
    out = []
    for item in data:
        ok = (isinstance(item, dict) and set(item) == {"kind", "name", "netns"}
              and item["kind"] in KINDS and netns_problem(item["name"]) is None
              and (item["netns"] == "" or netns_problem(item["netns"]) is None))
        if not ok:
            raise InputError(f"{path}: not an overlayc intent journal; look at it, then remove it")
        out.append(Intent(item["kind"], item["name"], item["netns"]))
    return out


def clear(directory: Path) -> None:
    """Remove the journal: the run ended with the kernel in a state observe fully explains."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_path(directory))


def replay(directory: Path, links: LinkOps) -> list[str]:
    """Repair what the journal of an interrupted run names (see the module docstring), then
    clear it. Returns one line per object removed. Raises KernelError-free: a removal the
    kernel refuses is reported in the returned lines and the journal is kept for the next run."""
    intents = read(directory)
    if not intents:
        return []
    links.refresh()
    by_index = {info.index: info for info in links.links.values()}
    done: list[str] = []
    failed = False
    for intent in intents:
        what = _repair(intent, links, by_index)
        if what is None:
            continue
        err = _remove(intent, links)
        failed |= err != 0
        done.append(f"{what}: " + ("removed" if not err else f"could not remove it: {os.strerror(err)}"))
    links.refresh()
    if not failed:
        clear(directory)
    return done


def _repair(intent: Intent, links: LinkOps, by_index: dict[int, nl.LinkInfo]) -> str | None:
    """What is half-made about `intent`'s object (None: nothing, leave it to the plan)."""
    if intent.kind == "netns":
        empty = nsops.is_placeholder(intent.name)
        return f"netns {intent.name}: an empty /run/netns entry" if empty else None
    sock, in_ns = links.context(_place(intent, links))
    info = in_ns.get(intent.name)
    if info is None or info.group != LINK_GROUP or info.kind not in LINK_KINDS:
        return None
    tag = parse_alias(info.alias)
    if tag is None:
        return f"{info.kind} {info.name}: created but not yet tagged"
    if intent.kind == "endpoint" and info.kind == "veth":
        try:
            _, broken = read_endpoint(info, tag, by_index if sock is links.rt else
                                      {i.index: i for i in in_ns.values()})
        except OverlaycError as err:  # e.g. its namespace is an empty file
            broken = str(err)
        return f"endpoint {info.name}: half-made ({broken})" if broken else None
    return None


def _remove(intent: Intent, links: LinkOps) -> int:
    """Remove the half-made object; the errno (0: done)."""
    if intent.kind == "netns":
        try:
            os.unlink(os.path.join(nsops.NETNS_DIR, intent.name))
        except OSError as err:
            return 0 if err.errno == errno.ENOENT else err.errno or errno.EIO
        return 0
    place = _place(intent, links)
    sock, _ = links.context(place)
    index = links.index(intent.name, place)
    [(code, _)] = sock.transact([(nl.RTM_DELLINK, 0, nl.ifinfo(index))])
    return 0 if code in (0, errno.ENODEV) else code


def _place(intent: Intent, links: LinkOps) -> str:
    """Where the intent's link is: "" (the node's namespace) when a link of that name is there,
    else the sandbox of the node that holds one (links in sandboxes: DESIGN.md §1)."""
    if intent.name in links.links:
        return ""
    return links.places.where.get(intent.name, "")
