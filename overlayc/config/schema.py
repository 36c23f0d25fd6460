"""The JSON Schema of the configuration, generated from the models (pure).

`schemas/overlayc.schema.json` is this text, checked in for editors; a test fails when it is stale.
"""

from __future__ import annotations

import json
from typing import Any

from overlayc.config.model import Config

SCHEMA_ID = "https://overlayc.invalid/schemas/overlayc.schema.json"


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one configuration file."""
    schema = Config.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "overlayc configuration",
        **schema,
    }


def render_schema() -> str:
    """The schema as stable, indented JSON text ending in a newline."""
    return json.dumps(config_json_schema(), indent=2, sort_keys=True) + "\n"
