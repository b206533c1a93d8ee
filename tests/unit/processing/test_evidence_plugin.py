"""The evidence plugin: where each artefact is, the dumps and screenshots the evidence hooks
left, and what memory held that the trace did not show (the real hooks make the files)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from hooks.fake_qemu import FakeQemuContext, load, ppm  # type: ignore[import-not-found]

from aasee.processing.html import write_html
from aasee.processing.models import Report
from aasee.processing.pipeline import process_results
from aasee.processing.plugins.evidence import MEMORY_MANIFEST
from aasee.processing.report import validate_report
from aasee.processing.run_meta import RunMeta, write_run_meta

BASIC = Path(__file__).parents[2] / "data" / "trace-basic.log"
CLOCK = (5.0, 1_700_000_000.0)
# The basic trace connects to 198.51.100.7: an address the trace showed.
MEMORY = (
    b"\0" * 5000
    + b"GET http://hidden-c2.example/gate.php HTTP/1.1\0"
    + b"\0" * 300
    + b"peer=198.51.100.7 backup=203.0.113.77\0"
    + b"noise.example.org\0"
)


def _results(tmp_path: Path, *, baseline: bytes | None = None) -> Path:
    out = tmp_path / "results"
    out.mkdir()
    shutil.copy(BASIC, out / "trace.log")
    (out / "sample.bin").write_bytes(b"#!/bin/sh\necho hi\n")
    (out / "console.log").write_bytes(b"booted\n")
    write_run_meta(
        RunMeta(
            analysis_id="t-1",
            sample_name="dropper.sh",
            timeout=60,
            root_pid=117,
            initial_cwd="/tmp",
            clock_sync=CLOCK,
        ),
        out,
    )
    context = FakeQemuContext(tmp_path / "run", memory=MEMORY)
    if baseline is not None:
        state = tmp_path / "snapshot-x" / "state.bin"
        state.parent.mkdir()
        state.write_bytes(baseline)
        context.state_file = state  # type: ignore[attr-defined]
    context.screens.frames = [ppm(2, 1, bytes(6)), ppm(2, 1, bytes([255] * 6))]
    managers = [
        load(context, out, "aasee.hooks.memory_dump.MemoryDumpHook"),
        load(context, out, "aasee.hooks.screenshots.ScreenshotHook", interval=0),
    ]
    context.poweron()
    context.bus.join()
    context.poweroff()
    for manager in managers:
        manager.cleanup()
    return out


def test_artefacts_dumps_screenshots_and_memory_strings(tmp_path: Path) -> None:
    out = _results(tmp_path)
    data = process_results(out)
    validate_report(data)
    evidence = data["evidence"]
    listed = {a["path"]: a for a in evidence["artefacts"]}
    assert {
        "trace.log",
        "console.log",
        "run.json",
        "sample.bin",
        MEMORY_MANIFEST,
        "memory/1-pre_poweroff.elf.gz",
        "screenshots/manifest.json",
        "screenshots/0001.png",
        "screenshots/0002.png",
    } <= set(listed)
    assert "report.json" not in listed and "report.html" not in listed
    for path, entry in listed.items():
        assert entry["size"] == (out / path).stat().st_size
        assert entry["sha256"] == hashlib.sha256((out / path).read_bytes()).hexdigest()
    assert listed["console.log"]["kind"] == "guest console log"
    assert listed["memory/1-pre_poweroff.elf.gz"]["kind"] == "memory dump (ELF core, gzip)"

    (dump,) = evidence["memory_dumps"]
    assert dump["event"] == "pre_poweroff" and dump["elf_type"] == "core"
    assert dump["compression"] == "gzip" and dump["raw_bytes"] == 64 + len(MEMORY)
    assert dump["time_utc"].endswith("Z")

    shots = evidence["screenshots"]
    assert shots["display"] is True
    assert [f["path"] for f in shots["frames"]] == ["screenshots/0001.png", "screenshots/0002.png"]

    strings = evidence["memory_strings"]
    assert strings["dumps"] == ["memory/1-pre_poweroff.elf.gz"]
    assert strings["baseline"] is None
    assert [u["value"] for u in strings["urls"]] == ["http://hidden-c2.example/gate.php"]
    assert {d["value"] for d in strings["domains"]} == {"hidden-c2.example", "noise.example.org"}
    # 198.51.100.7 is in the trace: not reported, counted.
    assert [i["value"] for i in strings["ips"]] == ["203.0.113.77"]
    assert strings["in_trace"]["ips"] == 1
    assert strings["urls"][0]["dumps"] == ["memory/1-pre_poweroff.elf.gz"]
    html = (out / "report.html").read_text()
    assert "hidden-c2.example/gate.php" in html and 'id="evidence"' in html


def test_the_ready_snapshot_is_the_baseline(tmp_path: Path) -> None:
    out = _results(tmp_path, baseline=b"\0" * 8192 + b"noise.example.org\0http://x.example.com/\0")
    strings = process_results(out)["evidence"]["memory_strings"]
    assert strings["baseline"] == "ready snapshot snapshot-x"
    assert {d["value"] for d in strings["domains"]} == {"hidden-c2.example"}
    assert strings["in_baseline"]["domains"] == 1


def test_hostile_or_broken_manifests(tmp_path: Path) -> None:
    out = _results(tmp_path)
    outside = tmp_path / "secret"
    outside.write_text("not yours")
    manifest = json.loads((out / MEMORY_MANIFEST).read_text())
    manifest["dumps"] += [
        {"file": "memory/../../secret"},
        {"file": "/etc/passwd"},
        {"file": "memory/link.elf.gz"},
        "not an object",
        {"file": "memory/1-pre_poweroff.elf.gz", "time": "never", "raw_bytes": -5},
    ]
    os.symlink(outside, out / "memory" / "link.elf.gz")
    (out / MEMORY_MANIFEST).write_text(json.dumps(manifest))
    (out / "screenshots" / "manifest.json").write_text("[1, 2")
    data = process_results(out)
    validate_report(data)
    evidence = data["evidence"]
    assert [d["path"] for d in evidence["memory_dumps"]] == ["memory/1-pre_poweroff.elf.gz"] * 2
    assert evidence["memory_dumps"][1]["raw_bytes"] == 0
    assert evidence["memory_dumps"][1]["time_epoch"] is None
    assert evidence["screenshots"] is None
    assert "memory/link.elf.gz" not in {a["path"] for a in evidence["artefacts"]}
    assert any("screenshots/manifest.json unreadable" in e for e in evidence["errors"])
    assert sum("is missing" in e for e in evidence["errors"]) == 3


def test_a_corrupt_dump_costs_only_its_strings(tmp_path: Path) -> None:
    out = _results(tmp_path)
    dump = out / "memory" / "1-pre_poweroff.elf.gz"
    dump.write_bytes(dump.read_bytes()[:40])
    data = process_results(out)
    strings = data["evidence"]["memory_strings"]
    assert strings["dumps"] == [] and strings["urls"] == []
    assert any("unreadable" in e for e in data["evidence"]["errors"])


def test_reports_without_evidence_keep_their_shape(tmp_path: Path) -> None:
    report = Report.model_validate(
        {
            "sample": {"name": "s", "size": 0, "md5": "", "sha1": "", "sha256": ""},
            "analysis": {"id": "x"},
        }
    )
    assert "evidence" not in report.model_dump(mode="json")
    write_html(report, tmp_path / "r.html")
    assert 'id="evidence"' not in (tmp_path / "r.html").read_text()
