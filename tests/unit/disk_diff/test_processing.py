"""disk_diff.json read as hostile input, joined with the trace, shown in the report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from aasee.processing.behaviour import Behaviour
from aasee.processing.disk_diff import MAX_CHANGES, read_disk_diff
from aasee.processing.html import render_html
from aasee.processing.models import (
    AnalysisMeta,
    FileAccess,
    FileChmod,
    FileRename,
    Files,
    Network,
    Sample,
    Syscalls,
)
from aasee.processing.pipeline import run_plugins
from aasee.processing.plugins.base import ProcessingContext
from aasee.processing.plugins.disk import DiskPlugin
from aasee.processing.report import report_dict, validate_report
from aasee.processing.summary import summarize

CRON = b"* * * * * root /tmp/.x\n"
CRON_SHA = hashlib.sha256(CRON).hexdigest()


def entry(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "path": "/etc/cron.d/job",
        "change": "created",
        "type": "file",
        "inode": 40,
        "size": len(CRON),
        "mode": "0644",
        "uid": 0,
        "gid": 0,
        "mtime": "2030-01-01T00:00:00.000000000Z",
        "ctime": "2030-01-01T00:00:00.000000000Z",
        "links": 1,
        "attributes": "",
        "target": None,
        "device": None,
        "sha256": CRON_SHA,
        "content": CRON_SHA,
        "changed": [],
        "before": None,
        "notes": [],
        "sample": False,
    }
    base.update(fields)
    return base


def document(entries: list[Any], **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "method": "fuse",
        "seconds": 0.4,
        "complete": True,
        "truncated": False,
        "overlay_bytes": 65536,
        "journal": {"overlay": "replayed", "base": "clean"},
        "counts": {},
        "ignored": 2,
        "errors": [],
        "entries": entries,
    }
    data.update(fields)
    return data


def write(
    folder: Path, data: dict[str, Any] | str, contents: dict[str, bytes] | None = None
) -> Path:
    path = folder / "disk_diff.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    for name, content in (contents or {}).items():
        (folder / "disk_diff").mkdir(exist_ok=True)
        (folder / "disk_diff" / name).write_bytes(content)
    return path


def test_valid_entries_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, document([entry()]), {CRON_SHA: CRON})
    diff = read_disk_diff(path)
    (change,) = diff.changes
    assert change.stored_as == CRON_SHA and change.path == "/etc/cron.d/job"
    assert diff.counts["created"] == 1 and diff.ignored == 2 and diff.method == "fuse"
    assert diff.complete and diff.errors == []


@pytest.mark.parametrize(
    "bad",
    [
        {"path": 7},
        {"change": "pwned"},
        {"type": "door"},
        {"mode": "99999"},
        {"size": -1},
        {"uid": True},
        {"sha256": "zz"},
        {"mtime": "yesterday"},
        {"device": "1:1; rm -rf /"},
        {"before": {"path": "/x"}},
        {"notes": "not a list"},
    ],
)
def test_malformed_entries_are_dropped_and_counted(tmp_path: Path, bad: dict[str, Any]) -> None:
    path = write(tmp_path, document([entry(), entry(**bad), "not an object"]))
    diff = read_disk_diff(path)
    assert len(diff.changes) == 1
    assert diff.errors == ["2 malformed entries of disk_diff.json were dropped"]
    assert diff.complete is False


def test_content_is_pointed_to_only_when_it_is_there(tmp_path: Path) -> None:
    other = "a" * 64
    entries = [
        entry(path="/a", content="../../etc/passwd"),
        entry(path="/b", sha256=other, content=other),  # no such stored file
        entry(path="/c"),
    ]
    (tmp_path / "disk_diff").mkdir()
    (tmp_path / "disk_diff" / other).symlink_to("/etc/passwd")
    diff = read_disk_diff(write(tmp_path, document(entries), {CRON_SHA: CRON}))
    stored = {c.path: c.stored_as for c in diff.changes}
    assert stored == {"/a": None, "/b": None, "/c": CRON_SHA}
    assert "its stored content is missing" in diff.changes[0].notes


def test_hostile_strings_are_bounded_and_clean(tmp_path: Path) -> None:
    long = "/" + "x" * 100_000
    entries = [entry(path=long, notes=["n" * 10_000] * 1000), entry(path="/bad\udcff")]
    text = json.dumps(document(entries, seconds=float("nan")))
    diff = read_disk_diff(write(tmp_path, text))
    first, second = diff.changes
    assert first.path is not None and len(first.path) <= 8193
    assert len(first.notes) <= 21 and all(len(n) <= 501 for n in first.notes)
    assert second.path == "/bad\\xff"
    assert diff.seconds is None


@pytest.mark.parametrize(
    "text", ["", "[]", "{", '{"version": 2, "entries": []}', '{"version": 1, "entries": 5}']
)
def test_unusable_files_are_refused(tmp_path: Path, text: str) -> None:
    context = _context(tmp_path, text)
    run_plugins(context, [DiskPlugin()])
    assert context.filesystem is None
    assert any("disk diff unusable" in e for e in context.errors)


def test_entries_beyond_the_limit_are_cut(tmp_path: Path) -> None:
    entries = [entry(path=f"/f{i}", content=None) for i in range(MAX_CHANGES + 5)]
    diff = read_disk_diff(write(tmp_path, document(entries)))
    assert len(diff.changes) == MAX_CHANGES and diff.truncated
    assert diff.counts["created"] == MAX_CHANGES


def _context(
    folder: Path, data: dict[str, Any] | str, files: Files | None = None
) -> ProcessingContext:
    path = write(folder, data, {CRON_SHA: CRON})
    context = ProcessingContext(
        sample=Sample(name="s", size=1, md5="0" * 32, sha1="0" * 40, sha256="0" * 64),
        analysis=AnalysisMeta(id="a1"),
        artefacts={"disk_diff.json": path},
    )
    context.behaviour = Behaviour(
        processes=[],
        process_tree=[],
        files=files or Files(),
        network=Network(),
        syscalls=Syscalls(),
        root=None,
        pre_exec_dropped=0,
        truncated={},
        errors=[],
    )
    return context


def _access(path: str, **fields: Any) -> dict[str, Any]:
    return {"pid": 5, "process": "5@1.0", "time": 1.0, "path": path, **fields}


def test_trace_join_and_report(tmp_path: Path) -> None:
    files = Files(
        written=[FileAccess(**_access("/etc/cron.d/job", flags="O_WRONLY|O_CREAT"))],
        chmod=[FileChmod(**_access("/bin/su", mode="04755", op="chmod", ok=False))],
        renamed=[FileRename(pid=5, process="5@1.0", time=1.0, src="/tmp/a", dst="/tmp/./b")],
    )
    entries = [
        entry(),
        entry(
            path="/bin/su",
            change="metadata",
            mode="4755",
            changed=["mode"],
            before={
                "path": "/bin/su",
                "type": "file",
                "size": 5,
                "mode": "0755",
                "uid": 0,
                "gid": 0,
                "mtime": None,
                "ctime": None,
                "attributes": "",
                "target": None,
                "sha256": None,
            },
        ),
        entry(
            path="/tmp/b",
            change="renamed",
            before={
                "path": "/tmp/a",
                "type": "file",
                "size": 5,
                "mode": "0644",
                "uid": 0,
                "gid": 0,
                "mtime": None,
                "ctime": None,
                "attributes": "",
                "target": None,
                "sha256": None,
            },
        ),
        entry(path="/tmp/sample", sample=True),
        entry(path="/etc/ld.so.preload\n<script>alert(1)</script>"),
    ]
    context = _context(tmp_path, document(entries), files)
    run_plugins(context, [DiskPlugin()])
    diff = context.filesystem
    assert diff is not None
    traced = {c.path: (c.traced, c.traced_ops) for c in diff.changes}
    assert traced["/etc/cron.d/job"] == (True, ["write"])
    assert traced["/bin/su"] == (False, [])  # the chmod failed: nothing the trace saw did it
    assert traced["/tmp/b"] == (True, ["rename"])
    assert diff.untraced == 2  # /bin/su and the hidden preload; the sample does not count
    report = context.report()
    data = report_dict(report)
    validate_report(data)
    assert data["filesystem"]["changes"][1]["traced"] is False
    html = render_html(report)
    assert "Disk changes (host-side)" in html and "r-filesystem-changes-0" in html
    assert html.count('class="untraced"') == 2
    assert "<script>alert" not in html and "\\x0a&lt;script&gt;" in html
    lines = summarize(report)
    title = lines.index("Disk changes (host-side diff):")
    assert lines[title + 1].startswith("  2 not traced; ")
    assert "5 created" not in lines[title + 1] and "1 metadata" in lines[title + 1]


def test_report_without_a_diff_is_unchanged(tmp_path: Path) -> None:
    context = _context(tmp_path, document([]))
    data = report_dict(context.report())
    assert "filesystem" not in data
    validate_report(data)
