"""Our report.json seen as a Cuckoo 2 / CAPE report: pure functions over the report's dict.

The shape is what third-party Cuckoo and CAPE clients read: ``info`` (with ``score`` 0-10),
``malscore`` and ``malfamily`` (CAPE), ``signatures`` (``name``, ``description``, ``severity``
1-4, ``marks``), ``ttps``, ``network`` (``hosts``, ``domains``, ``dns``, ``http``, ``tcp``,
``udp``), ``behavior`` (``processes``, ``processtree``, ``summary`` in both Cuckoo's and CAPE's
vocabulary, ``generic``, ``apistats``), ``target.file``, ``dropped``, ``static`` and
``debug``; our own view is kept under ``aasee`` (verdict, score details, the task's id).

A sample the guest could not execute has no score: ``info.score`` and ``malscore`` are
``null`` (never 0, which would read as benign), ``aasee.verdict`` is ``not executed`` and the
reason is in ``debug.errors``. Severities map info/low 1, medium 2, high 3, critical 4.
Addresses of the sandbox's own network (the guest, its gateway, the fake DNS server and the
sinkhole every name resolves to) are not listed as hosts, nor given as a domain's address.
"""

from __future__ import annotations

import ipaddress
import posixpath
import shlex
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from aasee.processing.exports_iocs import SANDBOX_NETWORK
from aasee.service.facade import TaskView

SEVERITY = {"info": 1, "low": 1, "medium": 2, "high": 3, "critical": 4}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
LITE_KEYS = ("info", "signatures", "ttps", "dropped", "static", "target", "network", "malscore")
"""The keys CAPE's default ``litereport`` copies (those this report has)."""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _unique(values: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in (None, "") and value not in seen:
            seen.append(value)
    return seen


def cuckoo_time(moment: datetime | str | None) -> str | None:
    """A time as Cuckoo writes it: ``YYYY-MM-DD HH:MM:SS`` (UTC here)."""
    if moment is None:
        return None
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(TIME_FORMAT)


def _parse(moment: str | None) -> datetime | None:
    if not moment:
        return None
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def command_line(argv: Any) -> str:
    return shlex.join(str(a) for a in _list(argv))


def _sandbox_address(value: Any) -> bool:
    """The sandbox's own network, or an address that is no host of the outside world."""
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        return True
    return (
        address in SANDBOX_NETWORK
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
    )


# --- info, signatures, ATT&CK ------------------------------------------------------------


def _package(static: dict[str, Any]) -> str:
    if static.get("elf"):
        return "elf"
    script = _dict(static.get("script"))
    if script:
        return str(script.get("language") or "script")
    return "generic"


def _info(report: dict[str, Any], task: TaskView, number: int, version: str) -> dict[str, Any]:
    analysis = _dict(report.get("analysis"))
    started = _parse(analysis.get("started")) or task.started
    ended = _parse(analysis.get("ended")) or task.finished
    duration = int((ended - started).total_seconds()) if started and ended else 0
    image = analysis.get("guest_image") or task.options.image or ""
    manager = analysis.get("sandbox") or analysis.get("hypervisor") or task.options.sandbox
    return {
        "id": number,
        "category": "file",
        "package": _package(_dict(report.get("static"))),
        "platform": "linux",
        "added": cuckoo_time(task.created),
        "started": cuckoo_time(started),
        "ended": cuckoo_time(ended),
        "duration": duration,
        "timeout": analysis.get("end_reason") == "timeout",
        "machine": {
            "name": image,
            "label": image,
            "manager": manager,
            "arch": analysis.get("arch") or task.arch,
            "started_on": cuckoo_time(started),
            "shutdown_on": cuckoo_time(ended),
        },
        "route": task.options.network,
        "options": "",
        "custom": "",
        "owner": "",
        "version": version,
        "score": report.get("score"),
    }


def _technique_names(report: dict[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for technique in _list(_dict(report.get("attack")).get("techniques")):
        technique = _dict(technique)
        if technique.get("id"):
            names[str(technique["id"])] = str(technique.get("name") or "")
    return names


def _mark(evidence: dict[str, Any], category: str) -> dict[str, Any]:
    return {
        "type": "ioc",
        "category": category,
        "ioc": evidence.get("summary"),
        "description": evidence.get("ref"),
        "pid": evidence.get("pid"),
        "process": evidence.get("process"),
    }


def _signature(match: dict[str, Any], technique_names: dict[str, str]) -> dict[str, Any]:
    severity = SEVERITY.get(str(match.get("severity")), 1)
    category = str(match.get("category") or "")
    marks = [_mark(_dict(e), category) for e in _list(match.get("evidence"))]
    techniques = [str(t) for t in _list(match.get("techniques"))]
    return {
        "name": match.get("id") or match.get("name"),
        "description": match.get("name") or "",
        "severity": severity,
        "weight": severity,
        "categories": [category] if category else [],
        "families": [str(f) for f in _list(match.get("families"))],
        "references": [],
        "markcount": int(match.get("count") or len(marks)),
        "marks": marks,
        "data": [{"ioc": m["ioc"], "ref": m["description"]} for m in marks],
        "ttp": {t: {"short": technique_names.get(t, ""), "long": ""} for t in techniques},
        "alert": False,
        "aasee": {
            "severity": match.get("severity"),
            "category": category,
            "explanation": match.get("description"),
            "evidence_truncated": bool(match.get("evidence_truncated")),
        },
    }


def _ttps(report: dict[str, Any]) -> list[dict[str, Any]]:
    """CAPE's top-level ``ttps``: each signature with the ATT&CK techniques it names."""
    found = []
    for match in _list(report.get("signatures")):
        match = _dict(match)
        techniques = [str(t) for t in _list(match.get("techniques"))]
        if techniques:
            found.append({"signature": match.get("id") or match.get("name"), "ttps": techniques})
    return found


def _malfamily(report: dict[str, Any]) -> str:
    """A family named by a high or critical signature or by two medium+ ones (the report's
    own "agreed" rule), the most severe first, else by a YARA rule's meta; "" if none."""
    ranked: dict[str, tuple[int, int]] = {}
    for match in _list(report.get("signatures")):
        match = _dict(match)
        weight = SEVERITY.get(str(match.get("severity")), 1)
        if weight < SEVERITY["medium"]:
            continue
        for family in _list(match.get("families")):
            best, count = ranked.get(str(family), (0, 0))
            ranked[str(family)] = (max(best, weight), count + 1)
    agreed = {
        name: rank for name, rank in ranked.items() if rank[0] >= SEVERITY["high"] or rank[1] >= 2
    }
    if agreed:
        return max(agreed, key=lambda name: agreed[name])
    for rule in _list(_dict(report.get("static")).get("yara")):
        family = _dict(_dict(rule).get("meta")).get("family")
        if family:
            return str(family)
    return ""


# --- network ---------------------------------------------------------------------------


def _guest_addresses(flows: list[dict[str, Any]]) -> set[str]:
    return {str(f.get("src_ip")) for f in flows if f.get("direction") == "outbound"}


def _network(network: dict[str, Any]) -> dict[str, Any]:
    flows = [_dict(f) for f in _list(network.get("flows"))]
    dns_records = [_dict(d) for d in _list(network.get("dns_traffic"))]
    guest = _guest_addresses(flows)
    tcp: list[dict[str, Any]] = []
    udp: list[dict[str, Any]] = []
    ports: dict[str, list[int]] = {}
    for flow in flows:
        if flow.get("direction") != "outbound" or flow.get("proto") not in ("tcp", "udp"):
            continue
        entry = {
            "src": flow.get("src_ip"),
            "sport": flow.get("src_port"),
            "dst": flow.get("dst_ip"),
            "dport": flow.get("dst_port"),
            "time": flow.get("first_epoch"),
            "offset": 0,
            "pid": flow.get("pid"),
        }
        (tcp if flow.get("proto") == "tcp" else udp).append(entry)
        ports.setdefault(str(flow.get("dst_ip")), []).append(int(flow.get("dst_port") or 0))
    if not flows:  # no capture analysed: the tracer's view of the same connections
        for connection in (_dict(c) for c in _list(network.get("connections"))):
            entry = {
                "src": None,
                "sport": None,
                "dst": connection.get("dst_ip"),
                "dport": connection.get("dst_port"),
                "time": connection.get("time"),
                "offset": 0,
                "pid": connection.get("pid"),
            }
            (udp if connection.get("proto") == "udp" else tcp).append(entry)
            port = int(connection.get("dst_port") or 0)
            ports.setdefault(str(connection.get("dst_ip")), []).append(port)
        for send in (_dict(u) for u in _list(network.get("udp"))):
            udp.append(
                {
                    "src": None,
                    "sport": None,
                    "dst": send.get("dst_ip"),
                    "dport": send.get("dst_port"),
                    "time": send.get("time"),
                    "offset": 0,
                    "pid": send.get("pid"),
                }
            )
            ports.setdefault(str(send.get("dst_ip")), []).append(int(send.get("dst_port") or 0))
    dns = []
    domains: dict[str, str] = {}
    for record in dns_records:
        answers = [
            {"type": a.get("type"), "data": a.get("data")}
            for a in (_dict(x) for x in _list(record.get("answers")))
        ]
        name = str(record.get("name") or "")
        dns.append({"request": name, "type": record.get("type"), "answers": answers})
        address = next(
            (
                str(a["data"])
                for a in answers
                if a["type"] in ("A", "AAAA") and not _sandbox_address(a["data"])
            ),
            "",
        )
        if name and (name not in domains or (address and not domains[name])):
            domains[name] = address
    for query in (_dict(q) for q in _list(network.get("dns"))):
        name = str(query.get("query") or "")
        if name and name not in domains:
            domains[name] = ""
            dns.append({"request": name, "type": "A", "answers": []})
    names_of: dict[str, str] = {ip: name for name, ip in domains.items() if ip}
    hosts = [
        {
            "ip": ip,
            "country_name": "",
            "hostname": names_of.get(ip, ""),
            "inaddrarpa": "",
            "ports": sorted(set(found)),
        }
        for ip, found in ports.items()
        if ip not in guest and not _sandbox_address(ip)
    ]
    http = [_http(_dict(h)) for h in _list(network.get("http"))]
    return {
        "hosts": hosts,
        "domains": [{"domain": name, "ip": ip} for name, ip in domains.items()],
        "dns": dns,
        "http": http,
        "tcp": tcp,
        "udp": udp,
        "tls": [
            {k: _dict(t).get(k) for k in ("dst_ip", "dst_port", "sni", "version", "ja3", "ja3_md5")}
            for t in _list(network.get("tls"))
        ],
        "icmp": [],
        "irc": [],
        "smtp": [],
        "dead_hosts": [],
    }


def _http(request: dict[str, Any]) -> dict[str, Any]:
    method = request.get("method") or ""
    path = request.get("path") or "/"
    version = request.get("version") or "1.1"
    return {
        "uri": request.get("url") or "",
        "host": request.get("host") or request.get("dst_ip") or "",
        "port": request.get("dst_port"),
        "dst": request.get("dst_ip"),
        "dport": request.get("dst_port"),
        "path": path,
        "method": method,
        "version": version,
        "user-agent": request.get("user_agent") or "",
        "status": request.get("status"),
        "body": "",
        "data": f"{method} {path} HTTP/{version}",
        "count": 1,
        "pid": request.get("pid"),
    }


# --- behaviour -------------------------------------------------------------------------


def _paths(entries: Any, key: str = "path") -> list[str]:
    return _unique(str(_dict(e).get(key)) for e in _list(entries) if _dict(e).get(key))


def _process(process: dict[str, Any]) -> dict[str, Any]:
    return {
        "pid": process.get("pid"),
        "ppid": process.get("ppid"),
        "process_name": process.get("comm") or "",
        "process_path": process.get("image") or "",
        "command_line": command_line(process.get("argv")),
        "first_seen": process.get("start_utc"),
        "exit_code": process.get("exit_code"),
        "threads": _list(process.get("threads")),
        "calls": [],
        "modules": [],
        "track": True,
        "type": "process",
    }


def _tree(node: dict[str, Any], parent: int | None) -> dict[str, Any]:
    pid = node.get("pid")
    return {
        "pid": pid,
        "ppid": parent,
        "name": node.get("comm") or "",
        "process_name": node.get("comm") or "",
        "process_path": node.get("image") or "",
        "command_line": command_line(node.get("argv")),
        "children": [_tree(_dict(c), pid) for c in _list(node.get("children"))],
        "track": True,
        "truncated": bool(node.get("truncated")),
    }


def _file_summary(files: dict[str, Any], pid: int | None = None) -> dict[str, list[Any]]:
    def by(entries: Any) -> list[Any]:
        return [e for e in _list(entries) if pid is None or _dict(e).get("pid") == pid]

    return {
        "file_read": _paths(by(files.get("read"))),
        "file_written": _paths(by(files.get("written"))),
        "file_created": _paths(by(files.get("created"))),
        "file_deleted": _paths(by(files.get("deleted"))),
        "file_moved": [
            {"src": _dict(e).get("src"), "dst": _dict(e).get("dst")}
            for e in by(files.get("renamed"))
        ],
        "directory_created": _paths(by(files.get("mkdir"))),
        "directory_enumerated": _paths(by(files.get("directories"))),
    }


def _commands(processes: list[dict[str, Any]]) -> list[str]:
    lines = []
    for process in processes:
        execs = _list(process.get("execs"))
        for record in execs or [process]:
            lines.append(command_line(_dict(record).get("argv")))
    return _unique(lines)


def _behavior(report: dict[str, Any], network: dict[str, Any]) -> dict[str, Any]:
    processes = [_dict(p) for p in _list(report.get("processes"))]
    files = _dict(report.get("files"))
    cuckoo = _file_summary(files)
    commands = _commands(processes)
    summary: dict[str, Any] = {
        **cuckoo,
        "command_line": commands,
        "connects_ip": [host["ip"] for host in network["hosts"]],
        "resolves_host": [domain["domain"] for domain in network["domains"]],
        "fetches_url": _unique(h["uri"] for h in network["http"]),
        # CAPE's names for the same facts
        "files": _unique(cuckoo["file_read"] + cuckoo["file_written"] + cuckoo["file_created"]),
        "read_files": cuckoo["file_read"],
        "write_files": _unique(cuckoo["file_written"] + cuckoo["file_created"]),
        "delete_files": cuckoo["file_deleted"],
        "executed_commands": commands,
        "keys": [],
        "read_keys": [],
        "write_keys": [],
        "delete_keys": [],
        "mutexes": [],
        "resolved_apis": [],
        "created_services": [],
        "started_services": [],
    }
    generic = [
        {
            "pid": p.get("pid"),
            "ppid": p.get("ppid"),
            "process_name": p.get("comm") or "",
            "process_path": p.get("image") or "",
            "first_seen": p.get("start_utc"),
            "summary": {
                **_file_summary(files, p.get("pid")),
                "command_line": _commands([p]),
            },
        }
        for p in processes
    ]
    apistats: dict[str, dict[str, int]] = {}
    per_process = _dict(_dict(report.get("syscalls")).get("per_process"))
    for key, counts in per_process.items():
        stats = apistats.setdefault(str(key).split("@", 1)[0], {})
        for name, count in _dict(counts).items():
            stats[str(name)] = stats.get(str(name), 0) + int(count or 0)
    return {
        "processes": [_process(p) for p in processes],
        "processtree": [_tree(_dict(n), None) for n in _list(report.get("process_tree"))],
        "summary": summary,
        "generic": generic,
        "apistats": apistats,
        "anomaly": [],
    }


# --- files -----------------------------------------------------------------------------


def _yara(matches: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": _dict(m).get("rule"),
            "meta": _dict(_dict(m).get("meta")),
            "tags": _list(_dict(m).get("tags")),
            "namespace": _dict(m).get("namespace"),
            "strings": [_dict(s).get("data") for s in _list(_dict(m).get("strings"))],
            "offsets": {
                str(_dict(s).get("identifier")): [[_dict(s).get("offset"), 0]]
                for s in _list(_dict(m).get("strings"))
            },
        }
        for m in _list(matches)
    ]


def _target(report: dict[str, Any]) -> dict[str, Any]:
    sample = _dict(report.get("sample"))
    static = _dict(report.get("static"))
    return {
        "category": "file",
        "file": {
            "name": sample.get("name"),
            "path": None,
            "guest_paths": None,
            "type": sample.get("type") or static.get("type") or "",
            "size": sample.get("size"),
            "md5": sample.get("md5"),
            "sha1": sample.get("sha1"),
            "sha256": sample.get("sha256"),
            "sha512": None,
            "crc32": None,
            "ssdeep": static.get("ssdeep"),
            "mime": static.get("mime"),
            "yara": _yara(static.get("yara")),
            "urls": _list(_dict(static.get("strings")).get("urls")),
        },
    }


def _dropped(report: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for entry in (_dict(d) for d in _list(report.get("dropped"))):
        static = _dict(entry.get("static"))
        path = str(entry.get("path") or "")
        found.append(
            {
                "name": posixpath.basename(path) or path,
                "path": path,
                "guest_paths": [path],
                "size": entry.get("size"),
                "md5": entry.get("md5"),
                "sha1": entry.get("sha1"),
                "sha256": entry.get("sha256"),
                "sha512": None,
                "crc32": None,
                "ssdeep": static.get("ssdeep"),
                "type": static.get("type") or "",
                "yara": _yara(static.get("yara")),
                "pid": entry.get("pid"),
                "truncated": bool(entry.get("truncated")),
                "error": entry.get("error"),
            }
        )
    return found


def _static(report: dict[str, Any]) -> dict[str, Any]:
    static = _dict(report.get("static"))
    keep = ("elf", "pe", "script", "strings", "entropy", "mime", "type", "errors")
    return {key: static.get(key) for key in keep if key in static}


# --- the whole report ------------------------------------------------------------------


def cuckoo_report(
    report: Mapping[str, Any], task: TaskView, number: int, version: str
) -> dict[str, Any]:
    """``report`` (our report.json, parsed) in the shape of a Cuckoo 2 / CAPE report."""
    data = dict(report)
    analysis = _dict(data.get("analysis"))
    executed = analysis.get("executed", True) is not False and data.get("verdict") != (
        "not executed"
    )
    score = data.get("score") if executed else None
    network = _network(_dict(data.get("network")))
    errors = [str(e) for e in _list(data.get("errors"))]
    if not executed:
        reason = analysis.get("not_executed_reason") or task.reason or "no reason recorded"
        errors.insert(0, f"the sample was not executed: {reason}")
    technique_names = _technique_names(data)
    shaped = {
        "info": {**_info(data, task, number, version), "score": score},
        "malscore": score,
        "malfamily": _malfamily(data),
        "signatures": [
            _signature(_dict(s), technique_names) for s in _list(data.get("signatures"))
        ],
        "ttps": _ttps(data),
        "target": _target(data),
        "network": network,
        "behavior": _behavior(data, network),
        "dropped": _dropped(data),
        "static": _static(data),
        "debug": {"log": "", "errors": errors, "action": []},
        "aasee": {
            "task_id": task.id,
            "verdict": data.get("verdict"),
            "score": score,
            "executed": executed,
            "not_executed_reason": None if executed else analysis.get("not_executed_reason"),
            "score_details": data.get("score_details"),
            "schema_version": data.get("schema_version"),
            "report": f"/api/v1/tasks/{task.id}/report",
            "truncated_lists": sorted(_dict(data.get("paged"))),
        },
    }
    return shaped


def lite_report(shaped: Mapping[str, Any]) -> dict[str, Any]:
    """CAPE's ``litereport``: the keys its default configuration copies, and our verdict."""
    lite = {key: shaped[key] for key in LITE_KEYS if key in shaped}
    lite["malfamily"] = shaped.get("malfamily", "")
    lite["aasee"] = shaped.get("aasee", {})
    return lite
