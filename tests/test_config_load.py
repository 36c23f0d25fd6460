"""Loader: source map, merging of files and directories, duplicates, unreadable input."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlayc.config.load import LOCK_NAME, load_config
from overlayc.config.source import SourceMap, parse_yaml
from overlayc.errors import ConfigError, InputError, Location
from tests.support.config import BASE, diagnose, load_ok, write


def test_source_map_locates_values_keys_and_list_items() -> None:
    smap = SourceMap()
    data, diags = parse_yaml("f.yaml", "a:\n  b: 1\n  c: [x, y]\n", smap)
    assert diags == [] and data == {"a": {"b": 1, "c": ["x", "y"]}}
    assert smap.locate(("a", "b")) == Location("f.yaml", 2, 6)  # a scalar: at its value
    assert smap.locate(("a",)) == Location("f.yaml", 1, 1)  # a mapping: at its key
    assert smap.locate(("a", "c", 1)) == Location("f.yaml", 3, 10)
    assert smap.locate_key(("a", "b")) == Location("f.yaml", 2, 3)
    assert smap.locate(("a", "b", "missing", 3)) == Location("f.yaml", 2, 6)  # nearest ancestor


def test_keys_become_strings_and_duplicate_keys_are_reported() -> None:
    smap = SourceMap()
    data, diags = parse_yaml("f.yaml", "1: a\nk: 1\nk: 2\n", smap)
    assert data == {"1": "a", "k": 1}
    assert [d.code for d in diags] == ["duplicate-key"]
    assert diags[0].location == Location("f.yaml", 3, 1)
    assert diags[0].related == (("first defined here", Location("f.yaml", 2, 1)),)


def test_syntax_error_is_a_located_diagnostic() -> None:
    data, diags = parse_yaml("f.yaml", "a: [1, 2\nb: 3\n", SourceMap())
    assert data is None
    assert diags[0].code == "yaml-syntax" and diags[0].location.line == 2


def test_loaded_config_api(tmp_path: Path) -> None:
    loaded = load_ok(tmp_path, BASE + "networks:\n  web:\n    subnet: 10.0.0.0/24\n")
    assert loaded.files == (tmp_path / "overlay.yaml",)
    assert loaded.lock_path == tmp_path / LOCK_NAME
    assert loaded.locate(("networks", "web", "subnet")) == Location(str(tmp_path / "overlay.yaml"), 12, 13)
    assert loaded.sources[str(tmp_path / "overlay.yaml")][0] == "version: 1"


def test_directory_merges_sections_in_name_order(tmp_path: Path) -> None:
    write(tmp_path, BASE, "10-base.yaml")
    write(tmp_path, "networks:\n  web:\n    subnet: 10.0.0.0/24\nnodes:\n  node3:\n    address: 192.0.2.3\n",
          "20-more.yml")
    write(tmp_path, "ignored: true\n", "notes.txt")
    loaded = load_config([tmp_path])
    assert list(loaded.config.nodes) == ["node1", "node2", "node3"]
    assert loaded.locate(("nodes", "node3")).file.endswith("20-more.yml")
    assert loaded.lock_path == tmp_path / LOCK_NAME


def test_repeated_files_merge_and_version_may_repeat(tmp_path: Path) -> None:
    a = write(tmp_path, BASE, "a.yaml")
    b = write(tmp_path, "version: 1\nnetworks:\n  web:\n    subnet: 10.0.0.0/24\n", "b.yaml")
    assert list(load_config([a, b]).config.networks) == ["web"]


def test_duplicates_across_files_show_both_places(tmp_path: Path) -> None:
    a = write(tmp_path, BASE, "a.yaml")
    b = write(tmp_path, "version: 2\ncluster: {name: x, id: xxxxxxxxxx}\nnodes:\n  node1:\n"
              "    address: 192.0.2.9\n", "b.yaml")
    with pytest.raises(ConfigError) as info:
        load_config([a, b])
    found = {(d.code, d.message): d for d in info.value.diagnostics}
    node = found["duplicate-name", "node 'node1' is defined in more than one file"]
    assert node.location == Location(str(b), 4, 3)
    assert node.related == (("first defined here", Location(str(a), 6, 3)),)
    assert ("duplicate-key", "top-level key 'cluster' is defined in more than one file") in found
    assert ("duplicate-key", "top-level key 'version' is defined in more than one file") in found


def test_all_problems_are_reported_together_and_sorted(tmp_path: Path) -> None:
    diags = diagnose(tmp_path, BASE + "networks:\n  a:\n    subnet: 10.0.0.0/24\n    encrypt: true\n"
                     "  b:\n    subnett: 10.0.1.0/24\n")
    assert [d.code for d in diags] == ["unknown-key", "missing-key", "unknown-key"]
    assert [d.location.line for d in diags] == sorted(d.location.line for d in diags)


@pytest.mark.parametrize("paths", [[], [Path("/nonexistent/overlay.yaml")]])
def test_missing_input_is_an_input_error(paths: list[Path]) -> None:
    with pytest.raises(InputError):
        load_config(paths)


def test_empty_directory_and_binary_file_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no \*\.yaml"):
        load_config([tmp_path])
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="not UTF-8"):
        load_config([bad])


def test_unreadable_file_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, BASE)

    def refuse(self: Path, encoding: str | None = None) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(InputError, match="cannot read: Permission denied"):
        load_config([path])


def test_empty_file_reports_missing_keys(tmp_path: Path) -> None:
    diags = diagnose(tmp_path, "")
    assert {d.message for d in diags} == {
        "missing required key 'cluster' in the top level", "missing required key 'version' in the top level"
    }


def test_document_that_is_not_a_mapping(tmp_path: Path) -> None:
    assert [d.code for d in diagnose(tmp_path, "- a\n- b\n")] == ["not-a-mapping"]


def test_docker_options_fold_into_the_model(tmp_path: Path) -> None:
    loaded = load_ok(tmp_path, BASE + """\
networks:
  off:
    subnet: 10.0.0.0/24
    driver_opts: {encrypted: "false"}
  off2: {subnet: 10.0.3.0/24, encrypted: "false"}
  on:
    subnet: 10.0.1.0/24
    attachable: "true"
    driver_opts:
      encrypted: ""
      com.docker.network.driver.mtu: "1400"
      com.docker.network.driver.overlay.vxlanid_list: "4097"
  bare:
    subnet: 10.0.2.0/24
    driver_opts:
      encrypted:
""")
    nets = loaded.config.networks
    assert not nets["off"].is_encrypted and not nets["off2"].is_encrypted
    assert nets["on"].is_encrypted and nets["on"].attachable
    assert nets["on"].fixed_vni == 4097 and nets["on"].underlay_mtu == 1400
    assert nets["bare"].is_encrypted  # Docker's presence semantics for a bare option


def test_network_list_and_mapping_forms(tmp_path: Path) -> None:
    loaded = load_ok(tmp_path, BASE + """\
networks:
  a: {subnet: 10.0.0.0/24, attachable: true}
  b: {subnet: 10.0.1.0/24, attachable: true}
services:
  s1: {networks: [b, a]}
  s2:
    networks:
      a: {ipv4_addresses: [10.0.0.5]}
      b:
endpoints:
  e1: {node: node1, networks: {a: {mac_address: "02-42-0A-00-00-09"}}}
""")
    cfg = loaded.config
    assert list(cfg.services["s1"].attachments()) == ["b", "a"]
    assert [str(ip) for ip in cfg.services["s2"].attachments()["a"].ipv4_addresses] == ["10.0.0.5"]
    assert cfg.services["s2"].attachments()["b"].ipv4_addresses == []
    assert cfg.endpoints["e1"].attachments()["a"].mac_address == "02:42:0a:00:00:09"


def test_empty_sections_merge(tmp_path: Path) -> None:
    a = write(tmp_path, BASE + "networks:\nservices:\n", "a.yaml")
    b = write(tmp_path, "networks:\n  web: {subnet: 10.0.0.0/24}\nendpoints:\n", "b.yaml")
    loaded = load_config([a, b])
    assert list(loaded.config.networks) == ["web"] and loaded.config.endpoints == {}


@pytest.mark.parametrize(("text", "message"), [
    ("a: " + "[" * 3000 + "]" * 3000 + "\n", "YAML document nests too deeply"),
    ("a: &x [*x]\n", "document nests too deeply"),
    ("a: !!python/object:os.system x\n", "could not determine a constructor"),
])
def test_hostile_yaml_gives_a_diagnostic(tmp_path: Path, text: str, message: str) -> None:
    [d] = diagnose(tmp_path, text)
    assert d.code == "yaml-syntax" and message in d.message
