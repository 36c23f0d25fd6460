"""Node key files (DESIGN.md §4): where they live, how they are written and read.

ONE line, base64 of the 32 raw private bytes, then "\\n", mode 0600: a file that group or others
can access is refused, as ssh does. Written with O_EXCL (never overwritten without `force`),
read without following a symbolic link. No function here puts key material into an exception
message, a repr or a log line.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import re
import stat
from pathlib import Path

from overlayc.compile.keys import KEY_LEN, encode_key, generate_private_key, public_key_of
from overlayc.config.model import NAME_RE
from overlayc.errors import InputError, KeyFileError

DEFAULT_KEY_DIR = Path("/etc/overlayc/keys")
KEY_DIR_ENV = "OVERLAYC_KEY_DIR"  # overrides DEFAULT_KEY_DIR (tests, unprivileged use)

def key_dir() -> Path:
    """Where node keys live by default: $OVERLAYC_KEY_DIR, else /etc/overlayc/keys."""
    env = os.environ.get(KEY_DIR_ENV)
    return Path(env) if env else DEFAULT_KEY_DIR


def default_key_path(node: str) -> Path:
    """The default private key file of `node`: `<key dir>/<node>.key`; InputError for a bad name."""
    if not re.match(NAME_RE, node):
        raise InputError(f"{node!r} is not a node name (lower-case letters, digits, '-', '_')")
    return key_dir() / f"{node}.key"


def write_private_key(path: Path, raw: bytes, *, force: bool = False) -> None:
    """Write `raw` as a key file at `path`, created with mode 0600 (never wider, not even briefly).

    Without `force` an existing file is never touched (O_EXCL) and InputError says so. With `force`
    the key is written to a fresh 0600 file next to it and renamed over it (atomic replace).
    The parent directory is created with mode 0700 when missing.
    """
    line = (encode_key(raw) + "\n").encode("ascii")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = path.with_name(f".{path.name}.tmp{os.getpid()}") if force else path
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise InputError(f"{path} already exists; refusing to overwrite it (use --force)") from None
    except OSError as err:
        raise InputError(f"cannot create {target}: {err.strerror}") from None
    try:
        # the umask can only remove bits, but be explicit: the file is 0600 whatever the umask
        os.fchmod(fd, 0o600)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    if force:
        os.replace(target, path)


def check_key_file_mode(path: Path, mode: int) -> None:
    """Refuse a key file that group or others can access in any way (ssh's rule)."""
    if mode & 0o077:
        raise KeyFileError(
            f"private key {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"it must be readable by its owner only: chmod 600 {path}"
        )


def read_private_key(path: Path) -> bytes:
    """The 32 raw private-key bytes of the key file at `path`.

    Raises InputError when the file is missing, KeyFileError when it is not a regular file, has
    group/other permission bits, or does not hold exactly one base64 line of 32 bytes.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise InputError(f"private key {path} does not exist (create it with `overlayc keys gen`)") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise KeyFileError(f"private key {path} is a symbolic link; give the file itself") from None
        raise InputError(f"cannot read private key {path}: {err.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"private key {path} is not a regular file")
        check_key_file_mode(path, info.st_mode)
        data = fh.read(4096)
    return _decode_key_file(path, data)


def _decode_key_file(path: Path, data: bytes) -> bytes:
    # Errors below describe the shape of the content, never the content itself.
    problem = f"private key {path} is not one line of base64 holding {KEY_LEN} bytes"
    lines = data.splitlines()
    if len(lines) != 1:
        raise KeyFileError(f"{problem} (found {len(lines)} lines)")
    try:
        raw = base64.b64decode(lines[0].strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{problem} (not valid base64)") from None
    if len(raw) != KEY_LEN:
        raise KeyFileError(f"{problem} (decodes to {len(raw)} bytes)")
    return raw


def load_private_key(path: Path) -> bytes | None:
    """Like `read_private_key`, but a missing file means "key unavailable" (None): CI plans."""
    if not os.path.lexists(path):
        return None
    return read_private_key(path)


def generate_key_file(path: Path, *, force: bool = False) -> bytes:
    """Create a fresh private key file at `path` (see `write_private_key`); return its public key."""
    private = generate_private_key()
    write_private_key(path, private, force=force)
    return public_key_of(private)


def resolve_private_key(node: str, key_file: Path | None) -> bytes | None:
    """The node's private key for compile, or None when it is unavailable.

    Without `key_file`, the default path is used and a missing file means "unavailable" (a CI
    plan). An explicitly given `key_file` must exist: a typo must not silently drop the keys.
    A file with group/other permissions or bad content is an error either way.
    """
    if key_file is not None:
        return read_private_key(key_file)
    return load_private_key(default_key_path(node))
