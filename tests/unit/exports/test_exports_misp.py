"""MISP event export: attributes, to_ids, tags, determinism, and what is never exported."""

from __future__ import annotations

import json
from typing import Any

from html_reports import C2_NAME, HOSTILE, PUBLIC_IP, SAMPLE_SHA256, hostile_report, rich_dict

from aasee.processing.exports import collect_indicators, export, misp_event
from aasee.processing.exports_misp import attack_tag
from aasee.processing.models import Report


def _event(data: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = misp_event(Report.model_validate(data))["Event"]
    return event


def _attributes(event: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(a["type"], a["value"]): a for a in event["Attribute"]}


def test_event_header() -> None:
    event = _event(rich_dict())
    assert event["threat_level_id"] == "1"
    assert event["analysis"] == "2" and event["published"] is False
    assert event["date"] == "2024-05-01"
    assert event["info"] == "AASEE analysis of sample: malicious, score 8.2/10"
    assert len(event["uuid"]) == 36


def test_sample_and_dropped_hashes() -> None:
    attrs = _attributes(_event(rich_dict()))
    for kind, value in (
        ("md5", "a" * 32),
        ("sha1", "b" * 40),
        ("sha256", SAMPLE_SHA256),
        ("ssdeep", "48:abcdefgh:ijklmnop"),
        ("filename|sha256", f"sample|{SAMPLE_SHA256}"),
    ):
        attr = attrs[(kind, value)]
        assert attr["category"] == "Payload delivery" and attr["to_ids"] is True
    dropped = attrs[("filename|sha256", f"/tmp/hello.txt|{'3' * 64}")]
    assert dropped["category"] == "Artifacts dropped" and dropped["to_ids"] is True
    # A cut copy's hash is context only; an uncollected file has no hash at all.
    assert attrs[("sha256", "6" * 64)]["to_ids"] is False
    assert not any("/tmp/gone" in value for _, value in attrs)


def test_network_attributes() -> None:
    attrs = _attributes(_event(rich_dict()))
    assert attrs[("domain", C2_NAME)]["to_ids"] is True
    assert attrs[("hostname", "tls.evil-example.net")]["to_ids"] is True
    assert attrs[("hostname", C2_NAME)]["category"] == "Network activity"  # HTTP Host
    assert attrs[("url", f"http://{C2_NAME}/gate.php?id=1")]["to_ids"] is True
    assert attrs[("ip-dst", PUBLIC_IP)]["to_ids"] is True
    assert attrs[("user-agent", "EvilBot/1.0")]["to_ids"] is False
    # Documentation/private ranges are shared as context, strings never detect.
    assert attrs[("ip-dst", "198.51.100.7")]["to_ids"] is False
    assert attrs[("domain", "strings-only.example.org")]["to_ids"] is False
    assert attrs[("ip-dst", "8.8.8.8")]["to_ids"] is False


def test_sandbox_addresses_are_never_exported() -> None:
    text = json.dumps(misp_event(Report.model_validate(rich_dict())))
    assert "10.0.2." not in text


def test_attack_tags() -> None:
    event = _event(rich_dict())
    assert event["Tag"] == [
        {"name": 'misp-galaxy:mitre-attack-pattern="Debugger Evasion - T1622"'},
        {"name": 'misp-galaxy:mitre-attack-pattern="Web Protocols - T1071.001"'},
    ]
    assert attack_tag("T1059", 'Bad "quoted" name') == (
        "misp-galaxy:mitre-attack-pattern=\"Bad 'quoted' name - T1059\""
    )
    assert attack_tag("not-an-id", "x") is None


def test_benign_verdict_detects_nothing() -> None:
    data = rich_dict()
    data.update(verdict="benign", score=0.5)
    event = _event(data)
    assert event["threat_level_id"] == "3"
    assert event["Attribute"] and not any(a["to_ids"] for a in event["Attribute"])


def test_no_verdict_is_undefined_threat() -> None:
    data = rich_dict()
    data.update(verdict=None, score=None)
    assert _event(data)["threat_level_id"] == "4"


def test_export_is_deterministic() -> None:
    report = Report.model_validate(rich_dict())
    assert export(report, "misp") == export(Report.model_validate(rich_dict()), "misp")
    uuids = [a["uuid"] for a in misp_event(report)["Event"]["Attribute"]]
    assert len(set(uuids)) == len(uuids)


def test_hostile_names_are_not_indicators() -> None:
    report = hostile_report()
    found = collect_indicators(report)
    assert found.observables  # the hostile report still has the clean ones' shapes
    for observable in found.observables:
        if observable.kind in ("domain", "hostname", "ip"):
            assert "<" not in observable.value and " " not in observable.value
    event = misp_event(report)["Event"]
    for attr in event["Attribute"]:
        if attr["type"] in ("domain", "hostname", "ip-dst"):
            assert HOSTILE not in attr["value"]
        assert "\x00" not in attr["value"] and "\x1b" not in attr["comment"]
