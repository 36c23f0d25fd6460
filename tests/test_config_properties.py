"""Property: random mutations of valid configs load or give diagnostics, never another exception."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from overlayc.config.load import load_config
from overlayc.errors import ConfigError
from tests.support.host import ROOT

SOURCES = [ROOT / "examples" / name / "overlay.yaml" for name in ("seed", "plain", "large")]
TEXTS = [p.read_text() for p in SOURCES]
GARBAGE = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False),
    st.text(max_size=12), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for p in path[:-1]:
        data = data[p]
    return data


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid example with a few keys deleted, renamed, or values replaced by garbage (as YAML)."""
    data = YAML(typ="safe").load(draw(st.sampled_from(TEXTS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, last = _parent(data, path), path[-1]
        action = draw(st.sampled_from(["delete", "rename", "garbage"]))
        if action == "delete":
            del parent[last]
        elif action == "rename" and isinstance(parent, dict):
            parent[str(last) + draw(st.sampled_from(["s", "_", "x", "."]))] = parent.pop(last)
        else:
            parent[last] = draw(GARBAGE)
    buf = io.StringIO()
    YAML(typ="safe").dump(data, buf)
    return buf.getvalue()


def _check(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "overlay.yaml"
        path.write_text(text)
        try:
            loaded = load_config([path])
        except ConfigError as err:
            assert err.diagnostics, "a ConfigError carries at least one diagnostic"
            assert all(d.location.file == str(path) for d in err.diagnostics)
            raw = ("pydantic", "Input should", "[type=", "Value error")
            assert all(d.message and not any(r in d.message for r in raw) for d in err.diagnostics)
        else:
            assert loaded.config.cluster.name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_configs_never_crash(text: str) -> None:
    _check(text)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(TEXTS), st.floats(0, 1))
def test_truncated_yaml_never_crashes(text: str, fraction: float) -> None:
    _check(text[: int(len(text) * fraction)])


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abc:-[]{}\"' \n\t#&*!|>0123.")), max_size=60))
def test_arbitrary_text_never_crashes(text: str) -> None:
    _check(text)
