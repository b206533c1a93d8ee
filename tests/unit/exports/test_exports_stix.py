"""STIX 2.1 export: the bundle parses with the stix2 library, holds the analysis, the
sample, indicators and techniques, links only to its own objects, and is deterministic."""

from __future__ import annotations

import json
from typing import Any

import stix2
from html_reports import (
    C2_NAME,
    HOSTILE,
    PUBLIC_IP,
    SAMPLE_SHA256,
    basic_report,
    hostile_report,
    rich_dict,
)

from aasee.processing.exports import export, stix_bundle
from aasee.processing.exports_stix import pattern_literal
from aasee.processing.models import Report


def _bundle(data: dict[str, Any]) -> dict[str, Any]:
    return stix_bundle(Report.model_validate(data))


def _parse(bundle: dict[str, Any]) -> Any:
    return stix2.parse(json.dumps(bundle), allow_custom=False, version="2.1")


def _by_type(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for obj in bundle["objects"]:
        found.setdefault(obj["type"], []).append(obj)
    return found


def _assert_parses_and_refers_only_to_its_objects(bundle: dict[str, Any]) -> None:
    parsed = _parse(bundle)
    assert parsed.type == "bundle" and len(parsed.objects) == len(bundle["objects"])
    ids = {o["id"] for o in bundle["objects"]}
    assert len(ids) == len(bundle["objects"])
    for obj in bundle["objects"]:
        for key, value in obj.items():
            refs = value if key.endswith("_refs") else [value] if key.endswith("_ref") else []
            for ref in refs:
                assert ref in ids, f"{obj['id']} {key} -> {ref}"


def test_bundle_parses_and_refers_only_to_its_objects() -> None:
    _assert_parses_and_refers_only_to_its_objects(_bundle(rich_dict()))


def test_malware_analysis_and_sample() -> None:
    objects = _by_type(_bundle(rich_dict()))
    (analysis,) = objects["malware-analysis"]
    assert analysis["product"] == "aasee" and analysis["result"] == "malicious"
    assert analysis["analysis_started"] == "2024-05-01T12:00:00Z"
    files = {f["id"]: f for f in objects["file"]}
    sample = files[analysis["sample_ref"]]
    assert sample["hashes"]["SHA-256"] == SAMPLE_SHA256 and sample["name"] == "sample"
    assert sample["hashes"]["SSDEEP"] == "48:abcdefgh:ijklmnop"
    dropped = [f for f in files.values() if f["name"] == "hello.txt"]
    assert dropped and dropped[0]["id"] in analysis["analysis_sco_refs"]
    (directory,) = [
        d for d in objects["directory"] if d["id"] == dropped[0]["parent_directory_ref"]
    ]
    assert directory["path"] == "/tmp"
    (malware,) = objects["malware"]
    assert malware["is_family"] is False and malware["sample_refs"] == [sample["id"]]


def test_indicators_and_techniques() -> None:
    objects = _by_type(_bundle(rich_dict()))
    patterns = {i["pattern"] for i in objects["indicator"]}
    assert f"[file:hashes.'SHA-256' = '{SAMPLE_SHA256}']" in patterns
    assert f"[domain-name:value = '{C2_NAME}']" in patterns
    assert f"[ipv4-addr:value = '{PUBLIC_IP}']" in patterns
    assert f"[url:value = 'http://{C2_NAME}/gate.php?id=1']" in patterns
    # Context only (strings, documentation ranges, cut copies): no indicator.
    assert not any("strings-only" in p or "198.51.100.7" in p or "6" * 64 in p for p in patterns)
    assert "strings-only.example.org" not in json.dumps(objects)
    assert all(i["indicator_types"] == ["malicious-activity"] for i in objects["indicator"])
    techniques = {p["external_references"][0]["external_id"]: p for p in objects["attack-pattern"]}
    assert set(techniques) == {"T1622", "T1071.001"}
    web = techniques["T1071.001"]
    assert web["external_references"][0] == {
        "source_name": "mitre-attack",
        "external_id": "T1071.001",
        "url": "https://attack.mitre.org/techniques/T1071/001",
    }
    assert web["kill_chain_phases"] == [
        {"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"}
    ]
    relations = {
        (r["source_ref"].split("--")[0], r["relationship_type"], r["target_ref"].split("--")[0])
        for r in objects["relationship"]
    }
    assert relations == {
        ("malware-analysis", "dynamic-analysis-of", "malware"),
        ("indicator", "indicates", "malware"),
        ("malware", "uses", "attack-pattern"),
    }


def test_sandbox_addresses_are_not_in_the_bundle() -> None:
    assert "10.0.2." not in json.dumps(_bundle(rich_dict()))


def test_benign_has_no_malware_and_no_indicators() -> None:
    data = rich_dict()
    data.update(verdict="benign", score=0.0)
    bundle = _bundle(data)
    _parse(bundle)
    objects = _by_type(bundle)
    assert objects["malware-analysis"][0]["result"] == "benign"
    assert not {"malware", "indicator", "attack-pattern", "relationship"} & set(objects)


def test_deterministic_ids() -> None:
    first = export(Report.model_validate(rich_dict()), "stix")
    assert first == export(Report.model_validate(rich_dict()), "stix")
    other = rich_dict()
    other["analysis"]["id"] = "t-2"
    second = _bundle(other)
    assert json.loads(first)["id"] != second["id"]
    # SCOs are the same objects whatever analysis saw them.
    scos = {o["id"] for o in json.loads(first)["objects"] if o["type"] in ("file", "domain-name")}
    assert scos <= {o["id"] for o in second["objects"]}


def test_basic_report_without_capture_or_verdict() -> None:
    bundle = stix_bundle(basic_report())
    _parse(bundle)
    assert _by_type(bundle)["malware-analysis"][0]["result"] == "unknown"


def test_hostile_report_still_parses() -> None:
    bundle = stix_bundle(hostile_report())
    _assert_parses_and_refers_only_to_its_objects(bundle)
    objects = _by_type(bundle)
    (analysis,) = objects["malware-analysis"]
    assert analysis["result"] == "malicious"
    # Hostile names are never made observables or indicators; the clean ones still are.
    assert objects["domain-name"] and objects["indicator"]
    for obj in bundle["objects"]:
        if obj["type"] in ("domain-name", "ipv4-addr", "url"):
            assert HOSTILE not in obj["value"] and "<" not in obj["value"], obj
            assert " " not in obj["value"] and "\x00" not in obj["value"], obj
        if obj["type"] == "indicator":
            assert HOSTILE not in obj["pattern"] and "\x00" not in obj["pattern"], obj


def test_pattern_literals_escape_quotes_and_backslashes() -> None:
    assert pattern_literal("a'b\\c") == "'a\\'b\\\\c'"
    data = rich_dict()
    data["network"]["http"][0]["url"] = "http://c2.evil-example.com/x?q='];[x\\"
    patterns = [i["pattern"] for i in _by_type(_bundle(data))["indicator"]]
    assert "[url:value = 'http://c2.evil-example.com/x?q=\\'];[x\\\\']" in patterns
