"""The executor: performs an ordered list of Changes on a kernel (the only writing side effects).

`KernelHandle(netns)` works through the namespace handle's two sockets (route and XFRM), which
`observe()` uses too; `execute(changes)` performs
them in the given order. Consecutive fdb/neigh changes, and consecutive xfrm changes, are sent
batched (many requests per send, each attributed by its seq); links, endpoints and namespaces go
one at a time. Entry creates and updates go in chunks with one ACK each (overlayc.netlink.batch),
the FDB and the neighbour changes of one place on two sockets at once (overlayc.apply.streams):
after a chunk with a failure no further chunk of the batch is sent. On failure the changes after
the failing batch are not attempted and ExecutionError tells exactly which changes were applied,
so the caller can roll back those.
"""

from __future__ import annotations

import errno as E
from collections.abc import Callable, Iterator, Sequence
from itertools import groupby
from types import TracebackType

from overlayc.apply import interrupt
from overlayc.apply.links import LinkOps
from overlayc.apply.messages import explain, object_label
from overlayc.apply.requests import ROUTE_KINDS, XFRM_KINDS, StartOf, requests_for
from overlayc.apply.streams import Failure, General, Outcome, change_object, refused, send_place
from overlayc.apply.xfrm_race import transact_xfrm
from overlayc.changeset import devices_of, kinds_of
from overlayc.diff import Change
from overlayc.errors import ExecutionError, MissingDevice, StepFailed
from overlayc.kernel.ownership import LINK_GROUP, parse_alias
from overlayc.kernel.state import Observed
from overlayc.netlink import link as nl
from overlayc.netlink.core import attr_u32
from overlayc.netlink.netns import Namespace, NamespaceRef, namespace_id
from overlayc.netlink.sock import NetlinkSocket, Request
from overlayc.netlink.watch import Watches
from overlayc.observe.kernel import observe, read_links


def _error(applied: Sequence[int], failures: Sequence[Failure]) -> ExecutionError:
    return ExecutionError(tuple(applied), tuple((i, msg) for i, msg, _ in failures),
                          errnos=frozenset(err for _, _, err in failures if err))


def _segments(changes: Sequence[Change]) -> Iterator[tuple[str, list[int]]]:
    """Runs of change indices: ("route", ...) / ("xfrm", ...) batches, ("link", [i]) singletons."""
    kinds = kinds_of(changes)
    class_of = {kind: "route" if kind in ROUTE_KINDS else "xfrm" if kind in XFRM_KINDS else "link"
                for kind in set(kinds)}
    at = 0
    for cls, run in groupby(map(class_of.__getitem__, kinds)):  # C loops: 100k entries are common
        count = len(list(run))
        if cls == "link":
            yield from ((cls, [i]) for i in range(at, at + count))
        else:
            yield cls, list(range(at, at + count))
        at += count


class KernelHandle:
    """Netlink access to one network namespace through its handle's route and XFRM sockets. A
    context manager. `netns` is a handle (left open on close) or a name (None: the current
    namespace), for which a handle is opened and closed with this one.

    `cluster` only scopes `observe()` (see overlayc.observe.kernel.observe). `starts`, when set,
    says where the counters of each SA this handle creates begin (saved counters, DESIGN §4).
    `watch`: every place this handle observes or makes gets an FDB watch (overlayc.netlink.watch)
    from then on, and later observes take its FDB entries from it where it can say them, instead
    of dumping them again (apply's verify); the neighbours are dumped."""

    def __init__(self, netns: NamespaceRef, cluster: str | None = None, watch: bool = False) -> None:
        self._owns_ns = not isinstance(netns, Namespace)
        self.ns = netns if isinstance(netns, Namespace) else Namespace(netns)
        self.netns = self.ns.name
        self.cluster = cluster
        self.starts: StartOf | None = None
        self.watches = Watches() if watch else None
        try:
            self.rt = self.ns.route
            self.xs = self.ns.xfrm
            self.links = LinkOps(self.rt, cluster, namespace_id(self.netns), self.ns, self.watches)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        links = getattr(self, "links", None)
        if links is not None:
            links.close()
        if self.watches is not None:
            self.watches.close()
        if self._owns_ns:
            self.ns.close()

    def __enter__(self) -> KernelHandle:
        return self

    def __exit__(
        self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def observe(self) -> Observed:
        """The live state of this handle's namespace, read over its sockets (see observe())."""
        return observe(self.ns, self.cluster, self.watches)

    def execute(self, changes: Sequence[Change], progress: Callable[[int], None] | None = None) -> None:
        """Perform `changes` in order. `progress(n)` is called with the number of changes done so
        far after each batch or single change. Raises ExecutionError (applied, failures)."""
        applied: list[int] = []
        for cls, idx in _segments(changes):
            if (signal_name := interrupt.pending()) is not None:  # SIGTERM/SIGINT: stop here
                raise ExecutionError(tuple(applied), ((idx[0], f"not done: interrupted by {signal_name}"),))
            if cls == "link":
                failures, skipped = self._run_link(changes[idx[0]], idx[0]), list[int]()
            else:
                failures, skipped = self._run_batch(changes, idx, self.rt if cls == "route" else self.xs)
            failed = {i for i, _, _ in failures}.union(skipped)
            applied.extend(idx if not failed else (i for i in idx if i not in failed))
            if failures:
                raise _error(applied, failures)
            if progress is not None:
                progress(len(applied))

    def _run_link(self, change: Change, i: int) -> list[Failure]:
        try:
            self.links.run(change)
        except StepFailed as exc:
            self.links.refresh()
            return [(i, explain(exc.obj, exc.action, exc.errno, exc.extack), exc.errno)]
        return []

    def _run_batch(self, changes: Sequence[Change], idx: list[int], sock: NetlinkSocket) -> Outcome:
        """One batch: failures (index, message, errno), the first per change only, and the
        indices not attempted (after a failure in a chunked send, see overlayc.netlink.batch).
        FDB and neighbour entries go to the namespace their device is in (a sandbox, or the
        node's), on two streams (overlayc.apply.streams); after a failure in one namespace the
        entries of the next are not attempted."""
        if sock is self.rt:
            failures: list[Failure] = []
            skipped: list[int] = []
            for where, part in self._by_place(changes, idx):
                if failures or skipped:
                    skipped += part
                    continue
                ns = self.links.places.handle(where) if where else self.ns
                ifindex = {n: i.index for n, i in self.links.context(where)[1].items()}
                watch = self.watches.get(ns) if self.watches is not None else None
                done = send_place(changes, part, ns, ifindex, self._general(changes, ifindex), watch)
                failures += done[0]
                skipped += done[1]
            return failures, skipped
        return self._send_batch(changes, idx, sock, {})

    def _by_place(self, changes: Sequence[Change], idx: list[int]) -> Iterator[tuple[str, list[int]]]:
        """Consecutive runs of `idx` whose device is in the same namespace."""
        where = self.links.places.where
        runs: list[tuple[str, int]] = []  # (place, length): per run of one device, merged by place
        for dev, same in groupby(devices_of(changes, idx)):
            place, count = where.get(dev, ""), len(list(same))
            if runs and runs[-1][0] == place:
                count += runs.pop()[1]
            runs.append((place, count))
        at = 0
        for place, count in runs:
            yield place, idx[at:at + count]
            at += count

    def _general(self, changes: Sequence[Change], ifindex: dict[str, int]) -> General:
        """The request-by-request path of a stream (overlayc.apply.streams) for `changes`."""
        return lambda sock, idx: self._send_batch(changes, idx, sock, ifindex)

    def _send_batch(
        self, changes: Sequence[Change], idx: list[int], sock: NetlinkSocket, ifindex: dict[str, int]
    ) -> Outcome:
        """The changes `idx` request by request, each acknowledged (a failure does not stop the
        others): failures, the first per change only; nothing is left unattempted."""
        failures: list[Failure] = []
        requests: list[Request] = []
        owner: list[int] = []
        for i in idx:
            try:
                reqs = requests_for(changes[i], ifindex, self.starts)
            except MissingDevice as exc:
                label = object_label(change_object(changes[i]))
                failures.append((i, f"{label}: device {exc} does not exist", 0))
                continue
            except ValueError as exc:
                failures.append((i, f"{object_label(change_object(changes[i]))}: {exc}", 0))
                continue
            requests.extend(reqs)
            owner.extend([i] * len(reqs))
        results = transact_xfrm(sock, requests) if sock is self.xs else sock.transact(requests)
        failures += refused(changes, owner, [(n, err, text) for n, (err, text) in enumerate(results) if err])
        first: dict[int, Failure] = {}
        for failure in failures:
            first.setdefault(failure[0], failure)
        return [first[i] for i in sorted(first)], []

    def destroy_all(self, cluster: str | None = None) -> list[str]:
        """Delete every overlayc-owned link (of `cluster`, or of any cluster when None); returns
        their names. One RTM_DELLINK by IFLA_GROUP when every member of LINK_GROUP is provably
        ours (alias tag, right cluster); otherwise owned links are deleted one by one and foreign
        members of the group are left alone. Raises ExecutionError."""
        by_index, _ = read_links(self.rt)
        members = [i for i in by_index.values() if i.group == LINK_GROUP]
        ours = [i for i in members if (t := parse_alias(i.alias)) is not None
                and (cluster is None or t.cluster == cluster)]
        if not ours:
            return []
        if len(ours) == len(members):
            reqs: list[Request] = [(nl.RTM_DELLINK, 0, nl.ifinfo(0) + attr_u32(nl.IFLA_GROUP, LINK_GROUP))]
        else:  # a foreign link sits in our group: bulk deletion would take it too
            reqs = [(nl.RTM_DELLINK, 0, nl.ifinfo(i.index)) for i in ours]
        results = self.rt.transact(reqs)
        self.links.refresh()
        bad = [(n, f"link {ours[n].name if len(reqs) > 1 else 'group'}: delete: "
                   f"the kernel refused: {text or E.errorcode.get(err, err)}", err)
               for n, (err, text) in enumerate(results) if err and err != E.ENODEV]
        if bad:
            raise _error((), bad)
        return sorted(i.name for i in ours)
