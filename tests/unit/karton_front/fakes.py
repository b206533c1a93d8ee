"""A stand-in for the AASEE service facade, and ELF images, for the karton unit tests.

``FakeService`` is a ``TaskService`` without database or queue: ``submit`` records what it
was given and ``get`` walks a scripted list of statuses, while the results are read by the
facade's own ``report`` and ``artefact`` from a real storage folder laid out as the workers
lay it out (``tasks/<id>/report.json``, ``raw/network.pcap``, ``raw/dropped.tar``).
"""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aasee.service.facade import SubmitOptions, TaskService, TaskView
from aasee.service.settings import Settings
from aasee.service.storage import Storage, task_prefix

PCAP = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")
PAYLOAD = b"#!/bin/sh\necho payload ran\n"
CRON = b"*/5 * * * * root /tmp/.cache-update\n"


def report(verdict: str = "malicious", executed: bool = True) -> dict[str, Any]:
    return {
        "verdict": verdict,
        "score": 8.5 if executed else None,
        "analysis": {
            "executed": executed,
            "not_executed_reason": None if executed else "its interpreter /bin/zsh is missing",
            "arch": "x86_64",
        },
        "signatures": [
            {"id": "persistence_cron", "name": "Installs a cron job"},
            {"id": "stealth_self_deletion", "name": "Deletes its own file"},
        ]
        if executed
        else [],
    }


@dataclass
class Submission:
    data: bytes
    filename: str
    options: SubmitOptions


@dataclass
class Script:
    """What the fake service does with the next submission."""

    statuses: list[str] = field(default_factory=lambda: ["pending", "running", "reported"])
    report: dict[str, Any] | None = field(default_factory=report)
    dropped: dict[str, bytes] = field(
        default_factory=lambda: {
            "/tmp/.cache-update.bak": PAYLOAD,
            "/etc/cron.d/cache-update": CRON,
            "/tmp/empty": b"",
        }
    )
    reason: str | None = None
    refuse: str | None = None


class FakeService(TaskService):
    def __init__(self, root: Path, **settings: Any) -> None:  # noqa: D107 - no database
        self.settings = Settings(home=root / "home", **settings)
        self.storage = Storage.from_url(f"file://{root / 'storage'}")
        self.submissions: list[Submission] = []
        self.script = Script()
        self.views: dict[str, list[TaskView]] = {}
        self.gets = 0

    def close(self) -> None:
        pass

    def submit(
        self, data: bytes, filename: str, options: SubmitOptions, *, force: bool = False
    ) -> TaskView:
        self.submissions.append(Submission(data, filename, options))
        if self.script.refuse:
            raise ValueError(self.script.refuse)
        task_id = str(uuid.uuid4())
        prefix = task_prefix(task_id)
        self.storage.put_bytes(f"{prefix}/sample.bin", data)
        artefacts = []
        if self.script.report is not None:
            self.storage.put_bytes(f"{prefix}/report.json", json.dumps(self.script.report).encode())
            self.storage.put_bytes(f"{prefix}/report.html", b"<html>report</html>")
            self.storage.put_bytes(f"{prefix}/raw/network.pcap", PCAP)
            artefacts.append("pcap")
        if self.script.dropped:
            self._store_dropped(prefix, self.script.dropped)
            artefacts.append("dropped")
        self.views[task_id] = [
            self._view(task_id, data, filename, options, status, artefacts)
            for status in self.script.statuses
        ]
        return self.views[task_id][0]

    def _store_dropped(self, prefix: str, files: dict[str, bytes]) -> None:
        tree = Path(self.settings.home) / "tree" / prefix
        store = tree / "dropped"
        store.mkdir(parents=True)
        manifest = []
        for path, content in files.items():
            digest = hashlib.sha256(content).hexdigest()
            (store / digest).write_bytes(content)
            manifest.append(
                {
                    "path": path,
                    "size": len(content),
                    "collected": len(content),
                    "truncated": False,
                    "sha256": digest,
                    "stored_as": digest,
                }
            )
        (store / "manifest.json").write_text(json.dumps(manifest))
        self.storage.put_tree(f"{prefix}/raw", tree)

    def _view(
        self,
        task_id: str,
        data: bytes,
        filename: str,
        options: SubmitOptions,
        status: str,
        artefacts: list[str],
    ) -> TaskView:
        now = datetime.now(UTC)
        verdict = (self.script.report or {}).get("verdict") if status == "reported" else None
        return TaskView(
            id=task_id,
            sha256=hashlib.sha256(data).hexdigest(),
            filename=filename,
            size=len(data),
            status=status,  # type: ignore[arg-type]
            substatus=None,
            reason=self.script.reason if status == "failed" else None,
            options=options,
            created=now,
            started=None,
            finished=None,
            attempts=1,
            worker=None,
            verdict=verdict,
            score=None,
            arch="x86_64",
            progress=None,
            artefacts=artefacts if status == "reported" else [],
        )

    def get(self, task_id: str) -> TaskView | None:
        self.gets += 1
        views = self.views.get(task_id)
        if not views:
            return None
        if len(views) > 1:
            views.pop(0)
        return views[0]


def elf(osabi: int = 0, e_type: int = 2, note: bytes | None = None) -> bytes:
    """A small x86-64 ELF image: header, one PT_NOTE program header if ``note`` is given."""
    phnum = 1 if note is not None else 0
    header = b"\x7fELF" + bytes([2, 1, 1, osabi]) + bytes(8)
    header += struct.pack(
        "<HHIQQQIHHHHHH", e_type, 62, 1, 0x401000, 64 if phnum else 0, 0, 0, 64, 56, phnum, 64, 0, 0
    )
    body = b""
    if note is not None:
        offset = 64 + 56
        body = struct.pack("<IIQQQQQQ", 4, 4, offset, offset, offset, len(note), len(note), 4)
        body += note
    return header + body + bytes(64)


def note(owner: str, kind: int = 1, desc: bytes = b"\0\0\0\0") -> bytes:
    name = owner.encode() + b"\0"
    padded = name + bytes(-len(name) % 4)
    return struct.pack("<III", len(name), len(desc), kind) + padded + desc
