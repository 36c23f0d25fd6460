"""Machine-readable plan output: the versioned document of `overlayc.plan.plan_to_json` (pure).

Consumers must ignore unknown keys; a major `format_version` bump marks a breaking change.
"""

from __future__ import annotations

from overlayc.plan import Plan, dumps


def render_json(plan: Plan) -> str:
    """The plan document as indented, key-sorted JSON with a trailing newline (no key material)."""
    return dumps(plan)
