"""The JSON Schema and `overlayc validate` agree: a standard Draft 2020-12 validator (the
`jsonschema` package) over every example, every `examples/invalid/` case, and a table of the
values where they used to disagree (loose coercions, Docker's string forms, durations, version).

The schema describes one complete file and the shape of its values; what needs the whole cluster
(overlapping subnets, placement, references between sections) it cannot decide. So: every example
is accepted by both; an invalid case is refused by the schema exactly when one of its diagnostics
is about the shape of a value (`SCHEMA_DECIDES`); the table's documents get the same verdict from both.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML
from typer.testing import CliRunner

from overlayc.cli import app
from overlayc.config.schema import config_json_schema
from tests.support.host import ROOT

SCHEMA = json.loads((ROOT / "schemas" / "overlayc.schema.json").read_text())
CHECKER = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
EXAMPLES = sorted((ROOT / "examples").glob("*/overlay.yaml"))
INVALID = sorted((ROOT / "examples" / "invalid").glob("*.yaml"))
# not single documents the schema can read: YAML that does not parse; a directory of partial files
NOT_A_DOCUMENT = {"yaml-syntax.yaml"}
SCHEMA_DECIDES = {"unknown-key", "missing-key", "wrong-type", "invalid-value", "invalid-name",
                  "invalid-address", "unknown-driver-option", "not-a-mapping", "bad-public-key",
                  "vni-range"}


def read_document(path: Path) -> Any:
    yaml = YAML(typ="safe", pure=True)
    yaml.allow_duplicate_keys = True  # JSON has none: the schema sees the last one
    return yaml.load(path.read_text())


def schema_accepts(doc: Any) -> bool:
    return not list(CHECKER.iter_errors(doc))


def validate(path: Path) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["validate", "-f", str(path), "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_the_checked_in_schema_is_current_and_a_valid_draft_2020_12_schema() -> None:
    assert config_json_schema() == SCHEMA
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert '"gt"' not in json.dumps(SCHEMA)  # pydantic's own keyword is no JSON Schema keyword


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_is_accepted_by_both(path: Path) -> None:
    assert list(CHECKER.iter_errors(read_document(path))) == []
    assert validate(path)[0] == 0


@pytest.mark.parametrize("path", [p for p in INVALID if p.name not in NOT_A_DOCUMENT], ids=lambda p: p.stem)
def test_every_invalid_case_is_refused_by_the_schema_exactly_when_it_can_decide(path: Path) -> None:
    code, doc = validate(path)
    assert code == 65 and not doc["valid"]
    codes = {d["code"] for d in doc["diagnostics"]}
    decidable = bool(codes & SCHEMA_DECIDES)
    assert schema_accepts(read_document(path)) is not decidable, (codes, decidable)


BASE = read_document(ROOT / "examples" / "seed" / "overlay.yaml")


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    here = doc
    for key in path[:-1]:
        here = here.setdefault(key, {})
    here[path[-1]] = value
    return doc  # type: ignore[no-any-return]


SECURE, WEB = ("networks", "secure"), ("services", "web")
OPTS = (*SECURE, "driver_opts")
CASES: list[tuple[str, tuple[str, ...], Any, bool]] = [
    ("replicas-int", (*WEB, "replicas"), 2, True),
    ("replicas-quoted", (*WEB, "replicas"), "2", False),
    ("replicas-float", (*WEB, "replicas"), "2.0", False),
    ("encrypted-true", (*SECURE, "encrypted"), True, True),
    ("encrypted-docker-string", (*SECURE, "encrypted"), "true", True),
    ("encrypted-docker-false", (*SECURE, "encrypted"), "false", True),
    ("encrypted-yes", (*SECURE, "encrypted"), "yes", False),
    ("encrypted-off", (*SECURE, "encrypted"), "off", False),
    ("encrypted-one", (*SECURE, "encrypted"), 1, False),
    ("managed-yes", (*WEB, "managed"), "yes", False),
    ("opt-encrypted-empty", OPTS, {"encrypted": ""}, True),
    ("opt-encrypted-string", OPTS, {"encrypted": "true"}, True),
    ("opt-encrypted-on", OPTS, {"encrypted": "on"}, False),
    ("opt-mtu-string", OPTS, {"com.docker.network.driver.mtu": "1400"}, True),
    ("opt-mtu-int", OPTS, {"com.docker.network.driver.mtu": 1400}, True),
    ("opt-mtu-words", OPTS, {"com.docker.network.driver.mtu": "big"}, False),
    ("opt-mtu-too-small", OPTS, {"com.docker.network.driver.mtu": 500}, False),
    ("opt-vni-string", OPTS, {"com.docker.network.driver.overlay.vxlanid_list": "5000"}, True),
    ("opt-vni-two", OPTS, {"com.docker.network.driver.overlay.vxlanid_list": "5000,5001"}, False),
    ("version-int", ("version",), 1, True),
    ("version-quoted", ("version",), "1", True),
    ("version-two", ("version",), 2, False),
    ("version-bool", ("version",), True, False),
    ("rotation-text", ("cluster", "encryption", "rotation"), "12h", True),
    ("rotation-seconds", ("cluster", "encryption", "rotation"), 3600, True),
    ("rotation-zero", ("cluster", "encryption", "rotation"), "0s", False),
    ("rotation-unit", ("cluster", "encryption", "rotation"), "12x", False),
    ("rotation-negative", ("cluster", "encryption", "rotation"), -5, False),
    ("subnet-no-prefix", (*SECURE, "subnet"), "10.88.0.0", False),
    ("subnet-prefix-33", (*SECURE, "subnet"), "10.88.0.0/33", False),
    ("vni-zero", (*SECURE, "vni"), 0, False),
    ("vni-too-big", (*SECURE, "vni"), 16_777_216, False),
    ("vni-quoted", (*SECURE, "vni"), "5000", False),
    ("port-quoted", ("cluster", "data_port"), "4789", False),
    ("public-key-short", ("nodes", "node3", "public_key"), "QUJD", False),
    ("cluster-id-short", ("cluster", "id"), "short", False),
]


@pytest.mark.parametrize(("path", "value", "accepted"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_schema_and_validator_give_the_same_verdict(path: tuple[str, ...], value: Any, accepted: bool,
                                                    tmp_path: Path) -> None:
    doc = _with(path, value)
    config = tmp_path / "overlay.yaml"
    config.write_text(json.dumps(doc))  # JSON is YAML 1.2
    code, _ = validate(config)
    assert (code == 0, schema_accepts(doc)) == (accepted, accepted)


def test_a_prefix_less_subnet_suggests_one(tmp_path: Path) -> None:
    config = tmp_path / "overlay.yaml"
    config.write_text(json.dumps(_with((*SECURE, "subnet"), "10.88.0.0")))
    _, doc = validate(config)
    (diag,) = doc["diagnostics"]
    assert "has no prefix length" in diag["message"] and "10.88.0.0/24" in diag["message"]
