"""Evidence hooks on real guests: a memory dump that opens as an ELF core and holds what the
sample kept only in memory, and screenshots of a guest with a display.

The sample (programs/memonly.c) decodes MEMORY_URL at run time and keeps it in a buffer: it is
in neither the binary, nor a system call, nor the trace.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from aasee.contexts.snapshots import Snapshot
from aasee.images.store import GuestImage
from aasee.processing.report import validate_report
from aasee.service.analysis import AnalysisOptions, run_analysis

pytestmark = pytest.mark.vm

MEMORY_URL = b"http://mem-only-7f3a9c2e.example/x"


def _hooks(tmp_path: Path, hooks: list[dict[str, Any]]) -> str:
    path = tmp_path / "hooks.json"
    path.write_text(json.dumps({"hooks": hooks}))
    return str(path)


def _gunzip(source: Path, target: Path) -> None:
    with gzip.open(source, "rb") as compressed, target.open("wb") as plain:
        shutil.copyfileobj(compressed, plain, 1 << 20)


def _contains(path: Path, needle: bytes) -> bool:
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle) :]
    return False


def test_memory_dump_is_an_elf_core_holding_what_only_memory_held(
    guest_image: GuestImage,
    ready_snapshot: Snapshot,
    programs: dict[str, Path],
    tmp_path: Path,
    no_leftovers: None,
) -> None:
    sample = programs["memonly"]
    assert MEMORY_URL not in sample.read_bytes()
    hooks = _hooks(
        tmp_path,
        [
            {
                "name": "aasee.hooks.memory_dump.MemoryDumpHook",
                "configuration": {"events": ["analysis_end", "pre_poweroff"]},
            },
            {
                "name": "aasee.hooks.console.ConsoleLogHook",
                "configuration": {"events": ["sample_started", "post_poweroff"]},
            },
        ],
    )
    out = tmp_path / "analysis"
    start = time.monotonic()
    result = run_analysis(sample, out, AnalysisOptions(timeout=10), hooks_config=hooks)
    wall = time.monotonic() - start
    report = result.report
    assert report is not None
    validate_report(report)
    assert report["analysis"]["boot"] == "snapshot restore"
    evidence = report["evidence"]
    dumps = evidence["memory_dumps"]
    assert [d["event"] for d in dumps] == ["analysis_end", "pre_poweroff"], evidence["errors"]
    for dump in dumps:
        print(
            f"memory dump at {dump['event']}: {dump['raw_bytes'] >> 20} MiB in "
            f"{dump['dump_seconds']:.2f} s, gzipped to {dump['bytes'] >> 20} MiB in "
            f"{dump['compress_seconds']:.2f} s (whole analysis {wall:.1f} s)"
        )
    dump = dumps[-1]
    assert dump["elf_type"] == "core" and dump["compression"] == "gzip"
    assert dump["raw_bytes"] > 1 << 30  # the whole 1 GiB of guest memory, and the ELF headers
    stored = out / dump["path"]
    assert dump["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()

    # Opened by an ELF reader: a core file of guest RAM, holding the URL.
    core = tmp_path / "memory.elf"
    _gunzip(stored, core)
    with core.open("rb") as handle:
        elf = ELFFile(handle)
        assert elf["e_type"] == "ET_CORE"
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        assert sum(s["p_filesz"] for s in loads) >= 1 << 30
        assert any(s["p_type"] == "PT_NOTE" for s in elf.iter_segments())
    assert _contains(core, MEMORY_URL)
    core.unlink()
    # ... and nowhere in what the trace or the capture recorded.
    assert not _contains(out / "trace.log", MEMORY_URL)
    assert MEMORY_URL.decode() not in json.dumps(
        [report["processes"], report["files"], report["network"]]
    )

    strings = evidence["memory_strings"]
    assert strings["baseline"] is not None  # the ready snapshot: guest noise subtracted
    urls = {u["value"]: u for u in strings["urls"]}
    assert MEMORY_URL.decode() in urls, strings
    assert set(urls[MEMORY_URL.decode()]["dumps"]) == {d["path"] for d in dumps}
    assert "mem-only-7f3a9c2e.example" in {d["value"] for d in strings["domains"]}

    listed = {a["path"]: a for a in evidence["artefacts"]}
    assert {"console.log", "trace.log", "network.pcap", "memory/manifest.json"} <= set(listed)
    assert all(d["path"] in listed for d in dumps)
    assert "mem-only" in (out / "report.html").read_text()
    assert not list(out.glob("**/*.elf"))  # only the compressed dumps are kept


def _png_pixels(data: bytes) -> tuple[int, int, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunks[kind] = chunks.get(kind, b"") + data[position + 8 : position + 8 + length]
        position += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = width * 3 + 1
    return width, height, b"".join(raw[r * stride + 1 : (r + 1) * stride] for r in range(height))


def _lit(data: bytes) -> int:
    _, _, pixels = _png_pixels(data)
    return sum(1 for i in range(0, len(pixels), 3) if pixels[i] > 128)


def test_screenshots_of_a_guest_with_a_display(
    guest_image: GuestImage, programs: dict[str, Path], tmp_path: Path, no_leftovers: None
) -> None:
    hooks = _hooks(
        tmp_path,
        [
            {
                "name": "aasee.hooks.screenshots.ScreenshotHook",
                "configuration": {"interval": 1, "events": ["sample_started", "pre_poweroff"]},
            },
            {"name": "aasee.hooks.memory_dump.MemoryDumpHook"},
        ],
    )
    out = tmp_path / "analysis"
    # A display is its own VM shape (no ready snapshot of it): a cold boot; on the isolated
    # network that is a libvirt domain, whose QMP goes through libvirt.
    # The whole timeout, so that frames are taken while the screen stays still.
    options = AnalysisOptions(
        timeout=10,
        display=True,
        network="isolated",
        arguments=["--screen"],
        revert="cold",
        full_timeout=True,
    )
    result = run_analysis(programs["memonly"], out, options, hooks_config=hooks)
    report = result.report
    assert report is not None
    validate_report(report)
    evidence = report["evidence"]
    shots = evidence["screenshots"]
    assert shots["display"] is True, evidence["errors"]
    frames = shots["frames"]
    assert len(frames) >= 2 and shots["taken"] >= len(frames)
    # The screen stays still while the sample waits: identical frames are not kept.
    assert shots["unchanged"] >= 1
    contents = [(out / f["path"]).read_bytes() for f in frames]
    assert len({hashlib.sha256(c).digest() for c in contents}) == len(contents)
    for frame, content in zip(frames, contents, strict=True):
        width, height, pixels = _png_pixels(content)
        assert (width, height) == (frame["width"], frame["height"])
        assert len(pixels) == width * height * 3
    started = next(i for i, f in enumerate(frames) if f["reason"] == "sample_started")
    assert started > 0  # the boot was on screen before the sample ran
    # The banner the sample writes on the console lights up the screen (it may already be
    # there in the last frame taken at an interval before sample_started was announced).
    assert _lit(contents[-1]) > min(_lit(c) for c in contents[:started]) + 10_000
    listed = {a["path"] for a in evidence["artefacts"]}
    assert {f["path"] for f in frames} <= listed
    # The memory dump works through libvirt's QMP as well.
    (dump,) = evidence["memory_dumps"]
    assert dump["elf_type"] == "core"
    assert MEMORY_URL.decode() in {u["value"] for u in evidence["memory_strings"]["urls"]}
