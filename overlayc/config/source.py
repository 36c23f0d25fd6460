"""YAML text → plain Python data plus a source map (`overlayc.config.sourcemap`), in one pass
over ruamel's node graph.

Mapping keys become strings (their source text), duplicate keys inside one mapping are diagnostics,
and syntax errors become located diagnostics; nothing here raises on bad YAML.
"""

from __future__ import annotations

import warnings
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver

from overlayc.config.sourcemap import SourceMap as SourceMap
from overlayc.config.sourcemap import YamlPath as YamlPath
from overlayc.errors import Diagnostic, Location, Severity
from overlayc.files.bounded import (
    yaml_directive_problem,
    yaml_escape_problem,
    yaml_flow_depth_problem,
    yaml_graph_problem,
    yaml_line_problem,
    yaml_scalar_problem,
    yaml_tag_problem,
)
from overlayc.gcpause import paused_gc


def _loc(file: str, node: Node) -> Location:
    mark = node.start_mark
    return Location(file, mark.line + 1, mark.column + 1)


_STR = "tag:yaml.org,2002:str"


class _Walker:
    """Builds data and source map from composed nodes; first definition wins in the map."""

    def __init__(self, file: str, smap: SourceMap, yaml: YAML) -> None:
        self.file = file
        self.smap = smap
        self.constructor = yaml.constructor
        self.diagnostics: list[Diagnostic] = []

    def walk(self, node: Node, path: YamlPath, depth: int = 0) -> Any:
        if depth > 64:  # a recursive alias (`&a [*a]`) would never end
            self.diagnostics.append(_error("yaml-syntax", "document nests too deeply", _loc(self.file, node)))
            return None
        tag = node.tag  # a property that formats ruamel's Tag object: read once per node
        refused = yaml_tag_problem(node, tag)
        if refused is None and isinstance(node, ScalarNode):
            refused = yaml_scalar_problem(node, tag)
        if refused is not None:
            self.diagnostics.append(_error("yaml-limit", refused, _loc(self.file, node)))
            return None
        if isinstance(node, ScalarNode):
            if (why := yaml_escape_problem(node)) is not None:
                self.diagnostics.append(_error("yaml-syntax", why, _loc(self.file, node)))
                return None
            if tag == _STR:  # what the safe constructor returns for a string, without its
                return node.value  # memo of every scalar (200,000 keys: a second faster)
            try:
                return self.constructor.construct_object(node, deep=True)
            except (ValueError, OverflowError) as err:  # e.g. a date such as 2026-13-45
                self.diagnostics.append(_error("yaml-syntax", f"invalid value: {err}", _loc(self.file, node)))
            return None
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            out = []
            for i, item in enumerate(node.value):
                self._record((*path, i), item)
                out.append(self.walk(item, (*path, i), depth + 1))
            return out
        return None

    def _record(self, path: YamlPath, node: Node, key: Node | None = None,
                key_at: Location | None = None) -> None:
        """Where `node` (at `path`) was written; `key_at`: its key's location, when known."""
        if key is not None:
            key_at = key_at or _loc(self.file, key)
            self.smap.keys.setdefault(path, key_at)
        if key is not None and not isinstance(node, ScalarNode):
            self.smap.values.setdefault(path, key_at or _loc(self.file, key))
        else:
            self.smap.values.setdefault(path, _loc(self.file, node))

    def _mapping(self, node: MappingNode, path: YamlPath, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first: dict[str, Location] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.diagnostics.append(
                    _error("invalid-key", "a mapping key must be a plain name", _loc(self.file, key_node))
                )
                continue
            key = str(key_node.value)
            here = _loc(self.file, key_node)
            if (why := yaml_escape_problem(key_node)) is not None:
                self.diagnostics.append(_error("yaml-syntax", why, here))
                continue
            if key in first:
                self.diagnostics.append(Diagnostic(
                    Severity.ERROR, "duplicate-key", f"key '{key}' is defined twice in this mapping",
                    here, related=(("first defined here", first[key]),),
                ))
                continue
            first[key] = here
            self._record((*path, key), value_node, key_node, here)
            out[key] = self.walk(value_node, (*path, key), depth + 1)
        return out


def _error(code: str, message: str, location: Location, hint: str | None = None) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, message, location, hint)


def _syntax_diagnostic(file: str, err: YAMLError) -> Diagnostic:
    if isinstance(err, MarkedYAMLError) and err.problem_mark is not None:
        mark = err.problem_mark
        problem = err.problem or "invalid YAML"
        context = f" ({err.context})" if err.context else ""
        related: tuple[tuple[str, Location], ...] = ()
        if err.context_mark is not None and err.context:
            cm = err.context_mark
            related = ((f"{err.context}, which starts here", Location(file, cm.line + 1, cm.column + 1)),)
        return Diagnostic(Severity.ERROR, "yaml-syntax", f"YAML syntax error: {problem}{context}",
                          Location(file, mark.line + 1, mark.column + 1), related=related)
    return _error("yaml-syntax", f"YAML syntax error: {err}", Location(file))


class _OneVersionResolver(VersionedResolver):
    """ruamel's resolver with its rules looked up once per document instead of twice per scalar.

    Under libyaml's parser ruamel finds the YAML version through two failed attribute look-ups
    per call (the C parser has no Python scanner to hold a `%YAML` directive), so it is the
    loader's default (1.2) on every call: 80 % of composing 200,000 keys (8 µs per scalar,
    cProfile of `overlayc validate`). The rules found the first time are kept."""

    @property
    def versioned_resolver(self) -> Any:
        rules = self.__dict__.get("_overlayc_rules")
        if rules is None:
            rules = self.__dict__["_overlayc_rules"] = VersionedResolver.versioned_resolver.fget(self)  # type: ignore[attr-defined]
        return rules

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """ruamel's tag of a node, memoised per text for plain scalars: with the rules fixed for
        the document and no path resolvers (overlayc adds none), a plain scalar's tag is a function
        of its text alone, and keys (`address`, `networks`) and values (`true`, `a`) repeat."""
        if kind is not ScalarNode or not implicit[0] or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        memo: dict[str, Any] = self.__dict__.setdefault("_overlayc_tags", {})
        tag = memo.get(value)
        if tag is None:
            tag = memo[value] = super().resolve(kind, value, implicit)
        return tag


def _compose(text: str) -> tuple[YAML, Node | None]:
    """The node graph of `text`, parsed by libyaml (ruamel.yaml.clib: 4× faster than the pure
    parser, same line/column marks) when present. A document it refuses is parsed again by the
    pure parser, so that syntax errors keep ruamel's wording and marks."""
    fast = YAML(typ="safe")
    fast.Resolver = _OneVersionResolver
    try:
        return fast, fast.compose(text)
    except YAMLError:
        pure = YAML(typ="safe", pure=True)
        return pure, pure.compose(text)


@paused_gc()  # 200,000 keys: a million nodes, marks and locations that all stay alive
def parse_yaml(file: str, text: str, smap: SourceMap) -> tuple[Any, list[Diagnostic]]:
    """Parse one document of `text` (shown as `file`), adding its locations to `smap`.

    Returns (data, diagnostics); data is None for an empty document or when parsing failed."""
    smap.lines[file] = tuple(text.splitlines())
    directive = yaml_directive_problem(text)
    if directive is not None:  # ruamel asserts on an unknown %YAML version: refuse it first
        return None, [_error("yaml-syntax", directive[1], Location(file, directive[0], 1))]
    long_line = yaml_line_problem(text)
    if long_line is not None:
        return None, [_error("yaml-limit", long_line[1], Location(file, long_line[0], 1))]
    flow = yaml_flow_depth_problem(text)
    if flow is not None:
        return None, [_error("yaml-limit", flow[2], Location(file, flow[0], flow[1]))]
    try:
        with warnings.catch_warnings():  # a reused anchor is legal YAML: no warning on stderr
            warnings.simplefilter("ignore")
            yaml, root = _compose(text)
    except YAMLError as err:
        return None, [_syntax_diagnostic(file, err)]
    except RecursionError:  # ruamel's composer recurses once per nesting level
        return None, [_error("yaml-syntax", "YAML document nests too deeply", Location(file, 1, 1))]
    except AssertionError as err:  # ruamel asserts on some malformed directives
        return None, [_error("yaml-syntax", f"YAML syntax error: {err}", Location(file, 1, 1))]
    if root is None:
        return None, []
    too_big = yaml_graph_problem(root)
    if too_big is not None:  # checked on the node graph, before any alias is expanded
        return None, [_error("yaml-limit", too_big[1], _loc(file, too_big[0]))]
    smap.values.setdefault((), _loc(file, root))
    walker = _Walker(file, smap, yaml)
    try:
        data = walker.walk(root, ())
    except YAMLError as err:  # e.g. a scalar with a tag the safe constructor refuses
        return None, [*walker.diagnostics, _syntax_diagnostic(file, err)]
    return data, walker.diagnostics
