"""A report as a STIX 2.1 bundle, built and checked by the ``stix2`` library.

Owns the mapping to STIX: one ``malware-analysis`` (product ``aasee``, result = verdict;
``unknown`` for a sample that was not executed, which the result vocabulary has no word for
and which must never read as benign) whose ``sample_ref`` is the sample's ``file`` and whose
``analysis_sco_refs`` list what the run observed (dropped files, domain names, addresses,
URLs). Unless the verdict is benign or the sample was not executed,
the sample is also a ``malware`` (not a family) that ``uses`` one ``attack-pattern`` per
ATT&CK technique and is ``indicated`` by STIX-pattern indicators for its hashes and the
infrastructure it contacted. Which facts become indicators is
:mod:`aasee.processing.exports_iocs`'s decision.

Every id is deterministic: SCOs get the spec's uuid5 ids from the library, the other
objects uuid5 ids from their content under this analysis, and timestamps come from the
report, so re-exporting the same report gives the same bundle byte for byte.
"""

from __future__ import annotations

import json
import posixpath
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from stix2 import v21  # type: ignore[import-untyped]

from .. import __version__
from .exports_iocs import FileHashes, Indicators, Observable, collect_indicators
from .models import Report
from .signatures.models import AttackTechnique
from .text import printable

__all__ = ["STIX_NAMESPACE", "pattern_literal", "stix_bundle", "stix_objects"]

STIX_NAMESPACE = uuid.UUID("6d1b3c8e-2a4f-5b7d-9e0c-a5ee57150021")
"""uuid5 namespace of AASEE's STIX SDO/SRO ids (SCOs use the spec's own namespace)."""

_PRODUCT_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
"""created/modified of objects that do not depend on one analysis (identity, techniques)."""

_HASH_NAMES = (("md5", "MD5"), ("sha1", "SHA-1"), ("sha256", "SHA-256"))
_INDICATOR_TYPES = {"malicious": "malicious-activity", "suspicious": "anomalous-activity"}
# STIX's malware-result vocabulary: malicious, suspicious, benign, unknown.
_RESULTS = {"malicious": "malicious", "suspicious": "suspicious", "benign": "benign"}


def pattern_literal(value: str) -> str:
    """``value`` as a STIX pattern string literal (quotes and backslashes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sid(kind: str, *parts: object) -> str:
    return f"{kind}--{uuid.uuid5(STIX_NAMESPACE, '|'.join(str(p) for p in (kind, *parts)))}"


def _moment(report: Report) -> datetime:
    """When the analysis happened, from the report (never the export's own clock)."""
    analysis = report.analysis
    for value in (analysis.ended, analysis.started):
        if value:
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if analysis.clock is not None:
        return datetime.fromtimestamp(analysis.clock.epoch, UTC)
    return _PRODUCT_EPOCH


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _file(item: FileHashes) -> tuple[v21.File, list[Any]]:
    hashes = {stix: getattr(item, attr) for attr, stix in _HASH_NAMES}
    if item.ssdeep:
        hashes["SSDEEP"] = item.ssdeep
    extra: list[Any] = []
    properties: dict[str, Any] = {"hashes": hashes, "size": item.size}
    if item.role == "dropped":
        directory, name = posixpath.split(item.path)
        properties["name"] = printable(name or item.path, 1024)
        if directory:
            folder = v21.Directory(path=printable(directory, 4096))
            extra.append(folder)
            properties["parent_directory_ref"] = folder.id
    else:
        properties["name"] = printable(item.path, 1024)
    if item.mime and "/" in item.mime and len(item.mime) < 128:
        properties["mime_type"] = item.mime
    return v21.File(**properties), extra


def _observable(item: Observable) -> Any | None:
    if item.kind in ("domain", "hostname"):
        return v21.DomainName(value=item.value)
    if item.kind == "ip":
        cls = v21.IPv6Address if ":" in item.value else v21.IPv4Address
        return cls(value=item.value)
    if item.kind == "url":
        return v21.URL(value=item.value)
    return None  # user agents have no SCO of their own outside an HTTP request


def _pattern(item: Observable) -> str | None:
    if item.kind in ("domain", "hostname"):
        return f"[domain-name:value = {pattern_literal(item.value)}]"
    if item.kind == "ip":
        kind = "ipv6-addr" if ":" in item.value else "ipv4-addr"
        return f"[{kind}:value = {pattern_literal(item.value)}]"
    if item.kind == "url":
        return f"[url:value = {pattern_literal(item.value)}]"
    return None


def _attack_pattern(technique: AttackTechnique, creator: str) -> v21.AttackPattern:
    phases = [
        {"kill_chain_name": "mitre-attack", "phase_name": t.strip().lower().replace(" ", "-")}
        for t in technique.tactics
        if t.strip()
    ]
    reference: dict[str, str] = {"source_name": "mitre-attack", "external_id": technique.id}
    url = _technique_url(technique.id)
    if url is not None:
        reference["url"] = url
    return v21.AttackPattern(
        id=_sid("attack-pattern", "mitre-attack", technique.id),
        created=_PRODUCT_EPOCH,
        modified=_PRODUCT_EPOCH,
        created_by_ref=creator,
        name=printable(technique.name, 200) or technique.id,
        external_references=[reference],
        kill_chain_phases=phases or None,
    )


def _technique_url(technique_id: str) -> str | None:
    base, _, sub = technique_id.partition(".")
    if not (len(base) == 5 and base[0] == "T" and base[1:].isdigit()):
        return None
    if sub and not (len(sub) == 3 and sub.isdigit()):
        return None
    path = f"{base}/{sub}" if sub else base
    return f"https://attack.mitre.org/techniques/{path}"


def _relationship(source: str, kind: str, target: str, when: datetime, creator: str) -> Any:
    return v21.Relationship(
        id=_sid("relationship", source, kind, target),
        created=when,
        modified=when,
        created_by_ref=creator,
        source_ref=source,
        relationship_type=kind,
        target_ref=target,
    )


def _unique(objects: Iterable[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for obj in objects:
        seen.setdefault(obj.id, obj)
    return list(seen.values())


def stix_objects(report: Report, indicators: Indicators | None = None) -> list[Any]:
    """The bundle's objects (stix2 library instances), in a stable order."""
    found = indicators if indicators is not None else collect_indicators(report)
    when = _moment(report)
    scope = (report.analysis.id, report.sample.sha256)
    identity = v21.Identity(
        id=_sid("identity", "aasee"),
        created=_PRODUCT_EPOCH,
        modified=_PRODUCT_EPOCH,
        name="AASEE",
        identity_class="system",
        description="AASEE automated malware sandbox",
    )
    objects: list[Any] = [identity]
    sample_file = None
    dropped: list[Any] = []
    for item in found.files:
        sco, extra = _file(item)
        objects += extra
        objects.append(sco)
        if item.role == "sample":
            sample_file = sco
        else:
            dropped.append(sco)
    observed: list[Any] = []
    for observable in found.observables:
        # Strings are in the sample's static analysis, not what this run observed.
        sco = None if observable.static else _observable(observable)
        if sco is not None:
            observed.append(sco)
    observed = _unique(observed)
    objects += observed
    software = []
    analysis = report.analysis
    for name in (analysis.guest_image, analysis.hypervisor):
        software.append(v21.Software(name=printable(name, 200)) if name else None)
    objects += [s for s in software if s is not None]

    analysis_properties: dict[str, Any] = {
        "id": _sid("malware-analysis", *scope),
        "created": when,
        "modified": when,
        "created_by_ref": identity.id,
        "product": "aasee",
        "version": __version__,
        "result": _RESULTS.get(report.verdict or "", "unknown"),
        "analysis_sco_refs": [o.id for o in _unique([*dropped, *observed])] or None,
        "sample_ref": sample_file.id if sample_file is not None else None,
        "operating_system_ref": software[0].id if software[0] is not None else None,
        "host_vm_ref": software[1].id if software[1] is not None else None,
        "analysis_started": _parse_time(analysis.started),
        "analysis_ended": _parse_time(analysis.ended),
        "external_references": [{"source_name": "aasee", "external_id": analysis.id}],
    }
    malware_analysis = v21.MalwareAnalysis(
        **{k: v for k, v in analysis_properties.items() if v is not None}
    )
    objects.append(malware_analysis)
    if not found.actionable:
        return objects

    malware = v21.Malware(
        id=_sid("malware", *scope),
        created=when,
        modified=when,
        created_by_ref=identity.id,
        name=printable(report.sample.name, 200) or report.sample.sha256,
        is_family=False,
        malware_types=["unknown"],
        sample_refs=[sample_file.id] if sample_file is not None else None,
    )
    objects.append(malware)
    objects.append(
        _relationship(malware_analysis.id, "dynamic-analysis-of", malware.id, when, identity.id)
    )
    indicator_type = _INDICATOR_TYPES.get(report.verdict or "", "unknown")
    for item in found.files:
        if not item.detect:
            continue
        label = "the sample" if item.role == "sample" else printable(item.path, 200)
        indicator = v21.Indicator(
            id=_sid("indicator", *scope, "sha256", item.sha256),
            created=when,
            modified=when,
            created_by_ref=identity.id,
            name=f"SHA-256 of {label}",
            indicator_types=[indicator_type],
            pattern=f"[file:hashes.'SHA-256' = {pattern_literal(item.sha256)}]",
            pattern_type="stix",
            valid_from=when,
        )
        objects += [
            indicator,
            _relationship(indicator.id, "indicates", malware.id, when, identity.id),
        ]
    for observable in found.observables:
        pattern = _pattern(observable)
        if pattern is None or not observable.detect:
            continue
        indicator = v21.Indicator(
            id=_sid("indicator", *scope, pattern),
            created=when,
            modified=when,
            created_by_ref=identity.id,
            name=f"{observable.kind} {printable(observable.value, 200)}",
            description=observable.comment,
            indicator_types=[indicator_type],
            pattern=pattern,
            pattern_type="stix",
            valid_from=when,
        )
        objects += [
            indicator,
            _relationship(indicator.id, "indicates", malware.id, when, identity.id),
        ]
    for technique in report.attack.techniques:
        attack_pattern = _attack_pattern(technique, identity.id)
        objects += [
            attack_pattern,
            _relationship(malware.id, "uses", attack_pattern.id, when, identity.id),
        ]
    return _unique(objects)


def stix_bundle(report: Report, indicators: Indicators | None = None) -> dict[str, Any]:
    """The report as a STIX 2.1 bundle (JSON-ready dict)."""
    objects = stix_objects(report, indicators)
    bundle_id = f"bundle--{uuid.uuid5(STIX_NAMESPACE, '|'.join(o.id for o in objects))}"
    bundle = v21.Bundle(objects=objects, id=bundle_id)
    data: dict[str, Any] = json.loads(bundle.serialize())
    return data
