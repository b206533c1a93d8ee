"""HTTPS requests come from the fake internet's log, attributed through the captured flow."""

from __future__ import annotations

import json
from pathlib import Path

from aasee.processing.fakenet_log import https_requests
from aasee.processing.models import Flow


def _flow(port: int, pid: int) -> Flow:
    return Flow(
        proto="tcp",
        ip_proto=6,
        family="ipv4",
        direction="outbound",
        src_ip="10.0.2.15",
        src_port=port,
        dst_ip="93.184.216.34",
        dst_port=443,
        first_epoch=1.0,
        last_epoch=2.0,
        pid=pid,
        process=f"{pid}@1.0",
    )


def test_https_requests_are_read_and_attributed(tmp_path: Path) -> None:
    log = tmp_path / "fakenet.jsonl"
    good = {
        "time": "2026-11-22T05:00:00.5Z",
        "service": "https",
        "event": "request",
        "client_ip": "10.0.2.15",
        "client_port": 40001,
        "server_ip": "10.0.2.2",
        "server_port": 443,
        "original_dst_ip": "93.184.216.34",
        "original_dst_port": 443,
        "method": "POST",
        "version": "HTTP/1.1",
        "host": "c2.example",
        "path": "/beacon",
        "user_agent": "<script>x</script>",
        "body_size": 12,
        "body_sha256": "ab" * 32,
        "body_complete": True,
        "status": 200,
    }
    lines = [
        json.dumps(good),
        "not json at all",
        json.dumps({**good, "client_port": 70000}),  # impossible port: dropped
        json.dumps({"service": "http", "event": "request"}),  # plain HTTP comes from the pcap
        json.dumps([1, 2, 3]),
        json.dumps({**good, "client_port": 40002, "time": "garbage"}),
    ]
    log.write_text("\n".join(lines) + "\n")
    errors: list[str] = []
    requests = https_requests(log, [_flow(40001, 77)], errors)
    assert len(requests) == 1
    request = requests[0]
    assert request.url == "https://c2.example/beacon"
    assert request.dst_ip == "93.184.216.34" and request.pid == 77
    assert request.user_agent == "<script>x</script>"  # kept as data, escaped when shown
    assert not errors
