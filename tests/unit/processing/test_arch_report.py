"""The run's architecture from ``run.json`` to the report: decoding with its ABI, the
``analysis`` fields, aliases, unknown names, and the summary's architecture section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aasee.processing.models import Report
from aasee.processing.pipeline import process_results
from aasee.processing.run_meta import RunMeta, write_run_meta
from aasee.processing.summary import summary_sections

from .test_behaviour_arch import compat_trace, mips_trace
from .tracegen import Trace


def _results(tmp_path: Path, trace: Trace, root: int, **meta: Any) -> dict[str, Any]:
    out = tmp_path / "results"
    out.mkdir()
    (out / "trace.log").write_bytes(b"\n".join(trace.lines) + b"\n")
    write_run_meta(RunMeta(analysis_id="arch-1", sample_name="bot", root_pid=root, **meta), out)
    return process_results(out)


def test_mips_run_is_decoded_with_its_profile(tmp_path: Path) -> None:
    label = "MIPS (MIPS 32-bit big-endian)"
    data = _results(
        tmp_path,
        mips_trace(big_endian=True),
        100,
        arch="mipsbe",
        sample_arch=label,
        guest_image="iot-mips",
    )
    assert (data["analysis"]["arch"], data["analysis"]["sample_arch"]) == ("mips", label)
    (conn,) = data["network"]["connections"]
    assert (conn["dst_ip"], conn["dst_port"], conn["result"], conn["proto"]) == (
        "198.51.100.7",
        4444,
        "ECONNREFUSED",
        "tcp",
    )
    assert data["processes"][0]["abi"] == "mips-o32"
    assert data["processes"][0]["exit_signal_name"] == "SIGUSR1"
    sections = dict(summary_sections(Report.model_validate(data)))
    assert sections["Architecture"] == ["guest mips (iot-mips)", f"sample {label}"]


def test_alias_is_stored_by_profile_name(tmp_path: Path) -> None:
    data = _results(tmp_path, compat_trace(), 400, arch="amd64")
    assert data["analysis"]["arch"] == "x86_64"
    assert [p["abi"] for p in data["processes"]] == ["x86_64", "i386", "x86_64"]
    sections = dict(summary_sections(Report.model_validate(data)))
    assert sections["Architecture"] == [
        "guest x86_64",
        "processes in another syscall ABI: i386",
    ]
    assert any("[i386 ABI]" in line for line in sections["Processes"])


def test_unknown_architecture_is_reported_and_decoded_as_default(tmp_path: Path) -> None:
    data = _results(tmp_path, compat_trace(), 400, arch="sparc64")
    assert data["analysis"]["arch"] == "sparc64"
    assert any(
        e.startswith("guest architecture: unknown architecture 'sparc64'") for e in data["errors"]
    )
    assert data["processes"][0]["abi"] == "x86_64"


def test_default_x86_64_summary_has_no_architecture_section(tmp_path: Path) -> None:
    trace = compat_trace()
    trace.lines = [line for line in trace.lines if b"__i386" not in line]
    data = _results(tmp_path, trace, 400)
    assert data["analysis"]["arch"] == "x86_64" and data["analysis"]["sample_arch"] is None
    assert "Architecture" not in dict(summary_sections(Report.model_validate(data)))
