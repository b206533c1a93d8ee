"""The plugin that says where each artefact of the run is, and what memory held.

``evidence`` lists the files of the results directory (path, kind, size, SHA-256), reads the
manifests the evidence hooks left (``memory/manifest.json``, ``screenshots/manifest.json``)
and scans each memory dump for URLs, domain names and IPv4 addresses (see
:mod:`aasee.processing.memory_strings`). Of those it reports the ones nothing in the trace or
the capture showed (command lines, paths, DNS names, HTTP requests, TLS names, addresses)
and, when the run was restored from a ready snapshot, that the clean guest's memory did not
already hold either. It runs after ``behaviour``, ``capture`` and ``fakenet``, whose sections
it compares with.

The manifests are written by the host, but they are read again from storage by a reprocess:
they are read bounded and type-checked, and a file is only pointed to inside its own folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from aasee.hooks.memory_dump import DUMP_DIR
from aasee.hooks.memory_dump import MANIFEST as MEMORY_MANIFEST
from aasee.hooks.screenshots import FRAME_DIR
from aasee.hooks.screenshots import MANIFEST as SCREENSHOTS_MANIFEST

from ..clock import iso_utc
from ..memory_strings import Indicators, indicators_in, scan_dump
from ..models import (
    ArtefactFile,
    MemoryDump,
    MemoryIndicator,
    MemoryStrings,
    RunEvidence,
    Screenshot,
    Screenshots,
)
from ..run_meta import SAMPLE_COPY
from ..text import clean_text
from .base import Plugin, ProcessingContext

__all__ = [
    "KINDS",
    "MAX_ARTEFACTS",
    "MAX_INDICATORS",
    "MEMORY_MANIFEST",
    "SCREENSHOTS_MANIFEST",
    "EvidencePlugin",
    "file_sha256",
]

logger = logging.getLogger(__name__)

MAX_ARTEFACTS = 1000
MAX_INDICATORS = 200
"""Values reported per kind (URLs, domains, addresses); the rest are counted."""
MAX_MANIFEST = 8 << 20
MAX_DUMPS = 16
MAX_FRAMES = 5000
MAX_BASELINE = 64 << 30
KINDS: Mapping[str, str] = {
    "trace.log": "kernel trace",
    "network.pcap": "packet capture (host side)",
    "fakenet.jsonl": "fake internet log",
    "console.log": "guest console log",
    "stdout.txt": "sample standard output",
    "stderr.txt": "sample standard error",
    "sample.bin": "sample",
    "run.json": "run record",
    "analysis.log": "analysis log",
    "disk_diff.json": "host-side disk diff",
    MEMORY_MANIFEST: "memory dump list",
    SCREENSHOTS_MANIFEST: "screenshot list",
}
# The reports, and the analysis log, which grows while the report is built (listing its size
# would make a reprocessed report differ from the first).
NOT_LISTED = frozenset({"report.json", "report.html", "analysis.log"})
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class EvidencePlugin(Plugin):
    name = "evidence"
    after = ("behaviour", "capture", "fakenet")
    generates = ("evidence",)

    def run(self, context: ProcessingContext) -> None:
        folder = _results_dir(context)
        if folder is None:
            return
        evidence = RunEvidence()
        # Hashes already known are not computed again: the sample's, those the hooks recorded.
        hashes: dict[str, str] = {}
        sample = folder / SAMPLE_COPY
        if (
            context.sample.sha256
            and sample.is_file()
            and sample.stat().st_size == context.sample.size
        ):
            hashes[SAMPLE_COPY] = context.sample.sha256
        for name, future in context.digests.items():
            # Computed while the other plugins ran (see the pipeline); if that failed, the
            # listing hashes the file itself and reports what goes wrong.
            try:
                hashes[name] = future.result()
            except Exception:
                logger.debug("background hash of %s failed", name, exc_info=True)
        memory = _manifest(folder, MEMORY_MANIFEST, evidence.errors)
        if memory is not None:
            evidence.memory_dumps = _dumps(folder, memory, evidence.errors)
            hashes.update((d.path, d.sha256) for d in evidence.memory_dumps if d.sha256)
        shots = _manifest(folder, SCREENSHOTS_MANIFEST, evidence.errors)
        if shots is not None:
            evidence.screenshots = _screenshots(folder, shots, evidence.errors)
            hashes.update((f.path, f.sha256) for f in evidence.screenshots.frames if f.sha256)
        evidence.artefacts = _listing(folder, hashes, evidence.errors)
        if evidence.memory_dumps:
            baseline = memory.get("baseline_state") if memory is not None else None
            evidence.memory_strings = _memory_strings(
                context, folder, evidence.memory_dumps, baseline, evidence.errors
            )
        context.errors.extend(f"evidence: {error}" for error in evidence.errors[:20])
        context.evidence = evidence


def _results_dir(context: ProcessingContext) -> Path | None:
    # Every artefact the pipeline found is a file of the one results directory (or of a folder
    # in it, like dropped/manifest.json).
    for name, path in context.artefacts.items():
        depth = len(Path(name).parts)
        return path.parents[depth - 1]
    return None


def _manifest(folder: Path, name: str, errors: list[str]) -> dict[str, Any] | None:
    path = folder / name
    if not path.is_file() or path.is_symlink():
        return None
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_MANIFEST + 1)
        if len(data) > MAX_MANIFEST:
            raise ValueError(f"larger than {MAX_MANIFEST} bytes")
        document = json.loads(data)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        errors.append(f"{name} unreadable: {exc}")
        return None
    for error in _list(document.get("errors"))[:50]:
        if isinstance(error, str):
            errors.append(clean_text(error)[:500])
    return document


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any, limit: int = 200) -> str | None:
    return clean_text(value)[:limit] if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _member(folder: Path, directory: str, value: Any) -> str | None:
    """``value`` if it names a regular file directly inside ``folder/directory``."""
    if not isinstance(value, str):
        return None
    parent, _, name = value.partition("/")
    if parent != directory or not _SAFE_NAME.match(name):
        return None
    path = folder / directory / name
    if not path.is_file() or path.is_symlink():
        return None
    return value


def _entries(
    folder: Path, listed: list[Any], directory: str, what: str, errors: list[str]
) -> Iterator[tuple[dict[str, Any], str, str | None, float | None]]:
    """The manifest entries whose file is there: (entry, path, well-formed sha256, time)."""
    manifests = {DUMP_DIR: MEMORY_MANIFEST, FRAME_DIR: SCREENSHOTS_MANIFEST}
    for entry in listed:
        if not isinstance(entry, dict):
            continue
        path = _member(folder, directory, entry.get("file"))
        if path is None:
            errors.append(f"a {what} listed in {manifests[directory]} is missing")
            continue
        sha256 = entry.get("sha256")
        digest = sha256 if isinstance(sha256, str) and _SHA256.match(sha256) else None
        yield entry, path, digest, _number(entry.get("time"))


def _dumps(folder: Path, document: Mapping[str, Any], errors: list[str]) -> list[MemoryDump]:
    dumps = []
    listed = _list(document.get("dumps"))[:MAX_DUMPS]
    for entry, path, sha256, when in _entries(folder, listed, DUMP_DIR, "memory dump", errors):
        dumps.append(
            MemoryDump(
                path=path,
                event=_text(entry.get("event")) or "unknown",
                time_epoch=when,
                time_utc=iso_utc(when),
                format=_text(entry.get("format"), 20) or "unknown",
                elf_type=_text(entry.get("elf_type"), 20),
                compression=_text(entry.get("compression"), 20),
                raw_bytes=_count(entry.get("raw_bytes")),
                bytes=(folder / path).stat().st_size,
                sha256=sha256,
                dump_seconds=_number(entry.get("dump_seconds")),
                compress_seconds=_number(entry.get("compress_seconds")),
            )
        )
    return dumps


def _screenshots(folder: Path, document: Mapping[str, Any], errors: list[str]) -> Screenshots:
    frames = []
    listed = _list(document.get("frames"))[:MAX_FRAMES]
    for entry, path, sha256, when in _entries(folder, listed, FRAME_DIR, "screenshot", errors):
        frames.append(
            Screenshot(
                path=path,
                time_epoch=when,
                time_utc=iso_utc(when),
                offset=_number(entry.get("offset")),
                reason=_text(entry.get("reason"), 100) or "unknown",
                width=_count(entry.get("width")),
                height=_count(entry.get("height")),
                bytes=(folder / path).stat().st_size,
                sha256=sha256,
            )
        )
    return Screenshots(
        display=document.get("display") is True,
        interval=_number(document.get("interval")),
        taken=_count(document.get("taken")),
        unchanged=_count(document.get("unchanged")),
        truncated=document.get("truncated") is True,
        frames=frames,
    )


def _files(folder: Path) -> Iterator[tuple[str, Path]]:
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name in NOT_LISTED or entry.is_symlink():
            continue
        if entry.is_file():
            yield entry.name, entry
        elif entry.is_dir() and entry.name in (DUMP_DIR, FRAME_DIR):
            for inner in sorted(entry.iterdir(), key=lambda p: p.name):
                if inner.is_file() and not inner.is_symlink() and not inner.name.startswith("."):
                    yield f"{entry.name}/{inner.name}", inner


def _kind(name: str) -> str:
    if name in KINDS:
        return KINDS[name]
    if name.startswith(f"{DUMP_DIR}/"):
        return "memory dump (ELF core, gzip)" if name.endswith(".elf.gz") else "memory dump"
    if name.startswith(f"{FRAME_DIR}/"):
        return "screenshot (PNG)" if name.endswith(".png") else "screenshot"
    return "file"


def _listing(folder: Path, known: Mapping[str, str], errors: list[str]) -> list[ArtefactFile]:
    listed: list[ArtefactFile] = []
    for name, path in _files(folder):
        if len(listed) >= MAX_ARTEFACTS:
            errors.append(f"more than {MAX_ARTEFACTS} files in the results: the rest not listed")
            break
        try:
            size = path.stat().st_size
            digest = known.get(name)
            if digest is None:
                digest = file_sha256(path)
        except OSError as exc:
            errors.append(f"{name}: {exc.strerror or exc}")
            continue
        listed.append(
            ArtefactFile(path=clean_text(name), kind=_kind(name), size=size, sha256=digest)
        )
    return listed


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- memory strings -------------------------------------------------------------------------
def _shown(context: ProcessingContext) -> Indicators:
    """What the trace and the capture showed: every text of the processes, files and network
    sections."""
    behaviour = context.behaviour
    if behaviour is None:
        return Indicators()
    sections = (
        [p.model_dump(mode="json") for p in behaviour.processes],
        behaviour.files.model_dump(mode="json"),
        behaviour.network.model_dump(mode="json"),
    )
    return indicators_in(text for section in sections for text in _strings(section))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if "." in value:
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


_BASELINES: dict[tuple[str, int, int], Indicators] = {}


def _baseline(value: Any, errors: list[str]) -> tuple[Indicators | None, str | None]:
    """The indicators of the clean guest's memory (a ready snapshot's saved state)."""
    if not isinstance(value, str) or not value.startswith("/"):
        return None, None
    path = Path(value)
    try:
        info = path.stat()
    except OSError:
        errors.append(f"the ready snapshot's state {value} is gone: memory strings unfiltered")
        return None, None
    if not path.is_file() or info.st_size > MAX_BASELINE:
        return None, None
    key = (value, info.st_size, int(info.st_mtime_ns))
    if key not in _BASELINES:
        found, _ = scan_dump(path)
        _BASELINES.clear()  # one snapshot per worker, as a rule: keep one
        _BASELINES[key] = found
    return _BASELINES[key], f"ready snapshot {path.parent.name}"


def _memory_strings(
    context: ProcessingContext,
    folder: Path,
    dumps: list[MemoryDump],
    baseline_state: Any,
    errors: list[str],
) -> MemoryStrings:
    start = time.perf_counter()
    section = MemoryStrings()
    counts: dict[str, Counter[str]] = {"urls": Counter(), "domains": Counter(), "ips": Counter()}
    where: dict[tuple[str, str], list[str]] = {}
    for dump in dumps:
        try:
            found, scanned = scan_dump(folder / dump.path)
        except (OSError, EOFError, ValueError) as exc:  # a truncated or corrupt gzip
            errors.append(f"memory dump {dump.path} unreadable: {exc}")
            continue
        section.dumps.append(dump.path)
        section.bytes_scanned += scanned
        if found.dropped:
            section.truncated = True
        for kind, counter in counts.items():
            for value, count in getattr(found, kind).items():
                counter[value] += count
                where.setdefault((kind, value), []).append(dump.path)
    shown = _shown(context)
    baseline, section.baseline = _baseline(baseline_state, errors)
    for kind, counter in counts.items():
        section.found[kind] = len(counter)
        in_trace = set(getattr(shown, kind))
        in_baseline = set(getattr(baseline, kind)) if baseline is not None else set()
        section.in_trace[kind] = len(counter.keys() & in_trace)
        section.in_baseline[kind] = len((counter.keys() - in_trace) & in_baseline)
        new = [
            (value, count)
            for value, count in counter.items()
            if value not in in_trace and value not in in_baseline
        ]
        new.sort(key=lambda item: (-item[1], item[0]))
        if len(new) > MAX_INDICATORS:
            section.truncated = True
        setattr(
            section,
            kind,
            [
                MemoryIndicator(
                    value=clean_text(value)[:500], count=count, dumps=where[(kind, value)][:16]
                )
                for value, count in new[:MAX_INDICATORS]
            ],
        )
    section.seconds = round(time.perf_counter() - start, 3)
    return section
