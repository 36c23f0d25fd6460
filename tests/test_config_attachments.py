"""A network named without options gets the default attachment, one frozen instance shared by
every service and endpoint (building one is a pydantic validation, asked for per check)."""

from __future__ import annotations

from overlayc.config.model import EndpointAttachment, Service, ServiceAttachment, StandaloneEndpoint


def test_a_bare_network_gets_the_shared_defaults() -> None:
    web = Service.model_validate({"replicas": 2, "networks": ["a", "b"]})
    db = Service.model_validate({"networks": {"a": None, "b": {"ipv4_addresses": ["10.0.0.9"]}}})
    assert web.attachments() == {"a": ServiceAttachment(), "b": ServiceAttachment()}
    assert web.attachments()["a"] is web.attachments()["b"] is db.attachments()["a"]
    assert [str(ip) for ip in db.attachments()["b"].ipv4_addresses] == ["10.0.0.9"]
    probe = StandaloneEndpoint.model_validate({"node": "n1", "networks": ["a"]})
    assert probe.attachments() == {"a": EndpointAttachment()}
    assert probe.attachments()["a"] is StandaloneEndpoint.model_validate(
        {"node": "n2", "networks": {"a": None}}).attachments()["a"]
