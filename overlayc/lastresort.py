"""The last resort: an exception nobody expected is a bug in overlayc. The user sees one line
saying so and where the details went; the traceback goes to a file (mode 0600, it may name
paths and values of the run, never key material: secrets are `repr=False` everywhere), and the
process exits 70 (EX_SOFTWARE, sysexits.h).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

EX_SOFTWARE = 70


def _write_report(text: str) -> Path | None:
    """The file the report went to: the state directory when it is writable, else /tmp."""
    from overlayc.files.safe import ensure_dir, write_atomic
    from overlayc.files.statedir import state_root

    name = f"crash-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}.txt"
    try:
        path = ensure_dir(state_root(), 0o700) / name
        write_atomic(path, text.encode(), 0o600)
        return path
    except Exception:  # the state directory is unusable: fall back to a private temporary file
        pass
    try:
        fd, tmp = tempfile.mkstemp(prefix="overlayc-crash-", suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return Path(tmp)
    except OSError:
        return None


def report_bug(err: BaseException) -> int:
    """Write `err`'s traceback to a file, print one line on stderr, return EX_SOFTWARE."""
    text = (f"overlayc {' '.join(sys.argv[1:])}\n"
            + "".join(traceback.format_exception(type(err), err, err.__traceback__)))
    where = _write_report(text)
    place = f"the details are in {where}" if where is not None else "the details could not be saved"
    print(f"overlayc: internal error (a bug in overlayc, please report it): {type(err).__name__}; {place}",
          file=sys.stderr)
    return EX_SOFTWARE
