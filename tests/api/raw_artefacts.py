"""Raw artefacts of a finished run, as a sandbox worker leaves them, for API tests.

The API tests have no VM: they drive the backend's real sandbox worker with an ``acquire``
step that writes these files instead of running a guest, then the real postprocess worker,
which runs the real processing pipeline on them. The database, queue and storage are real.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aasee.processing.run_meta import RunMeta, write_run_meta
from aasee.service.settings import Settings
from tests.unit.processing.tracegen import started

BASIC_TRACE = Path(__file__).parents[1] / "data" / "trace-basic.log"
CLOCK = (5.0, 1_700_000_000.0)
PCAP_MAGIC = b"\xd4\xc3\xb2\xa1"
O_WRONLY_CREAT_TRUNC = 0x241


def pcap_bytes() -> bytes:
    """A little-endian pcap (Ethernet) holding one UDP datagram to 203.0.113.50:4444."""
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    payload = b"hello c2"
    udp = struct.pack("!HHHH", 40000, 4444, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        1,
        0,
        64,
        17,
        0,
        bytes([10, 0, 2, 15]),
        bytes([203, 0, 113, 50]),
    )
    frame = b"\x52\x54\x00\x12\x34\x56" + b"\x52\x54\x00\x65\x43\x21" + b"\x08\x00" + ip + udp
    record = struct.pack("<IIII", int(CLOCK[1]) + 1, 0, len(frame), len(frame))
    return header + record + frame


@dataclass
class RunFiles:
    """What one prepared run leaves: a trace (lines), output, dropped files."""

    trace: list[bytes]
    root_pid: int
    stdout: bytes = b""
    stderr: bytes = b""
    dropped: dict[str, bytes] = field(default_factory=dict)  # guest path -> content

    def write(self, out_dir: Path, sample_name: str, run_id: str) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "trace.log").write_bytes(b"\n".join(self.trace) + b"\n")
        (out_dir / "stdout.txt").write_bytes(self.stdout)
        (out_dir / "stderr.txt").write_bytes(self.stderr)
        (out_dir / "network.pcap").write_bytes(pcap_bytes())
        (out_dir / "console.log").write_bytes(b"[    0.000000] Linux version 6.1.0\n")
        (out_dir / "fakenet.jsonl").write_bytes(b"")
        (out_dir / "analysis.log").write_bytes(b"INFO prepared artefacts for an API test\n")
        manifest: list[dict[str, Any]] = []
        if self.dropped:
            dropped = out_dir / "dropped"
            dropped.mkdir()
            for path, content in self.dropped.items():
                digest = hashlib.sha256(content).hexdigest()
                (dropped / digest).write_bytes(content)
                manifest.append(
                    {
                        "path": path,
                        "size": len(content),
                        "collected": len(content),
                        "truncated": False,
                        "md5": hashlib.md5(content).hexdigest(),  # noqa: S324
                        "sha1": hashlib.sha1(content).hexdigest(),  # noqa: S324
                        "sha256": digest,
                        "stored_as": digest,
                        "pid": self.root_pid,
                        "process": None,
                        "error": None,
                    }
                )
            (dropped / "manifest.json").write_text(json.dumps(manifest))
        write_run_meta(
            RunMeta(
                analysis_id=run_id,
                sample_name=sample_name,
                started="2024-05-01T12:00:00Z",
                ended="2024-05-01T12:00:10Z",
                timeout=10,
                hypervisor="qemu",
                accel="tcg",
                guest_image="debian-bookworm-amd64",
                boot="snapshot restore",
                network="fake",
                root_pid=self.root_pid,
                initial_cwd="/tmp",
                clock_sync=CLOCK,
                exits=[{"pid": self.root_pid, "time": CLOCK[1] + 3.0, "code": 0}],
            ),
            out_dir,
        )


def basic_run() -> RunFiles:
    """The recorded trace of a small sample (pid 117) plus a dropped script."""
    lines = BASIC_TRACE.read_bytes().splitlines()
    return RunFiles(
        trace=lines,
        root_pid=117,
        stdout=b"hello from the sample\n",
        dropped={"/tmp/.cache-update": b"#!/bin/sh\necho payload\n"},
    )


def hostile_run(name: str, echoed: str, dropped_path: str) -> RunFiles:
    """A sample whose process names, output and dropped file name are HTML/JS."""
    root = 300
    trace = started(root, f"/tmp/{name}", ["/bin/sh", f"/tmp/{name}", echoed])
    trace.open(root, dropped_path, flags=O_WRONLY_CREAT_TRUNC, mode=0o644)
    trace.exit(root)
    return RunFiles(
        trace=trace.lines,
        root_pid=root,
        stdout=(echoed + "\n").encode(),
        stderr=b"<b>bold</b>\n",
        dropped={dropped_path: b"<html><script>alert(4)</script></html>\n"},
    )


def prepared_acquire(run: RunFiles) -> Any:
    """An ``Acquire`` for ``SandboxWorker`` that leaves ``run``'s files instead of a VM's."""

    def acquire(
        settings: Settings,
        sample: Path,
        out_dir: Path,
        options: dict[str, Any],
        progress: Any,
        run_id: str,
    ) -> None:
        progress("running sample", 0.5)
        run.write(out_dir, sample.name, run_id)
        shutil.copyfile(sample, out_dir / "sample.bin")

    return acquire
