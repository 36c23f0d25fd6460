"""Entry changes of one place (a sandbox, or the node's namespace) on two netlink streams at once.

The FDB changes and the neighbour changes of a place are independent: different tables, and both
need only the vxlan device, which the plan makes before them. Measured on 6.18 in a fresh
sandbox: `bridge -batch` of 50k fdb lines takes 0.97 s, `ip -batch` of 50k neighbour lines 0.87 s,
both at once (two processes) 1.04 s: vxlan FDB creates and neighbour creates do not serialise on
one lock, so two streams nearly halve the kernel's wall time. Each stream has its own
NETLINK_ROUTE socket of the place (`Namespace.route`, `Namespace.second_route`) and is sent in
chunks with one ACK each (overlayc.netlink.batch), the FDB stream on a worker thread
(overlayc.netlink.parallel): one stream's kernel work overlaps the other's packing.

A stream packs SLICE changes at a time (`entry_messages`) and sends them before packing the next
slice, so the kernel starts after the first slice is packed, not after all of them are.

Failure contract: the streams share a `threading.Event` (halt). A chunk with a failure sets it,
and no stream starts a further chunk (or slice) once it is set (the request-by-request path,
which attempts every request whatever fails, neither sets nor heeds it once started); a chunk
already handed to the kernel by the other stream is read to its ACK, so what was done is known
exactly: the requests sent and not refused, of both streams. An exception in a stream sets halt
too and is raised once both streams have ended.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Mapping, Sequence
from itertools import compress

from overlayc.apply.messages import explain
from overlayc.apply.requests import entry_messages
from overlayc.changeset import kinds_of, picked
from overlayc.diff import Change
from overlayc.kernel.objects import KernelObject
from overlayc.netlink import batch
from overlayc.netlink.netns import Namespace
from overlayc.netlink.parallel import both
from overlayc.netlink.sock import NetlinkSocket
from overlayc.netlink.watch import EntryWatch

Failure = tuple[int, str, int]  # change index, message in words, errno (0: not the kernel's)
Outcome = tuple[list[Failure], list[int]]  # failures, indices of changes not attempted
General = Callable[[NetlinkSocket, list[int]], Outcome]  # the request-by-request path

SLICE = 2048  # changes packed at a time by a stream: about two chunks of 64 KiB


def change_object(change: Change) -> KernelObject:
    """The object a change creates or updates, or the one it deletes."""
    obj = change.after if change.after is not None else change.before
    if obj is None:
        raise ValueError(f"change {change.key} has neither before nor after")
    return obj


def refused(changes: Sequence[Change], owner: Sequence[int],
            failures: Sequence[batch.Failure]) -> list[Failure]:
    """(change index, message, errno) per request the kernel refused, from (request n, errno,
    extack); request n performs change owner[n]."""
    out: list[Failure] = []
    for n, err, text in failures:
        change = changes[owner[n]]
        out.append((owner[n], explain(change_object(change), str(change.action), err, text), err))
    return out


def send_entries(changes: Sequence[Change], idx: list[int], sock: NetlinkSocket,
                 ifindex: Mapping[str, int], halt: threading.Event, general: General,
                 watch: EntryWatch | None = None) -> Outcome:
    """One stream: the changes `idx` in order on `sock`, SLICE at a time in chunks, until halt
    is set. A slice `entry_messages` cannot pack (another action, IPv6, a missing device) goes
    with the rest of the stream by `general`. After each slice the place's FDB `watch` is
    drained (overlayc.netlink.watch), by whichever stream is between two slices (not waiting
    while the other drains it): its queue stays a few slices' notifications long."""
    failures: list[Failure] = []
    for at in range(0, len(idx), SLICE):
        if halt.is_set():
            return failures, idx[at:]
        part = idx[at:at + SLICE]
        base = sock.reserve(len(part))
        messages = entry_messages(picked(changes, part), ifindex, base)
        if messages is None:  # every request is attempted there, as in a batch of only such changes
            rest = general(sock, idx[at:])
            return failures + rest[0], rest[1]
        sent, bad = batch.send_chunked(sock, base, messages, halt)
        if watch is not None:
            watch.drain(wait=False)
        failures += refused(changes, part, bad)
        if sent < len(part):
            return failures, idx[at + sent:]
    return failures, []


def send_place(changes: Sequence[Change], idx: list[int], ns: Namespace, ifindex: Mapping[str, int],
               general: General, watch: EntryWatch | None = None) -> Outcome:
    """The fdb and neighbour changes `idx` of one place, whose namespace is `ns`: the FDB ones on
    a second route socket, on a worker thread, the others on `ns.route` (module docstring).
    Failures by change index; the changes not attempted, in order."""
    halt = threading.Event()
    kinds = kinds_of(picked(changes, idx))  # a run's kind without building its entries
    is_fdb = list(map("fdb".__eq__, kinds))
    fdb = list(compress(idx, is_fdb))
    if not fdb or len(fdb) == len(idx):
        return send_entries(changes, idx, ns.route, ifindex, halt, general, watch)
    neigh = list(compress(idx, map(operator.not_, is_fdb)))
    rt, second = ns.route, ns.second_route  # made here: a socket is made inside the namespace
    a, b = both(lambda: send_entries(changes, fdb, second, ifindex, halt, general, watch),
                lambda: send_entries(changes, neigh, rt, ifindex, halt, general, watch), halt)
    return sorted(a[0] + b[0]), sorted(a[1] + b[1])
