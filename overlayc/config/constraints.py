"""Docker-style placement constraints: `node.hostname|node.role|node.labels.<key> ==|!= value` (pure).

Used by validation (syntax, satisfiability) and by placement (which nodes may run a task).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from overlayc.config.model import Node
from overlayc.errors import ConstraintSyntaxError

SUPPORTED = ["node.hostname", "node.role", "node.labels.<key>"]
_RE = re.compile(r"^\s*(?P<field>[^\s=!]+)\s*(?P<op>==|!=)\s*(?P<value>\S(?:.*\S)?)\s*$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$")


_Op = Literal["==", "!="]
_Field = Literal["node.hostname", "node.role", "node.labels"]


@dataclass(frozen=True, slots=True)
class Constraint:
    """One parsed constraint; `label` is set for `node.labels.<label>`."""

    field: _Field
    op: _Op
    value: str
    label: str | None = None

    def matches(self, hostname: str, node: Node) -> bool:
        """Whether the node called `hostname` satisfies this constraint (Docker semantics: a
        missing label never equals and always differs)."""
        if self.field == "node.hostname":
            actual: str | None = hostname
        elif self.field == "node.role":
            actual = node.role
        else:
            actual = node.labels.get(self.label or "")
        equal = actual == self.value
        return equal if self.op == "==" else not equal

    def __str__(self) -> str:
        name = f"node.labels.{self.label}" if self.label else self.field
        return f"{name} {self.op} {self.value}"


def parse_constraint(text: str) -> Constraint:
    """Parse `node.labels.zone == a` and the like; raises ConstraintSyntaxError."""
    m = _RE.match(text)
    if m is None:
        raise ConstraintSyntaxError(
            f"constraint {text!r} is not of the form `<field> == <value>` or `<field> != <value>`",
            "for example: node.hostname != node1, node.role == manager, node.labels.zone == a",
        )
    name, op, value = m.group("field"), m.group("op"), m.group("value")
    if name.startswith("node.labels."):
        label = name.removeprefix("node.labels.")
        if not _LABEL_RE.match(label):
            raise ConstraintSyntaxError(f"constraint {text!r}: {label!r} is not a valid label key")
        return Constraint("node.labels", cast(_Op, op), value, label)
    if name in ("node.hostname", "node.role"):
        return Constraint(cast(_Field, name), cast(_Op, op), value)
    close = difflib.get_close_matches(name, SUPPORTED, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"supported: {', '.join(SUPPORTED)}"
    raise ConstraintSyntaxError(f"constraint {text!r}: unknown field '{name}'", hint)


def eligible(constraints: list[Constraint], nodes: dict[str, Node]) -> list[str]:
    """Names of the nodes satisfying every constraint, in config order."""
    return [n for n, node in nodes.items() if all(c.matches(n, node) for c in constraints)]


class NodeMatcher:
    """The nodes of `nodes` satisfying each constraint, each distinct constraint tested once.

    A large cluster has hundreds of services over a few distinct constraints (`node.role ==
    worker`, a zone): testing every node against every service's constraints cost 1,000 nodes
    × 400 services of Python calls in validation and again in placement."""

    def __init__(self, nodes: Mapping[str, Node]) -> None:
        self._nodes = nodes
        # constraint -> (names, negated): the nodes satisfying it are `names`, or all but `names`
        # when negated (`node.hostname != nodeN` differs per service: no copy of every name each)
        self._memo: dict[Constraint, tuple[frozenset[str], bool]] = {}
        self._everyone: frozenset[str] | None = None

    def _match(self, constraint: Constraint) -> tuple[frozenset[str], bool]:
        found = self._memo.get(constraint)
        if found is None:
            if constraint.field == "node.hostname":  # one node named: no test per node
                found = (frozenset([constraint.value]) & self._all(), constraint.op == "!=")
            else:
                names = frozenset(n for n, node in self._nodes.items() if constraint.matches(n, node))
                found = (names, False)
            self._memo[constraint] = found
        return found

    def _all(self) -> frozenset[str]:
        everyone = self._everyone
        if everyone is None:
            everyone = self._everyone = frozenset(self._nodes)
        return everyone

    def matching(self, constraint: Constraint) -> frozenset[str]:
        """Names of the nodes satisfying `constraint`."""
        names, negated = self._match(constraint)
        return self._all() - names if negated else names

    def satisfying(self, constraints: Sequence[Constraint]) -> frozenset[str]:
        """Names of the nodes satisfying every constraint."""
        names = self._all()
        for c in constraints:
            found, negated = self._match(c)
            names = names - found if negated else names & found
        return names

    def eligible(self, constraints: Sequence[Constraint]) -> list[str]:
        """`eligible(constraints, nodes)`: the nodes satisfying every constraint, in config order."""
        if not constraints:
            return list(self._nodes)
        names = self.satisfying(constraints)
        return [n for n in self._nodes if n in names]
