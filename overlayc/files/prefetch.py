"""The input files of a command, read and parsed by a child process while the command starts.

One node's plan of a 1,000-node cluster spent ~0.45 s importing (pydantic, typer, the models),
then 0.2 s parsing its configuration's YAML and 0.25 s reading its 2.6 MB `overlayc.lock`, one
after the other on one core. `start(argv)`, called by `overlayc.launch` before those imports,
forks a child that reads each `-f FILE` and the lock file `load_config` will name
(`overlayc.config.lockdir`) with the same readers (`files.safe`), parses them with the same
parsers (`config.source.parse_yaml`; the lock's bulk reader, `files.lock_bulk`) and hands the
results over as `marshal` data of plain values (dicts, lists, strings, integers) in an
anonymous file, the configuration first, then the lock. The child imports neither pydantic nor
typer, so it is done with the configuration before the parent's imports are.

The parent takes a result (`parsed_yaml`, `lock_body`) only for the same file name and the same
bytes it has just read itself (a sha256 of them), and only results the parsers gave without a
diagnostic (a configuration) or from the bulk path (a lock); each is given out once. Anything
else — a file that changed in between, a directory of files, a diagnostic, a lock in another
layout, a child that failed or was killed — is parsed by the parent exactly as without a
prefetch, so the child can only save time, never change a result, a message or an exit code.
When the parent needs a result the child has not finished, it waits: the child began earlier
and does the same work, so with a core of its own it is ahead of the parent doing it again.
At exit the child is killed (if still running) and reaped; its stdio is /dev/null.
"""

from __future__ import annotations

import atexit
import hashlib
import marshal
import os
import signal
from collections.abc import Sequence
from ipaddress import IPv6Address
from itertools import islice, repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from overlayc.gcpause import paused_gc

if TYPE_CHECKING:
    from overlayc.compile.lock import Pin
    from overlayc.config.sourcemap import SourceMap
    from overlayc.errors import Diagnostic

# the commands that load a configuration → whether they read its lock too
COMMANDS = {"validate": True, "render": True, "plan": True, "apply": True, "reconcile": True,
            "status": True, "nodes": False}
_END = 8  # the child ends each part by writing the file's size so far: 8 bytes on the pipe

# A configuration file as the child parsed it: its data, then the YAML paths of its values with
# their lines and columns, then the same for its keys (`SourceMap.values`, `.keys`), as lists.
Parsed = tuple[Any, list[Any], list[int], list[int], list[Any], list[int], list[int]]
# A lock's tasks and endpoints as the bulk reader read them, the pins flattened: tasks, endpoint
# names, the number of pins of each, then per pin its network, ip, mac and ip6 (integers or None).
PlainBody = tuple[dict[str, str], list[str], list[int], list[str], list[Any], list[str], list[Any]]


def inputs_of(argv: Sequence[str]) -> tuple[list[str], bool] | None:
    """What the command line `argv` (without the program name) reads: its `-f` values (`-f X`,
    `-fX`, `--file X`, `--file=X`) and whether it reads the lock; None for a command that loads
    no configuration, and for the reconcile agent's loop. A guess from the words alone: a wrong
    one only costs the child's work."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in COMMANDS or (command == "reconcile" and "--once" not in argv):
        return None  # the agent's loop: its first round is not worth a child alive for its life
    files: list[str] = []
    args = iter(argv[list(argv).index(command) + 1:])
    for arg in args:
        if arg == "--":
            break
        if arg in ("-f", "--file"):
            value = next(args, None)
            if value is not None:
                files.append(value)
        elif arg.startswith("--file="):
            files.append(arg[len("--file="):])
        elif arg.startswith("-f"):
            files.append(arg[2:])
    return (files, COMMANDS[command]) if files else None


class _Child:
    """The forked reader: its pid, the anonymous file it writes into, the pipe it says so on."""

    def __init__(self, pid: int, fd: int, ready: int, files: list[str], lock: str | None) -> None:
        self.pid, self.fd, self.ready = pid, fd, ready
        self.files, self.lock = set(files), lock  # what it reads: nothing else is waited for
        self.ends: list[int] = [0]  # where each part ends in the file, as the child said
        self.closed = False
        self.configs: dict[str, tuple[bytes, Parsed]] | None = None

    def part(self, index: int) -> Any:
        """Part `index` (0: configurations, 1: lock) once the child has written it; None when
        it never will (failed, killed, or the parts are taken already)."""
        while not self.closed and len(self.ends) <= index + 1:
            data = b""
            try:
                while len(data) < _END and (chunk := os.read(self.ready, _END - len(data))):
                    data += chunk
            except OSError:
                data = b""
            if len(data) < _END:  # the child ended without writing it
                self.stop()
            else:
                self.ends.append(int.from_bytes(data, "little"))
        if self.closed and len(self.ends) <= index + 1:
            return None
        try:
            return marshal.loads(os.pread(self.fd, self.ends[index + 1] - self.ends[index], self.ends[index]))
        except (OSError, ValueError, EOFError, TypeError):
            return None

    def config(self, file: str, digest: bytes) -> Parsed | None:
        """The parsed configuration file `file`, when the child read exactly bytes of `digest`."""
        if file not in self.files:
            return None
        if self.configs is None:
            got = self.part(0)
            self.configs = {f: (d, parsed) for f, d, *parsed in got} if isinstance(got, list) else {}
        d, parsed = self.configs.pop(file, (b"", None))
        return parsed if d == digest else None

    def lock_body(self, where: str, digest: bytes) -> PlainBody | None:
        """The bulk-read sections of lock file `where`, when the child read bytes of `digest`."""
        if where != self.lock:
            return None
        self.lock = None  # given out once
        got = self.part(1)
        self.stop()
        if not isinstance(got, tuple) or got[0] != digest:
            return None
        return got[1:]

    def stop(self) -> None:
        """At exit or when nothing more is needed from it: the child is killed and reaped."""
        if self.closed:
            return
        self.closed = True
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):  # e.g. SIGCHLD ignored: reaped already
            pass
        os.close(self.ready)
        os.close(self.fd)


_child: _Child | None = None


def start(argv: Sequence[str]) -> None:
    """Fork the reader for the command line `argv` (without the program name) when it loads a
    configuration; call it before any thread is started and before the heavy imports."""
    global _child
    inputs = inputs_of(argv)
    if _child is not None or inputs is None:
        return
    files, with_lock = inputs
    lock = _lock_path(files) if with_lock else None
    try:
        fd = os.memfd_create("overlayc-inputs", os.MFD_CLOEXEC)
    except OSError:  # no memfd (an old kernel, a seccomp filter): no prefetch
        return
    try:
        ready, done = os.pipe2(os.O_CLOEXEC)
    except OSError:  # out of descriptors: no prefetch
        os.close(fd)
        return
    try:
        pid = os.fork()
    except OSError:  # out of processes or memory: no prefetch
        for end in (fd, ready, done):
            os.close(end)
        return
    if pid == 0:  # pragma: no cover - the child: its coverage is not collected
        os.close(ready)
        _detach()
        os._exit(_read_inputs(files, lock, fd, done, argv))
    os.close(done)
    _child = _Child(pid, fd, ready, [str(Path(f)) for f in files], lock)
    atexit.register(_child.stop)


@paused_gc()  # as parse_yaml: tens of thousands of objects that all stay alive
def parsed_yaml(file: str, text: str, smap: SourceMap) -> tuple[Any, list[Diagnostic]] | None:
    """`parse_yaml(file, text, smap)` as the child computed it for these same bytes, adding the
    same locations to the empty `smap`; None when there is no such result (parse it)."""
    if _child is None or smap.values or smap.keys or smap.lines:
        return None
    parsed = _child.config(file, hashlib.sha256(text.encode()).digest())
    if parsed is None:
        return None
    from overlayc.errors import Location

    doc, paths, lines, columns, key_paths, key_lines, key_columns = parsed
    try:
        values = dict(zip(paths, map(Location, repeat(file), lines, columns), strict=True))
        keys = dict(zip(key_paths, map(Location, repeat(file), key_lines, key_columns), strict=True))
    except (ValueError, TypeError):  # not what the child writes: parse it
        return None
    smap.lines[file] = tuple(text.splitlines())
    smap.values, smap.keys = values, keys
    return doc, []


def lock_body(where: str, data: bytes) -> tuple[dict[str, str], dict[str, dict[str, Pin]]] | None:
    """The tasks and endpoints sections of the lock file `where` holding `data`, as the bulk
    reader reads them (`overlayc.files.lock._parse_bulk`), when the child read these same bytes
    and the bulk reader took them; None otherwise (parse them)."""
    body = None if _child is None else _child.lock_body(where, hashlib.sha256(data).digest())
    if body is None:
        return None
    from overlayc.compile.lock import Pin
    from overlayc.files.lock_bulk import ipv4, ipv4_all

    tasks, names, counts, nets, ips, macs, ips6 = body
    try:  # 32k pins of 20k endpoints for 1,000 nodes: built by C-level maps, not a Python step each
        v4 = ipv4_all(ips) if None not in ips else [None if ip is None else ipv4(ip) for ip in ips]
        v6 = [None] * len(ips6) if ips6.count(None) == len(ips6) else [
            None if ip6 is None else IPv6Address(ip6) for ip6 in ips6]
        pins = map(tuple.__new__, repeat(Pin), zip(v4, macs, v6, strict=True))  # as the bulk reader does
        pairs = zip(nets, pins, strict=True)
        endpoints = dict(zip(names, map(dict, map(islice, repeat(pairs), counts)), strict=True))
    except (ValueError, TypeError):  # not what the child writes: parse it
        return None
    return (tasks, endpoints) if sum(counts) == len(nets) else None


def _lock_path(files: list[str]) -> str | None:
    """The lock file `load_config` names for these `-f` values (None when that fails)."""
    from overlayc.config.lockdir import LOCK_NAME, lock_dir

    try:
        return str(lock_dir([Path(f) for f in files]) / LOCK_NAME)
    except (OSError, ValueError, RuntimeError):
        return None


def _cache_answers(argv: Sequence[str], inputs: list[str]) -> bool:  # pragma: no cover - in the child
    """Whether the state directory the command line `argv` names (`--state-dir`, else
    `$OVERLAYC_STATE_DIR`, else the default; `overlayc.files.statedir.state_root`) holds an
    assignment cache written after every file of `inputs` was: then the parent most likely takes
    its Assignment from the cache (`overlayc.inputs.assign_with_lock`) and never reads the lock,
    and the child leaves the lock alone rather than take a core from the command (a no-op
    `plan --netns` of 50k + 50k entries: its kernel reader's child, its imports). A guess: when
    it is wrong, the parent reads the lock itself, as without a prefetch."""
    from overlayc.files.statedir import ASSIGN_CACHE_NAME, state_root

    explicit = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--state-dir"), None)
    explicit = next((a.split("=", 1)[1] for a in argv if a.startswith("--state-dir=")), explicit)
    try:
        root = state_root(None if explicit is None else Path(explicit))
        cached = os.stat(root / ASSIGN_CACHE_NAME).st_mtime_ns
        return all(os.stat(f).st_mtime_ns <= cached for f in inputs)
    except (OSError, ValueError):
        return False


def _detach() -> None:  # pragma: no cover - in the child
    """In the child: stdin, stdout and stderr on /dev/null, so that a reader of the command's
    output sees its end when the command ends, not when the child does."""
    null = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(null, std)
    os.close(null)


def _read_inputs(files: list[str], lock: str | None, fd: int, done: int,
                 argv: Sequence[str]) -> int:  # pragma: no cover
    """In the child: the configurations, then the lock (None in its place when the state
    directory's assignment cache most likely answers for it: `_cache_answers`), each part
    marshalled into file `fd` and announced on `done`; its exit code."""
    try:
        import gc

        gc.disable()  # a short life with no cycles worth collecting
        from overlayc.files.prefetch_child import read_config, read_lock_body

        end = _put(fd, done, 0, [got for f in files if (got := read_config(f)) is not None])
        if lock is not None:
            _put(fd, done, end, None if _cache_answers(argv, [*files, lock]) else read_lock_body(lock))
        return 0
    except BaseException:  # any failure: the parent parses its files itself
        return 1


def _put(fd: int, done: int, at: int, value: Any) -> int:  # pragma: no cover - in the child
    """`value` marshalled into `fd` at offset `at`, then its end announced on `done`; the end.
    A value `marshal` cannot carry (a date in a configuration) is written as None."""
    try:
        data = memoryview(marshal.dumps(value))
    except ValueError:
        data = memoryview(marshal.dumps(None))
    while data:
        written = os.pwrite(fd, data, at)
        data, at = data[written:], at + written
    os.write(done, at.to_bytes(_END, "little"))
    return at
