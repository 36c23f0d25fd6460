"""`overlayc nodes`: the configuration's nodes as a table or JSON, e.g. for a CI matrix (pure).

JSON: {"format_version": "1.0", "nodes": [{"name", "address", "role", "labels", "public_key"}]},
nodes in name order; `public_key` is the base64 public key or null (public data, never a secret).
"""

from __future__ import annotations

import json
from typing import Any

from overlayc.config.model import Config

FORMAT_VERSION = "1.0"


def node_rows(config: Config) -> list[dict[str, Any]]:
    """One row per node, in name order."""
    return [{"name": name, "address": str(node.address), "role": node.role,
             "labels": dict(sorted(node.labels.items())), "public_key": node.public_key}
            for name, node in sorted(config.nodes.items())]


def render_nodes_json(config: Config) -> str:
    doc = {"format_version": FORMAT_VERSION, "nodes": node_rows(config)}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def render_nodes_text(config: Config) -> str:
    """Aligned columns NAME ADDRESS ROLE LABELS (labels as k=v,...; `-` when none)."""
    rows = [(r["name"], r["address"], r["role"],
             ",".join(f"{k}={v}" for k, v in r["labels"].items()) or "-") for r in node_rows(config)]
    table = [("NAME", "ADDRESS", "ROLE", "LABELS"), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    return "".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}\n" for a, b, c, d in table)
