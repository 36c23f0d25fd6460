"""The demo's picture: the seed cluster as SVG (`overlayc render --format svg`), written under
build/demo/ of the checkout. Needs Graphviz's `dot`: installed with apt-get when missing and root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PICTURE = ROOT / "build" / "demo" / "seed.svg"
SEED_CONFIG = ROOT / "examples" / "seed" / "overlay.yaml"


def ensure_graphviz() -> str | None:
    """None when `dot` is available (installing Graphviz as root when needed), else why not."""
    if shutil.which("dot") is not None:
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "Graphviz is not installed (apt-get install graphviz)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "graphviz"]
    if subprocess.run(cmd, env=env, capture_output=True, check=False).returncode != 0:
        return "apt-get install graphviz failed"
    return None if shutil.which("dot") is not None else "graphviz installed but `dot` is not on PATH"


def write_picture(path: Path = PICTURE) -> str:
    """Write the seed cluster's SVG to `path`; return the line that tells the user where it is."""
    why = ensure_graphviz()
    if why is not None:
        return f"demo: no cluster picture: {why}"
    cmd = [sys.executable, "-m", "overlayc", "render", "-f", str(SEED_CONFIG), "--format", "svg", "--locked"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        return f"demo: no cluster picture: `overlayc render --format svg` failed: {done.stderr.strip()}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(done.stdout)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return f"demo: the cluster picture (overlayc render --format svg): {shown}"
