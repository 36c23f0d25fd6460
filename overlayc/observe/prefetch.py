"""The big dumps of `overlayc plan --netns NS`, read by a child process while the command starts.

Most of a no-op plan of a node holding 50k FDB + 50k neighbour entries is the kernel making those
two dumps (~0.5 s of system time, the same as for `bridge fdb show` + `ip neigh show`) and the
command's own start (~0.5 s importing pydantic, typer and the configuration models), one after
the other. `start(argv)`, called before those imports, forks a child that reads the FDB and
neighbour dumps of every sandbox of the node's namespace (`kernel.ownership.parse_sandbox_name`)
as raw recv() buffers into an anonymous file; observe takes them (`taken`) instead of dumping
again, and decodes them as it decodes a live dump (`netlink.sock.parse_dump`: the same errors,
NLM_F_DUMP_INTR included). A process, not a thread: the child's reads run on another core
without waiting for the interpreter lock the imports hold.

Only `plan` against a named namespace is prefetched (a read-only command: `apply` and the agent
read the kernel after taking the apply lock and repairing an interrupted apply, so they never
use older reads). The buffers are a read of the same tables a few hundred milliseconds before
observe's other dumps, as any two dumps are apart: a sandbox recreated in between has another
inode and is read again; an entry changed in between is a plan that `apply` checks against the
kernel (the digests of a saved plan, or a fresh plan). Anything that goes wrong in the child
(no such namespace, no privileges, a dump that fails) only means observe reads the kernel itself
and reports it as before.
"""

from __future__ import annotations

import atexit
import marshal
import mmap
import os
import signal
from collections.abc import Sequence

Dumps = dict[int, tuple[int, list[bytes]]]  # family → (sequence number, recv() buffers)
COMMANDS = ("plan",)


class _Child:
    """The forked reader: its pid and the anonymous file it writes into."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd = pid, fd
        self.result: dict[tuple[str, int], Dumps] | None = None

    def collect(self) -> dict[tuple[str, int], Dumps]:
        """What the child read, once it has exited ({} when it failed); by (sandbox, inode)."""
        if self.result is None:
            self.result = {}
            try:
                _, status = os.waitpid(self.pid, 0)
                size = os.fstat(self.fd).st_size
                if os.waitstatus_to_exitcode(status) == 0 and size:
                    with mmap.mmap(self.fd, size, prot=mmap.PROT_READ) as data:  # no copy of the file
                        self.result = {(name, ino): dumps for name, ino, dumps in marshal.loads(data)}
            except (OSError, ValueError, EOFError, TypeError):  # e.g. SIGCHLD ignored: reaped already
                self.result = {}
            finally:
                os.close(self.fd)
        return self.result

    def stop(self) -> None:
        """At exit: a child still reading is killed and reaped."""
        if self.result is None:
            self.result = {}
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            os.close(self.fd)


_child: _Child | None = None


def netns_of(argv: Sequence[str]) -> str | None:
    """The namespace a prefetch is for: `--netns NAME` (or `--netns=NAME`) of a command in
    COMMANDS planning against the kernel (no `--state`); None otherwise."""
    if not argv or argv[0] not in COMMANDS or any(a == "--state" or a.startswith("--state=") for a in argv):
        return None
    for i, arg in enumerate(argv):
        if arg == "--netns" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--netns="):
            return arg.split("=", 1)[1]
    return None


def start(argv: Sequence[str]) -> None:
    """Fork the reader for the command line `argv` (without the program name), when it plans
    against a namespace; call it before any thread is started. Imports nothing of overlayc's
    first: the child starts reading at once, each process imports what it needs."""
    global _child
    netns = netns_of(argv)
    if _child is not None or not netns:  # a name that is not a namespace: the child fails, harmlessly
        return
    try:
        fd = os.memfd_create("overlayc-prefetch", os.MFD_CLOEXEC)
    except OSError:  # no memfd (an old kernel, a seccomp filter): no prefetch
        return
    try:
        pid = os.fork()
    except OSError:  # out of processes or memory: no prefetch
        os.close(fd)
        return
    if pid == 0:  # pragma: no cover - the child: its coverage is not collected
        _detach()
        os._exit(_read_sandboxes(netns, fd))
    _child = _Child(pid, fd)
    atexit.register(_child.stop)


def taken(name: str, inode: int) -> Dumps | None:
    """The prefetched dumps of sandbox `name` whose namespace file has `inode` (each given out
    once); None when there are none, as without a prefetch."""
    if _child is None:
        return None
    return _child.collect().pop((name, inode), None)


def _detach() -> None:
    """In the child: stdin, stdout and stderr on /dev/null, so that a reader of the command's
    output (a pipe, a test's capture) sees its end when the command ends, not when the child does."""
    null = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(null, std)
    os.close(null)


def _read_sandboxes(netns: str, fd: int) -> int:
    """In the child: the sandboxes' dumps into file `fd`, marshalled; its exit code."""
    try:
        from overlayc.kernel.ownership import parse_sandbox_name
        from overlayc.netlink import neigh
        from overlayc.netlink.netns import NETNS_DIR, Namespace, namespace_id

        owner = namespace_id(netns)
        out = []
        for name in sorted(os.listdir(NETNS_DIR)):
            parsed = parse_sandbox_name(name)
            if parsed is None or parsed[2] != owner:
                continue
            with Namespace(name) as ns:
                dumps = {family: ns.route.capture_dump(neigh.RTM_GETNEIGH, neigh.encode_dump(family))
                         for family in (neigh.AF_BRIDGE, neigh.AF_UNSPEC)}
                out.append((name, os.fstat(ns.fd()).st_ino, dumps))
        data = memoryview(marshal.dumps(out))
        while data:
            data = data[os.write(fd, data):]
        return 0
    except BaseException:  # any failure: observe reads the kernel itself
        return 1
