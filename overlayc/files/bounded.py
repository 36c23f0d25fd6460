"""Bounds on every document overlayc parses: configs and the lock (YAML), saved plans and state
snapshots (JSON). A hostile file must be refused quickly and in little memory, never expanded,
never allowed to reach a traceback (docs/operations.md, "Limits").

    LIMITS                                   the caps, by name (quoted in every refusal)
    yaml_directive_problem(text)             (line, message) of a directive we refuse, or None
    yaml_graph_problem(root)                 (node, message) when the composed graph is too big
    yaml_scalar_problem(node)                a message when one scalar is too long or not allowed
    yaml_escape_problem(node)                a message when a quoted key or value holds half a character
    loads_json(text, what)                   parsed JSON within the caps; InputError otherwise

The YAML graph is checked before a single value is constructed: its size *with every alias
expanded* is computed on the node graph (each node once, memoised), so a billion-laughs file of
400 bytes is refused in microseconds instead of being expanded to gigabytes.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

from overlayc.errors import InputError
from overlayc.files.limits import LIMITS

if TYPE_CHECKING:
    from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

ALLOWED_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
)
_DIRECTIVE = re.compile(r"%(\S*)\s*(.*)")
_INT_LIKE = re.compile(r"[-+]?(0[xob])?[0-9a-fA-F_]+")


def yaml_directive_problem(text: str) -> tuple[int, str] | None:
    """The first YAML directive (`%YAML`, `%TAG`, ...) other than `%YAML 1.1`/`%YAML 1.2`, as
    (1-based line, message); None when there is none. A directive is a line starting with `%`
    (before any document, or after a `...` end marker); no content line of a YAML document can
    start with `%` in column 1 (block and flow content there is indented), so every such line is
    checked."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith("%"):
            continue
        match = _DIRECTIVE.fullmatch(line.strip())
        name = match.group(1) if match else line[1:20]
        value = match.group(2).split("#")[0].strip() if match else ""
        if name == "YAML" and value in ("1.1", "1.2"):
            continue
        return number, (f"the YAML directive %{name} {value}".rstrip()
                        + " is not supported: overlayc reads YAML 1.2 without %TAG or other directives")
    return None


def yaml_line_problem(text: str) -> tuple[int, str] | None:
    """(line, message) of the first line longer than `line_chars`, None otherwise. Checked
    before ruamel sees the text: its pure-Python scanner reads a long line character by
    character (a 14 MB one-line JSON "lock" took 40 s)."""
    lines = text.splitlines()
    longest = max(lines, key=len, default="")
    if len(longest) <= LIMITS.line_chars:
        return None
    number = next(i for i, line in enumerate(lines, 1) if len(line) > LIMITS.line_chars)
    return number, (f"a line of {len(lines[number - 1]):,} characters is longer than the limit of "
                    f"{LIMITS.line_chars:,}")


_FLOW_MARKS = re.compile(r"[\n'\"#\[\]{}]")  # the only characters that change the state below


def yaml_flow_depth_problem(text: str) -> tuple[int, int, str] | None:
    """(line, column, message) where `[`/`{` nest deeper than `depth`, outside quotes and
    comments; None otherwise. Checked before ruamel sees the text: its scanner keeps a "possible
    simple key" per flow level and rescans them all on every token, so 40,000 nested `[` took
    15 s before the composer's recursion limit was even reached.

    A quote opens after a blank, a line start or one of `[{,:-?`, and closes at the same quote
    character; a comment opens at `#` after a blank or a line start and closes at the line's
    end. Only those characters and brackets are visited (one regular-expression step each,
    not a Python step per character: a 100 kB config in 2 ms instead of 40)."""
    depth, quote = 0, ""
    for match in _FLOW_MARKS.finditer(text):
        ch, at = match.group(), match.start()
        if ch == "\n":
            if quote == "#":
                quote = ""
        elif quote:
            if ch == quote and quote != "#":
                quote = ""
        elif ch in "'\"" and (at == 0 or text[at - 1] in " \t\n[{,:-?"):
            quote = ch
        elif ch == "#" and (at == 0 or text[at - 1] in " \t\n"):
            quote = "#"
        elif ch in "[{":
            depth += 1
            if depth > LIMITS.depth:
                line_start = text.rfind("\n", 0, at)
                return (text.count("\n", 0, at) + 1, at - line_start,
                        f"the document nests deeper than {LIMITS.depth} levels")
        elif ch in "]}":
            depth = max(0, depth - 1)
    return None


def yaml_graph_problem(root: Node) -> tuple[Node, str] | None:
    """Refuse a composed YAML graph that nests deeper than `depth`, holds more than `yaml_nodes`
    values with its aliases expanded, reaches more than `alias_expansion` values through aliases,
    or is recursive (an alias inside its own anchor). Returns (the offending node, message).

    A plain tree (no node reached twice: no alias), within the depth and size caps, passes in one
    light walk; anything else is measured exactly by `_graph_problem`."""
    if _plain_tree(root):
        return None
    return _graph_problem(root)


def _node_kinds() -> tuple[type[MappingNode], type[SequenceNode]]:
    """ruamel's mapping and sequence node classes, imported when a YAML graph is walked: a
    command that reads JSON alone (apply's journal, `loads_json`) never imports ruamel (~25 ms)."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    return MappingNode, SequenceNode


def _plain_tree(root: Node) -> bool:
    """Whether no node under `root` is reached twice, none is deeper than `depth` and there are
    at most `yaml_nodes` of them: then nothing is expanded and every cap holds (200,000 keys:
    0.3 s instead of 4 s for the exact walk)."""
    seen: set[int] = set()
    stack: list[tuple[Node, int]] = [(root, 1)]
    limit = LIMITS.depth
    mapping, sequence = _node_kinds()
    push = stack.append
    while stack:
        node, depth = stack.pop()
        ident = id(node)
        if depth > limit or ident in seen:
            return False
        seen.add(ident)
        below = depth + 1
        if isinstance(node, mapping):
            for key, value in node.value:
                push((key, below))
                push((value, below))
        elif isinstance(node, sequence):
            for item in node.value:
                push((item, below))
    return len(seen) <= LIMITS.yaml_nodes


def _graph_problem(root: Node) -> tuple[Node, str] | None:
    """`yaml_graph_problem`, measured exactly: each node's size with its aliases expanded,
    memoised, in post-order."""
    sizes: dict[int, int] = {}
    distinct = 0
    on_path: set[int] = set()
    stack: list[tuple[Node, int, bool]] = [(root, 1, False)]
    kinds = _node_kinds()
    while stack:
        node, depth, done = stack.pop()
        ident = id(node)
        children = _children(node, kinds)
        if done:
            on_path.discard(ident)
            sizes[ident] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[ident] > LIMITS.yaml_nodes:
                return node, f"the document holds more than {LIMITS.yaml_nodes:,} values (aliases expanded)"
            continue
        if ident in sizes:
            continue
        if ident in on_path:
            return node, "an alias refers to its own anchor (a recursive document)"
        if depth > LIMITS.depth:
            return node, f"the document nests deeper than {LIMITS.depth} levels"
        distinct += 1
        on_path.add(ident)
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)
    expanded = sizes[id(root)] - distinct
    if expanded > LIMITS.alias_expansion:
        return root, (f"aliases expand to {expanded:,} values, more than the limit of "
                      f"{LIMITS.alias_expansion:,} (a YAML bomb?)")
    return None


def _children(node: Node, kinds: tuple[type[MappingNode], type[SequenceNode]]) -> list[Node]:
    mapping, sequence = kinds
    if isinstance(node, mapping):
        return [n for pair in node.value for n in pair]
    if isinstance(node, sequence):
        return list(node.value)
    return []


def yaml_tag_problem(node: Node, tag: str | None = None) -> str | None:
    """A message when `node` carries a tag outside the config language (`!!binary`, `!!set`,
    `!custom`, `!!python/...`); None otherwise. `tag`: `node.tag`, when the caller has it."""
    tag = node.tag if tag is None else tag
    if tag in ALLOWED_TAGS:
        return None
    return f"the YAML tag {tag} is not part of the configuration language"


def yaml_scalar_problem(node: ScalarNode, tag: str | None = None) -> str | None:
    """A message when one scalar is longer than `scalar_chars` characters or is an integer of
    more than `int_digits` digits; None otherwise. `tag`: `node.tag`, when the caller has it."""
    text = str(node.value)
    if len(text) > LIMITS.scalar_chars:
        return f"a value of {len(text):,} characters is longer than the limit of {LIMITS.scalar_chars:,}"
    integer = str(node.tag if tag is None else tag).endswith(":int")
    if integer and _INT_LIKE.fullmatch(text) and len(text) > LIMITS.int_digits + 1:
        return f"an integer of {len(text):,} digits is larger than the limit of {LIMITS.int_digits} digits"
    return None


# A double-quoted scalar's `\uD83D\uDE00` is two escapes of 16 bits each to YAML, and ruamel makes
# each one a lone surrogate: a str that cannot be encoded (pydantic's messages, the lock, JSON).
# Only escapes make one: the file itself is decoded as strict UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


def yaml_escape_problem(node: ScalarNode) -> str | None:
    """A message when a double-quoted scalar (a key or a value) holds a lone surrogate."""
    half = _SURROGATE.search(str(node.value)) if node.style == '"' else None
    if half is None:
        return None
    return (f"the escape \\u{ord(half.group()):04x} is half of a UTF-16 surrogate pair, not a "
            "character: write the character itself, or its \\U escape of 8 hex digits")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > LIMITS.int_digits:
        raise ValueError(f"an integer of {len(text)} digits is larger than the limit of "
                         f"{LIMITS.int_digits} digits")
    return int(text)


def _bounded_float(text: str) -> float:
    value = float(text) if len(text) <= 64 else math.inf
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON number")


def _json_depth_problem(data: Any) -> str | None:
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > LIMITS.depth:
            return f"nests deeper than {LIMITS.depth} levels"
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str) and len(value) > LIMITS.scalar_chars:
            return f"holds a string of {len(value):,} characters (the limit is {LIMITS.scalar_chars:,})"
    return None


def loads_json(data: bytes, what: str) -> Any:
    """Parse `data` as UTF-8 JSON within the limits: integers of at most `int_digits` digits, no
    NaN/Infinity, nesting at most `depth`, strings at most `scalar_chars`. `what` names the input
    in the one-line InputError (`plan.json: not a plan document: ...`)."""
    try:
        text = data.decode("utf-8")
        value = json.loads(text, parse_int=_bounded_int, parse_float=_bounded_float,
                           parse_constant=_refuse_constant)
    except UnicodeDecodeError as err:
        raise InputError(f"{what}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{what}: not JSON: {err.msg} (line {err.lineno}, column {err.colno})") from None
    except ValueError as err:
        raise InputError(f"{what}: {err}") from None
    except RecursionError:
        raise InputError(f"{what}: nests deeper than {LIMITS.depth} levels") from None
    problem = _json_depth_problem(value)
    if problem is not None:
        raise InputError(f"{what}: {problem}")
    return value
