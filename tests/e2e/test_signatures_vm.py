"""End to end in a real guest: real behaviours come out as the right signatures and ATT&CK ids.

Three VM runs for the whole module. ``samples/implant.sh`` persists four ways (cron, shell
profile, systemd unit, authorized_keys), reads /etc/shadow and an SSH private key it planted,
downloads programs from the fake internet, makes them executable and runs them (one written
by the fetcher itself, one by a pipeline stage, one a copy made by cp), runs a downloaded
script with sh and pipes another into sh, runs helpers through their interpreter (sh, python3)
that delete themselves, and deletes itself: each behaviour must produce its signature, with
evidence pointing at the records behind it, and its ATT&CK v19 technique.
``samples/stager.sh`` has no ``#!`` line (the runner starts it as ``/bin/sh stager.sh``) and
fetches a stage through a shell redirection, which dash opens itself before forking the
fetcher. ``samples/builder.sh`` does ordinary work (coreutils, CPython's byte-code compiler, a
Python program keeping its own files, a download kept as data, a copy of a local program run)
and must stay benign. The implant's results directory is then reprocessed from its raw
artefacts alone (``aasee reprocess``), which must give the same report, byte for byte.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonpointer
import pytest

from aasee.contexts.snapshots import Snapshot
from aasee.images.store import GuestImage
from aasee.processing.report import validate_report
from aasee.service.analysis import AnalysisOptions, run_analysis

from .conftest import leftovers

pytestmark = pytest.mark.vm

SAMPLES = Path(__file__).parent / "samples"
AASEE = [sys.executable, "-m", "aasee.cli.main"]
ABOVE_LOW = frozenset({"medium", "high", "critical"})


@dataclass(frozen=True)
class Run:
    out: Path
    report: dict[str, Any]
    seconds: float


def _analyse(name: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One analysis of a bundled sample; fails if it leaves a VM or a run directory behind."""
    before = leftovers()
    out = tmp_path_factory.mktemp(name.replace(".", "-")) / "analysis"
    start = time.monotonic()
    result = run_analysis(SAMPLES / name, out, AnalysisOptions(timeout=60, stop_on_exit=True))
    seconds = time.monotonic() - start
    after = leftovers()
    assert set(after[0]) <= set(before[0]), f"VMs left: {sorted(set(after[0]) - set(before[0]))}"
    assert set(after[1]) <= set(before[1]), f"runs left: {sorted(set(after[1]) - set(before[1]))}"
    assert result.report is not None
    validate_report(result.report)
    assert result.report["analysis"]["exits"], "the sample's exit was not observed"
    return Run(out, result.report, seconds)


@pytest.fixture(scope="module")
def implant(
    guest_image: GuestImage, ready_snapshot: Snapshot, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    return _analyse("implant.sh", tmp_path_factory)


@pytest.fixture(scope="module")
def stager(
    guest_image: GuestImage, ready_snapshot: Snapshot, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    return _analyse("stager.sh", tmp_path_factory)


@pytest.fixture(scope="module")
def builder(
    guest_image: GuestImage, ready_snapshot: Snapshot, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    return _analyse("builder.sh", tmp_path_factory)


def _signature(report: dict[str, Any], sig_id: str) -> dict[str, Any]:
    matched: dict[str, dict[str, Any]] = {s["id"]: s for s in report["signatures"]}
    assert sig_id in matched, f"{sig_id} did not match; matched: {sorted(matched)}"
    return matched[sig_id]


def _technique(report: dict[str, Any], technique_id: str) -> dict[str, Any]:
    techniques: dict[str, dict[str, Any]] = {t["id"]: t for t in report["attack"]["techniques"]}
    assert technique_id in techniques, f"{technique_id} missing; reported: {sorted(techniques)}"
    return techniques[technique_id]


def _resolve(report: dict[str, Any], ref: str) -> Any:
    """The record a JSON Pointer names (an independent RFC 6901 implementation resolves it)."""
    try:
        return jsonpointer.resolve_pointer(report, ref)
    except jsonpointer.JsonPointerException as exc:
        raise AssertionError(f"evidence ref {ref!r} does not resolve in the report: {exc}") from exc


def _owner(report: dict[str, Any], ref: str, record: Any) -> str | None:
    """Key of the process a record belongs to, as the report itself says."""
    if isinstance(record, dict) and isinstance(record.get("process"), str):
        return str(record["process"])
    process = re.match(r"/processes/(\d+)(/|$)", ref)
    return str(report["processes"][int(process.group(1))]["key"]) if process else None


def _named_paths(record: Any) -> set[str]:
    if not isinstance(record, dict):
        return set()
    named = {str(record[k]) for k in ("path", "filename", "src", "dst") if k in record}
    argv = record.get("argv")
    if isinstance(argv, list) and record.get("filename"):
        named.update(str(a) for a in argv[1:])  # the script an interpreter was given
    return named


DOWNLOAD = ("/network/", "/files/written/", "/files/read/", "/processes/")

# behaviour -> (signature, ATT&CK v19 ids, where its evidence points, the paths it names,
#               a tactic (v19 name) each of those techniques is filed under)
IMPLANT = {
    "cron": (
        "persistence_cron",
        {"T1053.003"},
        ("/files/written/",),
        {"/etc/cron.d/aasee-implant"},
        "Persistence",
    ),
    "shell-profile": (
        "persistence_shell_profile",
        {"T1546.004"},
        ("/files/written/",),
        {"/root/.bashrc"},
        "Persistence",
    ),
    "systemd-unit": (
        "persistence_systemd_unit",
        {"T1543.002"},
        ("/files/written/",),
        {"/etc/systemd/system/aasee-implant.service"},
        "Persistence",
    ),
    "authorized-keys": (
        "persistence_ssh_authorized_keys",
        {"T1098.004"},
        ("/files/written/",),
        {"/root/.ssh/authorized_keys"},
        "Persistence",
    ),
    "shadow-read": (
        "credential_shadow_read",
        {"T1003.008"},
        ("/files/read/",),
        {"/etc/shadow"},
        "Credential Access",
    ),
    "ssh-key-read": (
        "credential_ssh_private_keys",
        {"T1552.004"},
        ("/files/read/",),
        {"/root/.ssh/id_ed25519"},
        "Credential Access",
    ),
    "self-delete": (
        "stealth_self_deletion",
        {"T1070.004"},
        ("/files/deleted/",),
        # Its own file, and the helpers run as "sh helper-a.sh" and "python3 helper-b.py".
        {"/tmp/implant.sh", "/tmp/helper-a.sh", "/tmp/helper-b.py"},
        "Stealth",
    ),
    "download-script-run": (
        "execution_download_script_run",
        {"T1059"},
        DOWNLOAD,
        {"/tmp/update.sh"},
        "Execution",
    ),
    "pipe-to-shell": (
        "execution_pipe_to_shell",
        {"T1059.004"},
        DOWNLOAD,
        set(),
        "Execution",
    ),
}


def test_implant_behaviours_really_ran(implant: Run) -> None:
    stdout = implant.report["output"]["stdout"]
    for marker in (
        "persisted",
        "shadow read",
        "key read",
        "downloaded",
        "stage2 ran",
        "pipe stage ran",
        "copy stage ran",
        "script ran",
        "piped script ran",
        "helper-a gone",
        "helper-b gone",
    ):
        assert marker in stdout, (marker, stdout, implant.report["output"]["stderr"])
    assert "self deleted" in stdout


@pytest.mark.parametrize("behaviour", sorted(IMPLANT))
def test_implant_behaviour_gives_signature_and_technique(implant: Run, behaviour: str) -> None:
    sig_id, techniques, where, paths, tactic = IMPLANT[behaviour]
    report = implant.report
    match = _signature(report, sig_id)
    assert techniques <= set(match["techniques"]), match["techniques"]
    assert match["severity"] in ABOVE_LOW, match["severity"]
    named = set()
    for evidence in match["evidence"]:
        assert evidence["ref"].startswith(where), evidence
        record = _resolve(report, evidence["ref"])
        assert _owner(report, evidence["ref"], record) == evidence["process"], evidence
        named |= _named_paths(record)
    assert paths <= named, (paths, match["evidence"])
    for technique_id in techniques:
        technique = _technique(report, technique_id)
        assert sig_id in technique["signatures"], technique
        assert {e["ref"] for e in match["evidence"]} <= set(technique["evidence"]), technique
        assert tactic in technique["tactics"], technique


Chain = list[tuple[str, dict[str, Any]]]


def _kind(ref: str) -> str:
    """``/files/written``, ``/network/http``, ``/processes/N/execs``... of an evidence ref."""
    return re.sub(r"/\d+$", "", re.sub(r"/\d+/", "/N/", ref))


def _chains(report: dict[str, Any], match: dict[str, Any]) -> dict[str, Chain]:
    """The match's evidence cut into chains, each ending with the exec it leads to (by path)."""
    chains: dict[str, Chain] = {}
    current: Chain = []
    for evidence in match["evidence"]:
        record = _resolve(report, evidence["ref"])
        assert _owner(report, evidence["ref"], record) == evidence["process"], evidence
        current.append((_kind(evidence["ref"]), record))
        if _kind(evidence["ref"]) == "/processes/N/execs":
            chains[record["filename"]] = current
            current = []
    assert not current, f"evidence after the last exec: {current}"
    return chains


def _process(report: dict[str, Any], key: str) -> dict[str, Any]:
    return next(p for p in report["processes"] if p["key"] == key)


def _fetcher_of(report: dict[str, Any], chain: Chain, url_path: str) -> str:
    """The process the chain names as fetching ``url_path`` (its HTTP request and connection)."""
    requests = [r for k, r in chain if k == "/network/http"]
    assert [r["path"] for r in requests] == [url_path], chain
    connections = [r for k, r in chain if k == "/network/connections"]
    assert connections and connections[0]["dst_port"] == 80, chain
    assert requests[0]["process"] == connections[0]["process"], chain
    return str(requests[0]["process"])


def _ran(report: dict[str, Any], chain: Chain, path: str) -> None:
    (chmod,) = [r for k, r in chain if k == "/files/chmod"]
    run = chain[-1][1]
    assert chmod["path"] == run["filename"] == path and int(chmod["mode"], 8) & 0o111, chain
    stage = [p for p in report["processes"] if p["image"] == path]
    assert stage and stage[0]["exit_code"] == 0, stage
    dropped = next(d for d in report["dropped"] if d["path"] == path)
    assert dropped["static"] and "ELF" in (dropped["static"]["type"] or ""), dropped


def test_implant_download_chmod_exec_chain(implant: Run) -> None:
    """The fetcher writes the file itself: connection, write, chmod, exec."""
    report = implant.report
    match = _signature(report, "execution_download_chmod_exec")
    assert {"T1105", "T1222.002"} <= set(match["techniques"])
    chain = _chains(report, match)["/tmp/stage2"]
    assert [k for k, _ in chain] == [
        "/network/http",
        "/network/connections",
        "/files/written",
        "/files/chmod",
        "/processes/N/execs",
    ], chain
    fetcher = _fetcher_of(report, chain, "/stage2.bin")
    assert chain[2][1]["path"] == "/tmp/stage2" and chain[2][1]["process"] == fetcher
    _ran(report, chain, "/tmp/stage2")
    # Tactics as ATT&CK v19 files them: T1222 moved from Defense Evasion to Defense Impairment.
    assert "Command and Control" in _technique(report, "T1105")["tactics"]
    assert _technique(report, "T1222.002")["tactics"] == ["Defense Impairment"]


def test_implant_download_written_by_a_pipeline_stage(implant: Run) -> None:
    """``busybox wget -O - URL | cat > /tmp/stage-c``: cat writes, its sibling fetched."""
    report = implant.report
    chain = _chains(report, _signature(report, "execution_download_chmod_exec"))["/tmp/stage-c"]
    assert [k for k, _ in chain] == [
        "/network/http",
        "/network/connections",
        "/files/written",
        "/files/chmod",
        "/processes/N/execs",
    ], chain
    fetcher = _process(report, _fetcher_of(report, chain, "/stage-c.bin"))
    write = chain[2][1]
    writer = _process(report, write["process"])
    assert write["path"] == "/tmp/stage-c" and writer["image"] == "/usr/bin/cat", writer
    assert fetcher["image"] == "/usr/bin/busybox" and fetcher["key"] != writer["key"], fetcher
    assert fetcher["parent"] == writer["parent"], (fetcher, writer)
    assert fetcher["start"] <= writer["start"] <= fetcher["exit"], (fetcher, writer)
    _ran(report, chain, "/tmp/stage-c")


def test_implant_download_copied_by_cp(implant: Run) -> None:
    """``cp /tmp/dl-e /tmp/stage-e`` of a download: the fetcher's write, cp's read and write."""
    report = implant.report
    chain = _chains(report, _signature(report, "execution_download_chmod_exec"))["/tmp/stage-e"]
    assert [k for k, _ in chain] == [
        "/network/http",
        "/network/connections",
        "/files/written",
        "/files/read",
        "/files/written",
        "/files/chmod",
        "/processes/N/execs",
    ], chain
    fetcher = _fetcher_of(report, chain, "/stage-e.bin")
    download, read, copy = chain[2][1], chain[3][1], chain[4][1]
    assert (download["path"], download["process"]) == ("/tmp/dl-e", fetcher), download
    assert read["path"] == "/tmp/dl-e" and copy["path"] == "/tmp/stage-e", (read, copy)
    assert read["process"] == copy["process"] != fetcher
    assert _process(report, copy["process"])["image"] == "/usr/bin/cp"
    assert download["time"] <= read["time"] <= copy["time"], chain
    _ran(report, chain, "/tmp/stage-e")


def test_implant_downloaded_scripts_run_by_sh(implant: Run) -> None:
    """A downloaded file given to sh as its script, and a download piped into sh."""
    report = implant.report
    match = _signature(report, "execution_download_script_run")
    kinds = [(_kind(e["ref"]), _resolve(report, e["ref"])) for e in match["evidence"]]
    assert [k for k, _ in kinds] == [
        "/network/http",
        "/network/connections",
        "/files/written",
        "/processes/N/execs",
    ], kinds
    fetcher = _fetcher_of(report, kinds, "/update.sh")
    assert kinds[2][1]["path"] == "/tmp/update.sh" and kinds[2][1]["process"] == fetcher
    run = kinds[3][1]
    assert run["filename"] == "/usr/bin/sh" and run["argv"] == ["sh", "/tmp/update.sh"], run
    piped = _signature(report, "execution_pipe_to_shell")
    kinds = [(_kind(e["ref"]), _resolve(report, e["ref"])) for e in piped["evidence"]]
    assert [k for k, _ in kinds] == [
        "/network/http",
        "/network/connections",
        "/processes/N/execs",
    ], kinds
    _fetcher_of(report, kinds, "/install.sh")
    assert kinds[2][1]["argv"] == ["sh"], kinds
    assert "Execution" in _technique(report, "T1059")["tactics"]


def test_implant_helpers_deleting_themselves(implant: Run) -> None:
    """Each helper's deletion names the interpreter process whose script it was."""
    report = implant.report
    match = _signature(report, "stealth_self_deletion")
    deleted = {
        _resolve(report, e["ref"])["path"]: _process(report, e["process"])
        for e in match["evidence"]
    }
    rm = deleted["/tmp/helper-a.sh"]
    assert rm["image"] == "/usr/bin/rm", rm
    assert _process(report, rm["parent"])["argv"] == ["sh", "/tmp/helper-a.sh"]
    python = deleted["/tmp/helper-b.py"]
    assert python["argv"] == ["python3", "/tmp/helper-b.py"], python


def test_stager_redirection_and_self_deletion(stager: Run) -> None:
    """No ``#!``: the runner starts ``/bin/sh /tmp/stager.sh``; the shell's redirection writes
    the stage its child busybox fetched."""
    report = stager.report
    stdout = report["output"]["stdout"]
    assert "redirected stage ran" in stdout and "stager deleted" in stdout, (
        stdout,
        report["output"]["stderr"],
    )
    root = report["processes"][0]
    assert root["argv"][-1] == "/tmp/stager.sh", root
    chain = _chains(report, _signature(report, "execution_download_chmod_exec"))["/tmp/stage-j"]
    assert [k for k, _ in chain] == [
        "/network/http",
        "/network/connections",
        "/files/written",
        "/files/chmod",
        "/processes/N/execs",
    ], chain
    fetcher = _process(report, _fetcher_of(report, chain, "/stage-j.bin"))
    assert chain[2][1]["process"] == root["key"] == fetcher["parent"], (chain, fetcher)
    _ran(report, chain, "/tmp/stage-j")
    deletion = _signature(report, "stealth_self_deletion")
    paths = {_resolve(report, e["ref"])["path"] for e in deletion["evidence"]}
    assert "/tmp/stager.sh" in paths, deletion["evidence"]
    assert report["verdict"] == "malicious", (report["score"], report["signatures"])


def test_implant_verdict_and_tactics(implant: Run) -> None:
    report = implant.report
    assert report["verdict"] == "malicious", (report["score"], report["score_details"])
    assert report["score"] >= 6.0
    assert report["attack"]["ids_as_of"] == "19"
    by_id = {t["id"]: t for t in report["attack"]["techniques"]}
    for tactic in report["attack"]["tactics"]:
        for technique_id in tactic["techniques"]:
            assert tactic["name"] in by_id[technique_id]["tactics"], (tactic, technique_id)
    filed = {t for tactic in report["attack"]["tactics"] for t in tactic["techniques"]}
    assert filed == set(by_id)
    # Every evidence ref of every match resolves, including the low and static ones.
    for match in report["signatures"]:
        for evidence in match["evidence"]:
            _resolve(report, evidence["ref"])
    for technique in report["attack"]["techniques"]:
        for ref in technique["evidence"]:
            _resolve(report, ref)


def test_reprocess_gives_the_same_report(implant: Run) -> None:
    """``aasee reprocess`` on the raw artefacts alone rebuilds an identical report.

    Nothing may differ, timestamps included: ``analysis.started``/``ended`` and every
    ``*_utc`` field come from ``run.json`` and the trace, not from the clock at processing
    time, so the expected difference is none.
    """
    first_json = (implant.out / "report.json").read_bytes()
    first_html = (implant.out / "report.html").read_bytes()
    (implant.out / "report.json").unlink()
    (implant.out / "report.html").unlink()
    done = subprocess.run(
        [*AASEE, "reprocess", str(implant.out)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "malicious" in done.stdout, done.stdout
    assert (implant.out / "report.json").read_bytes() == first_json
    assert (implant.out / "report.html").read_bytes() == first_html


def test_benign_work_really_ran(builder: Run) -> None:
    report = builder.report
    stdout = report["output"]["stdout"]
    for marker in (
        "4 sorted.txt",
        "notes OK",
        "local copy ran",
        "inventory.cpython-311.pyc",
        "inventory 4",
        "build done",
    ):
        assert marker in stdout, (marker, stdout, report["output"]["stderr"])
    programs = {Path(p["image"]).name for p in report["processes"] if p["image"]}
    assert {"sort", "wc", "cp", "head", "ls", "date", "tar", "rm", "python3"} <= programs
    compiles = [p["argv"] for p in report["processes"] if p["argv"][1:3] == ["-m", "py_compile"]]
    assert compiles, "the byte-code compiler run is missing from the process tree"
    written = {w["path"] for w in report["files"]["written"] if w["ok"]}
    assert any(re.search(r"/src/__pycache__/inventory\.cpython-\d+\.pyc", p) for p in written)
    assert any(p.endswith("/inventory.json") for p in written), sorted(written)
    read = {r["path"] for r in report["files"]["read"]}
    assert any(p.endswith("/sorted.txt") for p in read), sorted(read)
    # The fetched text went through a pipe into cat's file: the data a download rule follows.
    assert any(h["path"] == "/notes.txt" for h in report["network"]["http"])
    assert any(p.endswith("/notes.txt") for p in written), sorted(written)


def test_benign_work_stays_benign(builder: Run) -> None:
    report = builder.report
    loud = [
        (s["id"], s["severity"], [e["summary"] for e in s["evidence"]])
        for s in report["signatures"]
        if s["severity"] in ABOVE_LOW
    ]
    assert not loud, loud
    assert report["verdict"] == "benign", (report["score"], report["signatures"])
    assert report["score"] < 3.0
