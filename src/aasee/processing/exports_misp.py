"""A report as a MISP event (the JSON that MISP's event import and PyMISP read).

Owns the mapping to MISP's vocabulary: the verdict sets ``threat_level_id`` (undefined for a
sample that was not executed: that run says nothing either way); the sample's
hashes are "Payload delivery", dropped files "Artifacts dropped", network observables
"Network activity"; ATT&CK techniques become galaxy tags. UUIDs are derived from content
(uuid5), so exporting the same report twice gives the same event and MISP merges rather
than duplicates it.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from .exports_iocs import FileHashes, Indicators, Observable, collect_indicators
from .models import Report
from .text import printable

__all__ = ["MISP_NAMESPACE", "THREAT_LEVELS", "attack_tag", "misp_event"]

MISP_NAMESPACE = uuid.UUID("0b1c6c53-6f3e-5d0e-9a57-61a5ee0d3f10")
"""uuid5 namespace of every UUID in AASEE's MISP events."""

THREAT_LEVELS = {
    "malicious": "1",
    "suspicious": "2",
    "benign": "3",
    "not executed": "4",
    None: "4",
}
"""MISP threat levels: 1 high, 2 medium, 3 low, 4 undefined."""

_ANALYSIS_COMPLETED = "2"
_DISTRIBUTION_ORGANISATION = "0"
_DISTRIBUTION_INHERIT = "5"
_TECHNIQUE_ID = re.compile(r"T[0-9]{4}(?:\.[0-9]{3})?")
_NETWORK_TYPES = {
    "domain": "domain",
    "hostname": "hostname",
    "ip": "ip-dst",
    "url": "url",
    "user-agent": "user-agent",
}


def attack_tag(technique_id: str, name: str) -> str | None:
    """The MISP galaxy tag of an ATT&CK technique, e.g.
    ``misp-galaxy:mitre-attack-pattern="Cron - T1053.003"`` (sub-techniques by their own
    name, as the galaxy spells them)."""
    if not _TECHNIQUE_ID.fullmatch(technique_id):
        return None
    if "." in technique_id and ": " in name:
        name = name.rsplit(": ", 1)[1]
    clean = printable(name, 120).replace('"', "'")
    return f'misp-galaxy:mitre-attack-pattern="{clean} - {technique_id}"'


def _date(report: Report) -> str | None:
    for value in (report.analysis.started, report.analysis.ended):
        if value:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()
            except ValueError:
                continue
    return None


class _Event:
    def __init__(self, event_uuid: uuid.UUID) -> None:
        self.uuid = event_uuid
        self.attributes: list[dict[str, Any]] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, kind: str, category: str, value: str, to_ids: bool, comment: str) -> None:
        if (kind, value) in self._seen:
            return
        self._seen.add((kind, value))
        self.attributes.append(
            {
                "uuid": str(uuid.uuid5(self.uuid, f"{kind}|{value}")),
                "type": kind,
                "category": category,
                "value": value,
                "to_ids": to_ids,
                "distribution": _DISTRIBUTION_INHERIT,
                "comment": comment,
            }
        )


def _file(event: _Event, item: FileHashes) -> None:
    category = "Payload delivery" if item.role == "sample" else "Artifacts dropped"
    for kind, value in (("md5", item.md5), ("sha1", item.sha1), ("sha256", item.sha256)):
        event.add(kind, category, value.lower(), item.detect, item.comment)
    if item.ssdeep:
        event.add("ssdeep", category, item.ssdeep, item.detect, item.comment)
    name = printable(item.path, 1024)
    # "|" separates the parts of a composite value: such a name can only go on its own.
    if "|" in name:
        event.add("filename", category, name, False, item.comment)
    else:
        event.add(
            "filename|sha256", category, f"{name}|{item.sha256.lower()}", item.detect, item.comment
        )


def _network(event: _Event, item: Observable) -> None:
    event.add(_NETWORK_TYPES[item.kind], "Network activity", item.value, item.detect, item.comment)


def misp_event(report: Report, indicators: Indicators | None = None) -> dict[str, Any]:
    """The report as ``{"Event": {...}}`` in MISP's JSON format."""
    found = indicators if indicators is not None else collect_indicators(report)
    sample = report.sample
    event = _Event(uuid.uuid5(MISP_NAMESPACE, f"{report.analysis.id}|{sample.sha256}"))
    for item in found.files:
        _file(event, item)
    for observable in found.observables:
        _network(event, observable)
    tags = []
    for technique in report.attack.techniques:
        tag = attack_tag(technique.id, technique.name)
        if tag is not None and {"name": tag} not in tags:
            tags.append({"name": tag})
    verdict = report.verdict
    score = "" if report.score is None else f", score {report.score:.1f}/10"
    if not report.analysis.executed or verdict == "not executed":
        reason = report.analysis.not_executed_reason
        outcome = "not executed" + (f" ({printable(reason, 200)})" if reason else "")
    else:
        outcome = f"{verdict or 'no verdict'}{score}"
    body: dict[str, Any] = {
        "uuid": str(event.uuid),
        "info": f"AASEE analysis of {printable(sample.name, 120)}: {outcome}",
        "threat_level_id": THREAT_LEVELS.get(verdict, "4"),
        "analysis": _ANALYSIS_COMPLETED,
        "distribution": _DISTRIBUTION_ORGANISATION,
        "published": False,
        "Attribute": event.attributes,
        "Tag": tags,
    }
    date = _date(report)
    if date is not None:
        body["date"] = date
    return {"Event": body}
