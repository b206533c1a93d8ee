"""IoT architectures end to end: a statically cross-compiled bot runs in the guest of its
architecture, chosen from its ELF header, and everything it does is in the report.

Each build of ``programs/multiarch/iotbehaviour.c`` (Debian's cross compilers) is analysed
with a short timeout: the process tree with the daemonized grandchild, the file operations,
the DNS lookup and HTTP request it makes itself, a TCP connect, and the act its grandchild
does after sleeping minutes (seen only because guest idle time is skipped), each with the
right pid, and the guest architecture recorded. Samples no guest can run are refused before
anything starts.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aasee.arch import get_profile
from aasee.images.builder import ImageBuilder, recipe_for
from aasee.images.store import aasee_home
from aasee.processing.report import validate_report
from aasee.service.analysis import AnalysisOptions, SampleError, run_analysis

pytestmark = pytest.mark.vm

SOURCE = Path(__file__).parent / "programs" / "multiarch" / "iotbehaviour.c"
LATE_SECONDS = 600
# Malta's kernels (Debian's mipsel one, and ours built on its configuration) tick
# periodically at 250 Hz, so idle time is skipped one tick at a time: the guest clock runs
# about 5-10 times faster than the host's under TCG there, not hundreds (see the README).
LATE_SECONDS_PERIODIC_TICK = 60
LATE_SECONDS_REAL_TIME = 5
# name: (compiler, extra flags, guest architecture)
BUILDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "aarch64": ("aarch64-linux-gnu-gcc", (), "aarch64"),
    "armhf": ("arm-linux-gnueabihf-gcc", (), "armhf"),
    "armv5": ("arm-linux-gnueabi-gcc", ("-march=armv5te", "-marm"), "armhf"),
    "mipsel": ("mipsel-linux-gnu-gcc", (), "mipsel"),
    "mips": ("mips-linux-gnu-gcc", (), "mips"),
    "i386": ("i686-linux-gnu-gcc", (), "x86_64"),
}


@pytest.fixture(scope="module")
def cross_programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("cross")
    built = {}
    for name, (compiler, flags, _arch) in BUILDS.items():
        if shutil.which(compiler) is None:
            pytest.fail(f"{compiler} is needed to build the test programs: run `make install`")
        binary = out / "iotbehaviour"
        target = out / name
        target.mkdir()
        subprocess.run(
            [
                compiler,
                "-static",
                "-O1",
                f'-DARCH_NAME="{name}"',
                *flags,
                "-o",
                str(binary),
                str(SOURCE),
            ],
            check=True,
        )
        shutil.move(binary, target / "iotbehaviour")
        built[name] = target / "iotbehaviour"
    return built


def _guest(arch: str) -> None:
    """The guest image of ``arch`` (built once, then taken from the cache)."""
    ImageBuilder(recipe_for(get_profile(arch))).build()


def _by_path(records: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("path") == path]


@pytest.mark.parametrize("name", list(BUILDS))
def test_cross_compiled_bot_is_fully_reported_in_its_guest(
    name: str,
    cross_programs: dict[str, Path],
    tmp_path: Path,
    no_leftovers: None,
) -> None:
    arch = BUILDS[name][2]
    _guest(arch)
    out = tmp_path / "analysis"
    periodic = arch in ("mips", "mipsel")
    late_seconds = LATE_SECONDS_PERIODIC_TICK if periodic else LATE_SECONDS
    if not get_profile(arch).emulation.time_warp:
        # This guest runs in real time (see its profile): a sleep it can sit out in the run.
        late_seconds = LATE_SECONDS_REAL_TIME
    options = AnalysisOptions(timeout=30 if periodic else 20, arguments=[str(late_seconds)])
    result = run_analysis(cross_programs[name], out, options)
    report = result.report
    assert report is not None and result.executed, result.not_executed_reason
    validate_report(report)
    analysis = report["analysis"]
    assert analysis["arch"] == arch
    assert analysis["guest_image"] == get_profile(arch).default_image

    procs = report["processes"]
    root = next(p for p in procs if p["image"] == "/tmp/iotbehaviour")
    root_pid = root["pid"]
    assert root["exit_code"] == 7, root
    first = [p for p in procs if p.get("ppid") == root_pid]
    assert first, "the forked child is missing from the process tree"
    daemon = [p for p in procs if p.get("ppid") in {c["pid"] for c in first}]
    assert daemon, "the daemonized grandchild is missing from the process tree"
    daemon_pid = daemon[0]["pid"]

    files = report["files"]
    written = files["written"]
    assert any(w["pid"] == daemon_pid for w in _by_path(written, "/tmp/iot-daemon.txt"))
    assert any(w["pid"] == root_pid for w in _by_path(written, "/tmp/iot-written.txt"))
    assert any(d["pid"] == root_pid for d in _by_path(files["deleted"], "/tmp/iot-deleted.txt"))
    assert any(
        r["src"] == "/tmp/iot-written.txt" and r["dst"] == "/tmp/iot-renamed.txt"
        for r in files["renamed"]
        if r["pid"] == root_pid
    ), files["renamed"]
    chmods = _by_path(files["chmod"], "/tmp/iot-renamed.txt")
    assert any(c["mode"] == "0600" and c["pid"] == root_pid for c in chmods), chmods
    # Minutes of sleep passed in a short run: the guest skipped its idle time.
    late = _by_path(written, "/tmp/iot-late.txt")
    assert any(w["pid"] == daemon_pid for w in late), "the delayed act is missing"
    assert report["analysis"]["timings"]["guest_run"] > late_seconds

    network = report["network"]
    connections = network["connections"]
    assert any(
        c["dst_ip"] == "198.51.100.7" and c["dst_port"] == 4444 and c["pid"] == root_pid
        for c in connections
    ), connections
    queries = [q for q in network["dns_traffic"] if q.get("name") == "c2.iot-test.example"]
    assert queries, network["dns_traffic"]
    urls = [h.get("url") for h in network["http"]]
    assert f"http://c2.iot-test.example/bot.{name}" in urls, urls
    assert f"iotbehaviour {name}" in report["output"]["stdout"]


def _elf_header(machine: int, bits: int, endian: str) -> bytes:
    order = "<" if endian == "little" else ">"
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1 if endian == "little" else 2, 1, 0])
    head = ident + b"\0" * 8 + struct.pack(order + "HHI", 2, machine, 1)
    return head.ljust(64, b"\0") + b"\0" * 256


@pytest.mark.parametrize(
    ("machine", "bits", "endian", "said"),
    [(243, 64, "little", "RISC-V"), (20, 32, "big", "PowerPC")],
    ids=["riscv64", "powerpc"],
)
def test_an_architecture_without_a_guest_is_refused_and_leaves_nothing(
    machine: int, bits: int, endian: str, said: str, tmp_path: Path, no_leftovers: None
) -> None:
    sample = tmp_path / "foreign.elf"
    sample.write_bytes(_elf_header(machine, bits, endian))
    out = tmp_path / "analysis"
    runs_before = sorted((aasee_home() / "runs").glob("*"))
    with pytest.raises(SampleError) as caught:
        run_analysis(sample, out, AnalysisOptions(timeout=5))
    assert said in str(caught.value) and "iot-aarch64" in str(caught.value)
    assert not out.exists()
    assert sorted((aasee_home() / "runs").glob("*")) == runs_before
    cli = subprocess.run(
        [sys.executable, "-m", "aasee.cli.main", "analyze", str(sample), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 2, cli.stderr
    assert said in cli.stderr and "Guests available" in cli.stderr
    assert not out.exists()


@pytest.mark.parametrize("case", ["foreign-binary", "missing-interpreter"])
def test_a_sample_that_cannot_run_is_never_benign(
    case: str, cross_programs: dict[str, Path], tmp_path: Path, no_leftovers: None
) -> None:
    """A binary forced into a guest of another architecture, a script whose interpreter the
    guest lacks: the report says "not executed" with the reason, no score, the CLI exits 4."""
    _guest("x86_64")
    if case == "foreign-binary":
        sample = cross_programs["aarch64"]
        extra = ["--image", get_profile("x86_64").default_image]
        reason = "Exec format error"
    else:
        sample = tmp_path / "needs-tclsh.tcl"
        sample.write_text("#!/usr/bin/tclsh8.9\nputs hello\n")
        extra = []
        reason = "/usr/bin/tclsh8.9"
    out = tmp_path / "analysis"
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "aasee.cli.main",
            "analyze",
            str(sample),
            "--timeout",
            "30",
            "--out",
            str(out),
            "--json",
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 4, cli.stderr
    assert "not executed" in cli.stderr and reason.lower() in cli.stderr.lower()
    report = validate_report_file(out / "report.json")
    assert report["verdict"] == "not executed"
    assert report["score"] is None
    assert reason.lower() in report["analysis"]["not_executed_reason"].lower()
    # It ended at once instead of waiting for the timeout.
    assert report["analysis"]["timings"]["run"] < 15


def validate_report_file(path: Path) -> dict[str, Any]:
    import json

    report: dict[str, Any] = json.loads(path.read_text())
    validate_report(report)
    return report
