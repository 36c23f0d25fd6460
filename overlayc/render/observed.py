"""`overlayc observe` as text: one line per owned object (pure).

Values come from `to_json`, so secrets appear only as their fingerprint (`key_fp`)."""

from __future__ import annotations

from overlayc.kernel.objects import to_json
from overlayc.kernel.ownership import key_text
from overlayc.kernel.state import Observed


def render_observed_text(obs: Observed) -> str:
    """`<kind> <key fields> field=value ...` per owned object, then a count of foreign objects."""
    lines = []
    for obj in obs.owned:
        key = key_text(obj.key[1:])
        data = to_json(obj)
        data.pop("kind")
        fields = " ".join(f"{k}={v}" for k, v in sorted(data.items()) if v is not None)
        lines.append(f"{obj.kind} {key}  {fields}")
    lines.append(f"# {len(obs.owned)} owned objects; {len(obs.foreign_links)} foreign links, "
                 f"{len(obs.foreign)} other foreign objects")
    return "\n".join(lines) + "\n"
