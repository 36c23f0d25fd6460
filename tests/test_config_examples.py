"""Every example under examples/ (except examples/invalid) validates; the seed matches its brief."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from overlayc.config.load import load_config
from tests.support.host import EXAMPLES

VALID = sorted(p for p in EXAMPLES.glob("*/overlay.yaml") if p.parent.name != "invalid")


def test_the_three_examples_exist() -> None:
    assert {p.parent.name for p in VALID} >= {"seed", "plain", "large"}


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.parent.name)
def test_example_validates(path: Path) -> None:
    loaded = load_config([path])
    assert loaded.config.nodes and loaded.config.networks


@pytest.mark.parametrize("example", ["seed", "large"])
def test_example_keys_match_public_keys(example: str) -> None:
    """Each keys/<node>.key is one line of base64(32 raw bytes) whose public key is in the YAML."""
    config = load_config([EXAMPLES / example / "overlay.yaml"]).config
    for name, node in config.nodes.items():
        text = (EXAMPLES / example / "keys" / f"{name}.key").read_text()
        assert text.endswith("\n") and text.count("\n") == 1
        raw = base64.b64decode(text.strip(), validate=True)
        public_key = X25519PrivateKey.from_private_bytes(raw).public_key()
        public = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        assert node.public_key_bytes() == public, name
    assert "EXAMPLE KEYS" in (EXAMPLES / example / "keys" / "README.md").read_text()


def test_seed_is_the_scenario_of_the_brief() -> None:
    c = load_config([EXAMPLES / "seed" / "overlay.yaml"]).config
    assert c.cluster.name == "seed"
    assert {n: str(x.address) for n, x in c.nodes.items()} == {
        "node1": "192.0.2.1", "node2": "192.0.2.2", "node3": "192.0.2.3"}
    assert not c.networks["insecure"].is_encrypted and c.networks["insecure"].attachable
    assert c.networks["secure"].is_encrypted and c.networks["secure"].attachable
    assert str(c.networks["insecure"].subnet) == "198.51.100.0/24"
    assert str(c.networks["secure"].subnet) == "203.0.113.0/24"
    web = c.services["web"]
    assert web.replicas == 1 and list(web.attachments()) == ["insecure", "secure"]
    assert web.constraints == ["node.hostname != node1"]
    assert c.endpoints["probe"].node == "node1"
    assert list(c.endpoints["probe"].attachments()) == ["insecure", "secure"]


def test_large_example_covers_the_features() -> None:
    c = load_config([EXAMPLES / "large" / "overlay.yaml"]).config
    assert len(c.nodes) >= 6 and 3 <= len(c.networks) <= 4
    assert any(s.mode == "global" for s in c.services.values())
    assert any(n.driver_opts is not None for n in c.networks.values())
    assert any(n.is_encrypted for n in c.networks.values())
