"""Our report.json as a Cuckoo 2 / CAPE report (``aasee.web.cuckoo_report``): the fields
third-party clients read, the network seen without the sandbox's own addresses, and a sample
that was not executed never reading as clean."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aasee.service.facade import SubmitOptions, TaskView
from aasee.web.cuckoo_report import cuckoo_report, cuckoo_time, lite_report

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


def _task(**values: Any) -> TaskView:
    fields: dict[str, Any] = {
        "id": "0e7d6a4e-5c4b-4a0a-9d7e-1f2a3b4c5d6e",
        "number": 7,
        "sha256": "c" * 64,
        "filename": "kitchen",
        "size": 64,
        "status": "reported",
        "substatus": None,
        "reason": None,
        "options": SubmitOptions(image="debian-bookworm-amd64", timeout=30),
        "created": datetime(2024, 5, 1, 11, 59, 58, tzinfo=UTC),
        "started": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        "finished": datetime(2024, 5, 1, 12, 0, 40, tzinfo=UTC),
        "attempts": 1,
        "worker": None,
        "verdict": "malicious",
        "score": 8.2,
        "progress": None,
    }
    fields.update(values)
    return TaskView(**fields)


def _golden(name: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((GOLDEN / f"{name}.report.json").read_text())
    return report


@pytest.fixture(scope="module")
def kitchen() -> dict[str, Any]:
    return _golden("kitchen")


def test_info_and_scores_of_a_reported_task(kitchen: dict[str, Any]) -> None:
    shaped = cuckoo_report(kitchen, _task(), 7, "aasee-test")
    info = shaped["info"]
    assert info["id"] == 7
    assert info["category"] == "file"
    assert info["score"] == shaped["malscore"] == kitchen["score"] == 8.2
    assert isinstance(info["score"], float)
    assert info["version"] == "aasee-test"
    assert info["machine"]["name"] == "debian-bookworm-amd64"
    # The golden run has no start/end of its own: the task's are used.
    assert (info["started"], info["ended"], info["duration"]) == (
        "2024-05-01 12:00:00",
        "2024-05-01 12:00:40",
        40,
    )
    assert info["added"] == "2024-05-01 11:59:58"
    assert shaped["aasee"]["verdict"] == "malicious"
    assert shaped["aasee"]["task_id"] == "0e7d6a4e-5c4b-4a0a-9d7e-1f2a3b4c5d6e"
    assert shaped["debug"]["errors"] == kitchen["errors"]


def test_signatures_keep_names_severities_marks_and_techniques(kitchen: dict[str, Any]) -> None:
    shaped = cuckoo_report(kitchen, _task(), 7, "v")
    ours = {s["id"]: s for s in kitchen["signatures"]}
    assert [s["name"] for s in shaped["signatures"]] == [s["id"] for s in kitchen["signatures"]]
    expected_severity = {"info": 1, "low": 1, "medium": 2, "high": 3, "critical": 4}
    for signature in shaped["signatures"]:
        match = ours[signature["name"]]
        assert signature["description"] == match["name"]
        assert signature["severity"] == expected_severity[match["severity"]]
        assert signature["aasee"]["severity"] == match["severity"]
        assert signature["markcount"] == match["count"]
        assert [m["ioc"] for m in signature["marks"]] == [e["summary"] for e in match["evidence"]]
        assert all(m["type"] == "ioc" for m in signature["marks"])
        assert sorted(signature["ttp"]) == sorted(match["techniques"])
        assert signature["categories"] == [match["category"]]
    setuid = next(s for s in shaped["signatures"] if s["name"] == "privesc_setuid_setgid")
    assert setuid["severity"] == 3
    assert setuid["ttp"]["T1548.001"]["short"]  # named from the report's ATT&CK section
    assert {"signature": "privesc_setuid_setgid", "ttps": ["T1548.001"]} in shaped["ttps"]


def test_target_is_what_cortex_reads(kitchen: dict[str, Any]) -> None:
    target = cuckoo_report(kitchen, _task(), 7, "v")["target"]
    assert target["category"] == "file"
    file = target["file"]
    for key in ("md5", "sha1", "sha256", "size", "name"):
        assert file[key] == kitchen["sample"][key]
    assert file["ssdeep"] == kitchen["static"]["ssdeep"]
    # Cortex's CuckooSandbox analyzer: "".join(type) and x['meta'] of every YARA match.
    assert "".join(file["type"]) == kitchen["sample"]["type"]
    assert file["yara"] == []


def test_yara_matches_have_name_and_meta() -> None:
    report = _golden("basic")
    report["static"]["yara"] = [
        {
            "rule": "AASEE_UPX_Packed_ELF",
            "namespace": "packers",
            "source": "bundled",
            "tags": ["packer"],
            "meta": {"description": "UPX packed ELF", "family": "mirai"},
            "strings": [{"identifier": "$upx", "offset": 16, "data": "UPX!"}],
        }
    ]
    report["sample"]["type"] = None
    shaped = cuckoo_report(report, _task(), 1, "v")
    (match,) = shaped["target"]["file"]["yara"]
    assert match["name"] == "AASEE_UPX_Packed_ELF"
    assert match["meta"]["description"] == "UPX packed ELF"
    assert match["strings"] == ["UPX!"]
    assert match["offsets"] == {"$upx": [[16, 0]]}
    assert shaped["target"]["file"]["type"] == report["static"]["type"]
    # No signature agrees on a family: the YARA rule's is the family.
    assert shaped["malfamily"] == "mirai"


def _network_report() -> dict[str, Any]:
    report = _golden("basic")
    report["network"].update(
        {
            "flows": [
                {
                    "proto": "tcp",
                    "direction": "outbound",
                    "src_ip": "10.0.2.15",
                    "src_port": 40000,
                    "dst_ip": "93.184.216.34",
                    "dst_port": 443,
                    "first_epoch": 1700000001.5,
                    "pid": 117,
                },
                {
                    "proto": "udp",
                    "direction": "outbound",
                    "src_ip": "10.0.2.15",
                    "src_port": 5353,
                    "dst_ip": "10.0.2.3",
                    "dst_port": 53,
                    "first_epoch": 1700000001.0,
                    "pid": 117,
                },
                {
                    "proto": "tcp",
                    "direction": "inbound",
                    "src_ip": "203.0.113.9",
                    "src_port": 5555,
                    "dst_ip": "10.0.2.15",
                    "dst_port": 22,
                    "first_epoch": 1700000002.0,
                    "pid": None,
                },
            ],
            "dns_traffic": [
                {
                    "name": "pool.example.com",
                    "type": "A",
                    "rcode": "NOERROR",
                    "answers": [
                        {"name": "pool.example.com", "type": "A", "ttl": 60, "data": "10.0.2.2"}
                    ],
                },
                {
                    "name": "cdn.example.org",
                    "type": "A",
                    "rcode": "NOERROR",
                    "answers": [
                        {"name": "cdn.example.org", "type": "A", "ttl": 60, "data": "93.184.216.34"}
                    ],
                },
            ],
            "dns": [
                {"pid": 117, "query": "tracer-only.example.net", "server": "10.0.2.3", "port": 53}
            ],
            "http": [
                {
                    "method": "GET",
                    "host": "cdn.example.org",
                    "path": "/x.sh",
                    "url": "http://cdn.example.org/x.sh",
                    "version": "1.1",
                    "user_agent": "curl/8",
                    "dst_ip": "93.184.216.34",
                    "dst_port": 80,
                    "status": 200,
                    "pid": 117,
                }
            ],
        }
    )
    return report


def test_network_hosts_domains_dns_http_from_the_capture() -> None:
    network = cuckoo_report(_network_report(), _task(), 1, "v")["network"]
    # The sandbox's resolver, the guest itself and inbound peers are not contacted hosts.
    assert network["hosts"] == [
        {
            "ip": "93.184.216.34",
            "country_name": "",
            "hostname": "cdn.example.org",
            "inaddrarpa": "",
            "ports": [443],
        }
    ]
    # A name the fake DNS answered with the sinkhole has no address of the outside world.
    assert network["domains"] == [
        {"domain": "pool.example.com", "ip": ""},
        {"domain": "cdn.example.org", "ip": "93.184.216.34"},
        {"domain": "tracer-only.example.net", "ip": ""},
    ]
    assert network["dns"][0] == {
        "request": "pool.example.com",
        "type": "A",
        "answers": [{"type": "A", "data": "10.0.2.2"}],
    }
    assert [d["request"] for d in network["dns"]][-1] == "tracer-only.example.net"
    (http,) = network["http"]
    assert (http["uri"], http["method"], http["user-agent"], http["dport"]) == (
        "http://cdn.example.org/x.sh",
        "GET",
        "curl/8",
        80,
    )
    assert [(t["dst"], t["dport"]) for t in network["tcp"]] == [("93.184.216.34", 443)]
    assert [(u["dst"], u["dport"]) for u in network["udp"]] == [("10.0.2.3", 53)]


def test_without_a_capture_the_tracer_connections_are_the_network() -> None:
    report = _golden("workers")
    network = cuckoo_report(report, _task(), 1, "v")["network"]
    assert report["network"]["flows"] == []
    traced = {(c["dst_ip"], c["dst_port"]) for c in report["network"]["connections"]}
    assert traced
    assert {(t["dst"], t["dport"]) for t in network["tcp"]} == traced
    assert "198.51.100.7" in [h["ip"] for h in network["hosts"]]


def test_behavior_processes_tree_summary_and_apistats(kitchen: dict[str, Any]) -> None:
    behavior = cuckoo_report(kitchen, _task(), 1, "v")["behavior"]
    assert [p["pid"] for p in behavior["processes"]] == [p["pid"] for p in kitchen["processes"]]
    root = behavior["processtree"][0]
    assert (root["pid"], root["name"], root["process_name"]) == (300, "sample", "sample")
    assert root["command_line"] == "/tmp/sample " + kitchen["processes"][0]["argv"][1]
    assert all(child["ppid"] == 300 for child in root["children"])
    summary = behavior["summary"]
    written = [f["path"] for f in kitchen["files"]["written"]]
    assert summary["file_written"] == written
    assert summary["write_files"][: len(written)] == written  # CAPE's name
    assert summary["file_deleted"] == summary["delete_files"]
    assert "/tmp/.hidden" in summary["directory_created"]
    assert summary["executed_commands"] == summary["command_line"]
    assert behavior["apistats"]["300"]["execve"] == 1
    assert behavior["apistats"]["302"] == {"open": 1}
    generic = {g["pid"]: g for g in behavior["generic"]}
    assert generic[300]["summary"]["file_written"] == [
        f["path"] for f in kitchen["files"]["written"] if f["pid"] == 300
    ]


def test_dropped_files(kitchen: dict[str, Any]) -> None:
    report = copy.deepcopy(kitchen)
    report["dropped"] = [
        {
            "path": "/tmp/.cache-update",
            "size": 23,
            "collected": 23,
            "truncated": False,
            "md5": "a" * 32,
            "sha1": "b" * 40,
            "sha256": "d" * 64,
            "stored_as": "d" * 64,
            "pid": 300,
            "process": "300@10.001000",
            "error": None,
            "static": {"type": "POSIX shell script", "ssdeep": "3:x:y", "yara": []},
        }
    ]
    (dropped,) = cuckoo_report(report, _task(), 1, "v")["dropped"]
    assert dropped["name"] == ".cache-update"
    assert dropped["guest_paths"] == ["/tmp/.cache-update"]
    assert (dropped["sha256"], dropped["md5"], dropped["size"]) == ("d" * 64, "a" * 32, 23)
    assert dropped["type"] == "POSIX shell script"


def test_not_executed_is_never_a_clean_score() -> None:
    report = _golden("basic")
    report["analysis"]["executed"] = False
    report["analysis"]["not_executed_reason"] = "Exec format error"
    report["verdict"] = "not executed"
    report["score"] = None
    task = _task(status="failed", verdict="not executed", score=None, reason="not executed")
    shaped = cuckoo_report(report, task, 3, "v")
    assert shaped["info"]["score"] is None
    assert shaped["malscore"] is None
    assert shaped["aasee"]["verdict"] == "not executed"
    assert shaped["aasee"]["executed"] is False
    assert shaped["debug"]["errors"][0] == "the sample was not executed: Exec format error"
    assert cuckoo_report(report, task, 3, "v")["aasee"]["not_executed_reason"] == (
        "Exec format error"
    )


def test_a_score_left_in_a_not_executed_report_is_not_shown() -> None:
    report = _golden("basic")
    report["verdict"] = "not executed"
    report["score"] = 0.0  # whatever it says, a run that did not execute is not scored
    shaped = cuckoo_report(report, _task(), 3, "v")
    assert shaped["malscore"] is None
    assert shaped["info"]["score"] is None


@pytest.mark.parametrize(
    ("severities", "family"),
    [
        (["medium"], ""),  # one medium hint names no family
        (["medium", "medium"], "coinminer"),  # two agree
        (["high"], "coinminer"),
        (["low", "low"], ""),
    ],
)
def test_malfamily_needs_agreement(severities: list[str], family: str) -> None:
    report = _golden("basic")
    report["static"]["yara"] = []
    report["signatures"] = [
        {
            "id": f"sig{i}",
            "name": f"Signature {i}",
            "description": "",
            "severity": severity,
            "category": f"c{i}",
            "families": ["coinminer"],
            "count": 1,
            "evidence": [],
        }
        for i, severity in enumerate(severities)
    ]
    assert cuckoo_report(report, _task(), 1, "v")["malfamily"] == family


def test_lite_report_keeps_capes_keys(kitchen: dict[str, Any]) -> None:
    shaped = cuckoo_report(kitchen, _task(), 1, "v")
    lite = lite_report(shaped)
    assert set(lite) == {
        "info",
        "signatures",
        "ttps",
        "dropped",
        "static",
        "target",
        "network",
        "malscore",
        "malfamily",
        "aasee",
    }
    assert "behavior" not in lite
    assert lite["malscore"] == shaped["malscore"]


def test_cuckoo_time() -> None:
    assert cuckoo_time("2024-05-01T12:00:00Z") == "2024-05-01 12:00:00"
    assert cuckoo_time(datetime(2024, 5, 1, 14, 0, tzinfo=UTC)) == "2024-05-01 14:00:00"
    assert cuckoo_time(None) is None
    assert cuckoo_time("not a time") is None


def test_report_is_json_serialisable(kitchen: dict[str, Any]) -> None:
    shaped = cuckoo_report(kitchen, _task(), 1, "v")
    assert json.loads(json.dumps(shaped)) == shaped
