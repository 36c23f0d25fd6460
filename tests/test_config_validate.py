"""Semantic checks (overlayc.config.validate*), one table row per rule, plus model wording."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlayc.config.constraints import parse_constraint
from overlayc.config.model import Node
from overlayc.errors import ConstraintSyntaxError
from tests.support.config import BASE, diagnose, load_ok

KEY1 = "QWfOvszOZ62logBnaao7jh0X6y/XVbZjTwQaNfEtah0="
NET = "networks:\n  front: {subnet: 10.0.1.0/24, attachable: true}\n"

# (id, YAML after BASE, expected codes in order)
CASES = [
    ("third-node-ok", "  node3: {address: 192.0.2.9}\n", []),
    ("subnet-overlap", "networks:\n  a: {subnet: 10.0.0.0/16}\n  b: {subnet: 10.0.1.0/24}\n",
     ["subnet-overlap"]),
    ("vni-range", "networks:\n  a: {subnet: 10.0.0.0/24, vni: 16777216}\n", ["vni-range"]),
    ("vni-zero", "networks:\n  a: {subnet: 10.0.0.0/24, vni: 0}\n", ["vni-range"]),
    ("vni-max-ok", "networks:\n  a: {subnet: 10.0.0.0/24, vni: 16777215}\n", []),
    ("duplicate-vni", "networks:\n  a: {subnet: 10.0.0.0/24, vni: 7}\n  b: {subnet: 10.0.1.0/24, vni: 7}\n",
     ["duplicate-vni"]),
    ("vni-conflict", "networks:\n  a:\n    subnet: 10.0.0.0/24\n    vni: 7\n    driver_opts:\n"
     "      com.docker.network.driver.overlay.vxlanid_list: '8'\n", ["vni-conflict"]),
    ("vni-list-two", "networks:\n  a:\n    subnet: 10.0.0.0/24\n    driver_opts:\n"
     "      com.docker.network.driver.overlay.vxlanid_list: '8,9'\n", ["invalid-value"]),
    ("encrypted-conflict", "networks:\n  a:\n    subnet: 10.0.0.0/24\n    encrypted: true\n"
     "    driver_opts: {encrypted: 'false'}\n", ["encrypted-conflict"]),
    ("gateway-outside", "networks:\n  a: {subnet: 10.0.0.0/24, gateway: 10.0.1.1}\n",
     ["address-outside-subnet"]),
    ("gateway-broadcast", "networks:\n  a: {subnet: 10.0.0.0/24, gateway: 10.0.0.255}\n",
     ["reserved-address"]),
    ("address-outside", NET + "services:\n  s: {networks: {front: {ipv4_addresses: [10.0.2.1]}}}\n",
     ["address-outside-subnet"]),
    ("address-network", NET + "services:\n  s: {networks: {front: {ipv4_addresses: [10.0.1.0]}}}\n",
     ["reserved-address"]),
    ("address-duplicate", NET + "services:\n  s: {replicas: 2, networks: {front: {ipv4_addresses: "
     "[10.0.1.4, 10.0.1.4]}}}\n", ["duplicate-address"]),
    ("node-address-duplicate", "  node3: {address: 192.0.2.1}\n", ["duplicate-address"]),
    ("mac-duplicate", NET + "endpoints:\n"
     "  e1: {node: node1, networks: {front: {mac_address: '02:42:00:00:00:01'}}}\n"
     "  e2: {node: node2, networks: {front: {mac_address: '02:42:00:00:00:01'}}}\n", ["duplicate-mac"]),
    ("unknown-network", NET + "services:\n  s: {networks: [frnt]}\n", ["unknown-network"]),
    ("unknown-node", NET + "endpoints:\n  e: {node: nod1, networks: [front]}\n", ["unknown-node"]),
    ("not-attachable", "networks:\n  secure: {subnet: 10.0.1.0/24}\nendpoints:\n"
     "  e: {node: node1, networks: [secure]}\n", ["not-attachable"]),
    ("name-conflict", NET + "services:\n  x: {networks: [front]}\nendpoints:\n  x: {node: node1}\n",
     ["duplicate-name"]),
    ("replicas-global", NET + "services:\n  s: {mode: global, replicas: 2}\n", ["replicas-with-global"]),
    ("replicas-negative", NET + "services:\n  s: {replicas: -1}\n", ["invalid-value"]),
    ("too-many-addresses", NET + "services:\n"
     "  s: {networks: {front: {ipv4_addresses: [10.0.1.4, 10.0.1.5]}}}\n",
     ["too-many-addresses"]),
    ("bad-constraint", NET + "services:\n  s: {constraints: ['node.id == x']}\n", ["bad-constraint"]),
    ("unsatisfiable", NET + "services:\n  s: {constraints: ['node.role == manager']}\n", ["unsatisfiable"]),
    ("unsatisfiable-zero-replicas-ok", NET + "services:\n"
     "  s: {replicas: 0, constraints: ['node.role == manager']}\n",
     []),
    ("missing-key", "networks:\n  sec: {subnet: 10.0.1.0/24, encrypted: true}\n"
     "services:\n  s: {networks: [sec]}\n",
     ["missing-public-key", "missing-public-key"]),
    # BASE + KEY1 gives node2 a key and leaves node1 without one
    ("key-not-needed-where-excluded", "    public_key: " + KEY1 + "\nnetworks:\n"
     "  sec: {subnet: 10.0.1.0/24, encrypted: true}\nservices:\n"
     "  s: {networks: [sec], constraints: ['node.hostname == node2']}\n", []),
    ("key-needed-where-eligible", "    public_key: " + KEY1 + "\nnetworks:\n"
     "  sec: {subnet: 10.0.1.0/24, encrypted: true}\nservices:\n"
     "  s: {networks: [sec], constraints: ['node.hostname == node1']}\n", ["missing-public-key"]),
    ("duplicate-public-key", "    public_key: " + KEY1 + "\n  node3: {address: 192.0.2.3, public_key: " + KEY1
     + "}\n", ["duplicate-public-key"]),
    ("missing-key-all-nodes", "    public_key: " + KEY1 + "\nnetworks:\n"
     "  sec: {subnet: 10.0.1.0/24, encrypted: true, all_nodes: true}\n", ["missing-public-key"]),
    ("mtu-too-large", "networks:\n  a: {subnet: 10.0.0.0/24, mtu: 1451}\n", ["mtu-too-large"]),
    ("mtu-fits", "networks:\n  a: {subnet: 10.0.0.0/24, mtu: 1450}\n", []),
    ("mtu-docker-underlay", "networks:\n  a:\n    subnet: 10.0.0.0/24\n    mtu: 1351\n"
     "    driver_opts: {com.docker.network.driver.mtu: 1400}\n", ["mtu-too-large"]),
    ("unknown-driver-opt", "networks:\n  a:\n    subnet: 10.0.0.0/24\n    driver_opts: {encrypt: ''}\n",
     ["unknown-driver-option"]),
    ("bad-driver", "networks:\n  a: {subnet: 10.0.0.0/24, driver: bridge}\n", ["invalid-value"]),
    ("bad-name", "networks:\n  Front: {subnet: 10.0.0.0/24}\n", ["invalid-name"]),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in CASES], ids=[c[0] for c in CASES])
def test_semantic_rule(tmp_path: Path, text: str, expected: list[str]) -> None:
    if expected:
        assert [d.code for d in diagnose(tmp_path, BASE + text)] == expected
    else:
        assert load_ok(tmp_path, BASE + text).config is not None


def test_port_conflict(tmp_path: Path) -> None:
    text = BASE.replace("  id: demo-cluster-0001\n", "  id: demo-cluster-0001\n  encrypted_data_port: 4789\n")
    [d] = diagnose(tmp_path, text)
    assert d.code == "port-conflict" and d.location.line == 5


def test_not_attachable_reads_like_docker(tmp_path: Path) -> None:
    [d] = diagnose(tmp_path, BASE + "networks:\n  secure: {subnet: 10.0.1.0/24}\nendpoints:\n"
                   "  e: {node: node1, networks: [secure]}\n")
    docker = "network secure not manually attachable: only services can use it; set attachable: true"
    assert docker in d.message
    assert (d.location.line, d.location.column) == (13, 31)  # the list item naming the network


def test_did_you_mean_for_references_and_keys(tmp_path: Path) -> None:
    service = "services:\n  s: {networks: [frnt], constraints: ['node.hostnam == x']}\n"
    diags = diagnose(tmp_path, BASE + NET + service + "  t: {replica: 2}\n")
    hints = {d.code: d.hint for d in diags}
    assert hints["unknown-key"] == "did you mean 'replicas'?"
    diags = diagnose(tmp_path, BASE + NET + service)
    hints = {d.code: d.hint for d in diags}
    assert hints["unknown-network"] == "did you mean 'front'?"
    assert hints["bad-constraint"] == "did you mean 'node.hostname'?"


def test_unsatisfiable_names_the_constraint(tmp_path: Path) -> None:
    [d] = diagnose(tmp_path, BASE + NET + "services:\n  s:\n    constraints:\n      - node.role == worker\n"
                   "      - node.labels.zone == c\n")
    assert "'node.labels.zone == c'" in d.message and d.location.line == 16


def test_missing_key_names_node_network_and_reason(tmp_path: Path) -> None:
    diags = diagnose(tmp_path, BASE + "networks:\n"
                     "  sec: {subnet: 10.0.1.0/24, encrypted: true, attachable: true}\n"
                     "endpoints:\n  e: {node: node2, networks: [sec]}\n")
    [d] = diags
    assert d.message == ("node 'node2' has no public_key, but it may carry encrypted network 'sec' "
                         "(endpoint 'e')")
    assert d.location.line == 8


@pytest.mark.parametrize(("text", "field", "label", "op", "value"), [
    ("node.hostname == node1", "node.hostname", None, "==", "node1"),
    ("  node.role!=manager ", "node.role", None, "!=", "manager"),
    ("node.labels.zone == eu west", "node.labels", "zone", "==", "eu west"),
])
def test_parse_constraint(text: str, field: str, label: str | None, op: str, value: str) -> None:
    c = parse_constraint(text)
    assert (c.field, c.label, c.op, c.value) == (field, label, op, value)


@pytest.mark.parametrize("text", ["node.role = manager", "node.id == x", "node.labels. == x", "== x", ""])
def test_parse_constraint_rejects(text: str) -> None:
    with pytest.raises(ConstraintSyntaxError):
        parse_constraint(text)


def test_constraint_matching_follows_docker() -> None:
    node = Node.model_validate({"address": "192.0.2.1", "labels": {"zone": "a"}, "role": "manager"})
    assert parse_constraint("node.labels.zone == a").matches("n1", node)
    assert parse_constraint("node.labels.rack != 1").matches("n1", node)  # missing label differs
    assert not parse_constraint("node.labels.rack == 1").matches("n1", node)
    assert parse_constraint("node.role == manager").matches("n1", node)
    assert not parse_constraint("node.hostname != n1").matches("n1", node)


def test_subnet_overlaps_are_every_overlapping_pair_in_order() -> None:
    """The sweep reports exactly the pairs a pairwise check finds, in the same order."""
    import random
    from ipaddress import IPv4Network

    from overlayc.config.model import Config
    from overlayc.config.source import SourceMap
    from overlayc.config.validate import check_subnets

    rng = random.Random(7)
    def subnet() -> str:
        return str(IPv4Network((rng.randrange(0, 1 << 16) << 8, rng.choice([16, 20, 24, 28])), strict=False))

    nets = {f"n{i}": {"subnet": subnet()} for i in range(300)}
    config = Config.model_validate({"version": 1, "cluster": {"name": "t", "id": "cluster-test"},
                                    "nodes": {"a": {"address": "192.0.2.1"}}, "networks": nets})
    v4 = {name: net.ipv4_subnet for name, net in config.networks.items() if net.ipv4_subnet is not None}
    ordered = sorted(v4.items(), key=lambda kv: (kv[1].network_address, kv[0]))
    expected = [f"subnet {n} of network '{name}' overlaps {o} of network '{other}'"
                for i, (name, n) in enumerate(ordered)
                for other, o in ordered[:i] if n.overlaps(o)]
    assert expected  # the random subnets do overlap
    assert [d.message for d in check_subnets(config, SourceMap())] == expected


def test_eight_thousand_networks_validate(tmp_path: Path) -> None:
    """Functional (the timing is in `make bench`): many networks, none overlapping, valid."""
    nets = "".join(f"  n{i}: {{subnet: 10.{i // 256}.{i % 256}.0/24}}\n" for i in range(8000))
    loaded = load_ok(tmp_path, BASE + "networks:\n" + nets)
    assert len(loaded.config.networks) == 8000
