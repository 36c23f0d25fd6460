"""Helpers for the config-stage tests: write YAML to a temporary directory and load it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from overlayc.config.load import LoadedConfig, load_config
from overlayc.errors import ConfigError, Diagnostic

BASE = """\
version: 1
cluster:
  name: demo
  id: demo-cluster-0001
nodes:
  node1:
    address: 192.0.2.1
  node2:
    address: 192.0.2.2
"""


def write(tmp: Path, text: str, name: str = "overlay.yaml") -> Path:
    path = tmp / name
    path.write_text(textwrap.dedent(text))
    return path


def load_ok(tmp: Path, text: str) -> LoadedConfig:
    return load_config([write(tmp, text)])


def diagnose(tmp: Path, text: str) -> list[Diagnostic]:
    """The diagnostics of an invalid config (fails the test when it loads)."""
    with pytest.raises(ConfigError) as info:
        load_config([write(tmp, text)])
    return info.value.diagnostics


def codes(tmp: Path, text: str) -> list[str]:
    return [d.code for d in diagnose(tmp, text)]
