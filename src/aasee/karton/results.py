"""What a finished AASEE analysis hands to karton: its files, fetched, and its MWDB tags.

Owns ``fetch_results``: ``report.json`` (parsed), ``report.html``, ``network.pcap`` and the
dropped files of a reported task, copied from the service's storage into a local folder as
streams (only ``report.json`` is read whole, to be parsed), and the tags and comment that
describe a report in MWDB (``report_tags``, ``report_comment``).

Tags are valid MWDB tags (lowercase, no spaces; MWDB lowercases and strips what it gets):
``aasee:<verdict>`` (``aasee:malicious``, ``aasee:suspicious``, ``aasee:benign``, and
``aasee:not_executed`` for a sample the guest could not run, never ``benign``) and one
``aasee:<signature id>`` per matched signature (``aasee:persistence_cron``).
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from aasee.service.facade import ARTEFACTS, TaskService, TaskView
from aasee.service.storage import CHUNK, ObjectMissing, StorageError, task_prefix

__all__ = [
    "DROPPED_TAG",
    "TAG_PREFIX",
    "DroppedItem",
    "Results",
    "ResultsError",
    "fetch_results",
    "mwdb_tag",
    "report_comment",
    "report_tags",
    "report_verdict",
]

TAG_PREFIX = "aasee"
DROPPED_TAG = f"{TAG_PREFIX}:dropped"
MAX_TAGS = 100
MAX_TAG_PART = 100
MAX_MANIFEST_BYTES = 16 << 20
MAX_NAME_BYTES = 255
STORED_NAME = re.compile(r"^[0-9a-f]{64}$")


class ResultsError(Exception):
    """A task said ``reported`` but its results cannot be read; the message says which."""


@dataclass(frozen=True)
class DroppedItem:
    """One distinct content the sample wrote, copied to ``path``."""

    path: Path
    name: str
    """A display name: the last component of the first guest path it was found at."""
    sha256: str
    size: int
    guest_paths: tuple[str, ...]
    truncated: bool


@dataclass
class Results:
    """The files of one reported task, in a local folder the caller owns."""

    task: TaskView
    report: dict[str, Any]
    report_json: Path
    report_html: Path | None
    pcap: Path | None
    dropped: list[DroppedItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def fetch_results(service: TaskService, view: TaskView, folder: Path) -> Results:
    """Copy the results of reported task ``view`` into ``folder`` (which must exist)."""
    prefix = task_prefix(view.id)
    raw = service.report(view.id, "json")
    if raw is None:
        raise ResultsError(
            f"AASEE task {view.id} is reported but has no report.json in storage "
            f"({service.storage.description}); reprocess it (aasee reprocess, or the API)"
        )
    report_json = folder / "report.json"
    report_json.write_bytes(raw)
    try:
        report = json.loads(raw)
    except ValueError as exc:
        raise ResultsError(f"report.json of AASEE task {view.id} is not JSON: {exc}") from exc
    if not isinstance(report, dict):
        raise ResultsError(f"report.json of AASEE task {view.id} is not a JSON object")
    del raw
    report_html: Path | None = folder / "report.html"
    try:
        _write_chunks(folder / "report.html", service.storage.chunks(f"{prefix}/report.html"))
    except ObjectMissing:
        report_html = None
    except StorageError as exc:
        raise ResultsError(f"report.html of AASEE task {view.id}: {exc}") from exc
    pcap = None
    found = service.artefact(view.id, "pcap") if "pcap" in view.artefacts else None
    if found is not None:
        pcap = folder / "network.pcap"
        _write_chunks(pcap, found[1])
    results = Results(view, report, report_json, report_html, pcap)
    if "dropped" in view.artefacts:
        _fetch_dropped(service, view.id, folder / "dropped", results)
    return results


def _write_chunks(target: Path, chunks: Iterator[bytes]) -> None:
    with target.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)


def _fetch_dropped(service: TaskService, task_id: str, folder: Path, results: Results) -> None:
    key = f"{task_prefix(task_id)}/raw/{ARTEFACTS['dropped']}"  # as facade.artefact reads it
    folder.mkdir()
    with tempfile.TemporaryFile(dir=folder.parent) as spool:
        try:
            for chunk in service.storage.chunks(key):
                spool.write(chunk)
        except ObjectMissing:
            results.problems.append("the dropped files are listed but not in storage")
            return
        except StorageError as exc:
            raise ResultsError(f"dropped files of AASEE task {task_id}: {exc}") from exc
        spool.seek(0)
        manifest: Any = []
        stored: dict[str, Path] = {}
        try:
            with tarfile.open(fileobj=spool, mode="r:") as archive:
                for member in archive:
                    if not member.isreg():
                        continue
                    source = archive.extractfile(member)
                    if source is None:
                        continue
                    if member.name == "manifest.json":
                        manifest = json.loads(source.read(MAX_MANIFEST_BYTES + 1))
                    elif STORED_NAME.match(member.name) and member.size > 0:
                        target = folder / member.name
                        with target.open("wb") as out:
                            shutil.copyfileobj(source, out, CHUNK)
                        stored[member.name] = target
        except (tarfile.TarError, ValueError, OSError) as exc:
            results.problems.append(f"the dropped files archive is unreadable: {exc}")
            return
    results.dropped = _items(manifest if isinstance(manifest, list) else [], stored)


def _items(manifest: list[Any], stored: dict[str, Path]) -> list[DroppedItem]:
    """One item per distinct stored content, in manifest order (the payload first)."""
    paths: dict[str, list[str]] = {}
    truncated: dict[str, bool] = {}
    for entry in manifest:
        if not isinstance(entry, dict):
            continue
        name = entry.get("stored_as")
        if not isinstance(name, str) or name not in stored:
            continue
        path = entry.get("path")
        paths.setdefault(name, []).append(path if isinstance(path, str) else "")
        truncated[name] = truncated.get(name, False) or entry.get("truncated") is True
    for name in stored:  # stored but not in the manifest: still a dropped file
        paths.setdefault(name, [])
    items = []
    for name, guest_paths in paths.items():
        target = stored[name]
        items.append(
            DroppedItem(
                path=target,
                name=_display_name(guest_paths, name),
                sha256=name,
                size=target.stat().st_size,
                guest_paths=tuple(guest_paths),
                truncated=truncated.get(name, False),
            )
        )
    return items


def _display_name(guest_paths: Iterable[str], fallback: str) -> str:
    for path in guest_paths:
        base = PurePosixPath(path).name
        base = unicodedata.normalize("NFC", base)
        base = "".join(c for c in base if c.isprintable()).strip()
        base = base.encode()[:MAX_NAME_BYTES].decode(errors="ignore")
        if base and base not in (".", ".."):
            return base
    return fallback


def mwdb_tag(*parts: str) -> str:
    """``aasee:<parts joined by ':'>`` as a valid MWDB tag: lowercase, ``[a-z0-9_.-]`` runs."""
    cleaned = []
    for part in parts:
        text = re.sub(r"[^a-z0-9_.-]+", "_", part.strip().lower()).strip("_")
        cleaned.append(text[:MAX_TAG_PART] or "unknown")
    return ":".join([TAG_PREFIX, *cleaned])


def report_verdict(report: dict[str, Any]) -> str:
    """The report's verdict; ``not executed`` whenever the sample did not run."""
    analysis = report.get("analysis")
    if isinstance(analysis, dict) and analysis.get("executed") is False:
        return "not executed"  # whatever else the report says: never benign
    verdict = report.get("verdict")
    return verdict if isinstance(verdict, str) and verdict else "no verdict"


def report_tags(report: dict[str, Any]) -> list[str]:
    """The verdict tag, then one tag per matched signature (at most ``MAX_TAGS``)."""
    tags = [mwdb_tag(report_verdict(report))]
    signatures = report.get("signatures")
    for signature in signatures if isinstance(signatures, list) else []:
        if isinstance(signature, dict) and isinstance(signature.get("id"), str):
            tag = mwdb_tag(signature["id"])
            if tag not in tags:
                tags.append(tag)
    return tags[:MAX_TAGS]


def report_comment(report: dict[str, Any], task_id: str, report_url: str | None) -> str:
    """One line for MWDB: verdict, score, signatures, guest, where the report is."""
    verdict = report_verdict(report)
    analysis = report.get("analysis") if isinstance(report.get("analysis"), dict) else {}
    text = f"AASEE analysis {task_id}: verdict {verdict}"
    score = report.get("score")
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        text += f", score {score:g}/10"
    if analysis and analysis.get("executed") is False:
        reason = analysis.get("not_executed_reason") or "no reason recorded"
        text += f" (the sample was not executed: {str(reason)[:300]})"
    signatures = report.get("signatures")
    names = [
        str(s.get("name") or s.get("id"))
        for s in (signatures if isinstance(signatures, list) else [])
        if isinstance(s, dict)
    ]
    if names:
        shown = "; ".join(names[:10]) + (f"; and {len(names) - 10} more" if len(names) > 10 else "")
        text += f"; {len(names)} signature(s): {shown}"
    if analysis and analysis.get("arch"):
        text += f"; guest {analysis['arch']}"
    if report_url:
        text += f"; report: {report_url.rstrip('/')}/analyses/{task_id}"
    return text
