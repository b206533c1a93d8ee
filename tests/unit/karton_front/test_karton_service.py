"""The AASEE karton service offline: karton's own ``KartonTestCase`` (a mocked backend) and a
fake service facade. Which classifier headers it takes, what it submits, and the tasks it
sends: the analysis with its resources, the sample's tags for karton-mwdb-reporter, and the
dropped files as children of the sample."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from karton.core import Config, RemoteResource, Resource, Task
from karton.core.test import KartonTestCase

from aasee.karton.consumer import (
    ANALYSIS_HEADERS,
    AaseeKarton,
    AnalysisFailed,
    KartonOptions,
    options_from_config,
)
from aasee.karton.results import mwdb_tag, report_comment, report_tags
from aasee.karton.selection import DEPTH_KEY, build_filters, not_runnable
from aasee.service.db import DatabaseError

from .fakes import CRON, PAYLOAD, FakeService, Script, elf, note, report

SCRIPT = b"#!/bin/sh\necho '* * * * * root /tmp/x' > /etc/cron.d/x\nrm -f \"$0\"\n"


def classified(kind: str, extension: str | None, platform: str | None = None) -> dict[str, Any]:
    """Headers exactly as karton-classifier 2.2.0 derives them for a recognised sample."""
    headers: dict[str, Any] = {"type": "sample", "stage": "recognized", "kind": kind}
    headers["quality"] = "high"
    if platform is not None:
        headers["platform"] = platform
    if extension is not None:
        headers["extension"] = extension
    headers["mime"] = "application/octet-stream"
    return headers


# --- filters: which classifier headers reach the service ---------------------------------


@pytest.mark.parametrize(
    ("headers", "taken"),
    [
        # Static ELF files: libmagic says "(SYSV)", the classifier says openbsd.
        (classified("runnable", "elf", "openbsd"), True),
        (classified("runnable", "elf", "linux"), True),
        (classified("runnable", "elf", "freebsd"), True),  # the header check decides
        (classified("runnable", "elf"), True),  # an ELF libmagic gave no OS for
        (classified("script", "sh"), True),
        (classified("script", "py"), True),
        (classified("script", "pl"), True),
        (classified("script", "rb"), False),
        (classified("script", "bat", "win32"), False),
        (classified("script", "ps1", "win32"), False),
        (classified("runnable", "exe", "win32"), False),
        (classified("runnable", "dll", "win64"), False),
        (classified("runnable", "pkg", "macos"), False),
        (classified("document", "pdf", "win32"), False),
        (classified("archive", "zip"), False),
        ({"type": "sample", "kind": "raw"}, False),
        ({"type": "sample", "stage": "unrecognized", "kind": "unknown"}, False),
        ({"type": "sample", "stage": "analyzed", "kind": "runnable", "extension": "elf"}, False),
        ({"type": "analysis", "kind": "aasee"}, False),
    ],
)
def test_filters_take_what_the_classifier_recognised_as_linux(
    headers: dict[str, Any], taken: bool
) -> None:
    assert Task(headers).matches_filters(AaseeKarton.filters) is taken


def test_script_extensions_are_configurable() -> None:
    filters = build_filters(["sh"])
    assert Task(classified("script", "sh")).matches_filters(filters)
    assert not Task(classified("script", "py")).matches_filters(filters)
    assert Task(classified("runnable", "elf", "openbsd")).matches_filters(filters)


# --- the sample's own header --------------------------------------------------------------


@pytest.fixture(scope="module")
def static_elf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is needed: run `make install`")
    folder = tmp_path_factory.mktemp("elf")
    (folder / "hello.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(
        [gcc, "-static", "-O1", "-o", str(folder / "hello"), str(folder / "hello.c")], check=True
    )
    return (folder / "hello").read_bytes()


def test_a_static_linux_elf_is_runnable(static_elf: bytes) -> None:
    assert not_runnable(classified("runnable", "elf", "linux"), static_elf) is None
    # With OS/ABI System V (musl, Go, most IoT bots) libmagic says "(SYSV)", and the
    # classifier "platform: openbsd"; the kernel runs it all the same.
    sysv = static_elf[:7] + b"\0" + static_elf[8:]
    assert not_runnable(classified("runnable", "elf", "openbsd"), sysv) is None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (elf(osabi=0), None),
        (elf(osabi=3), None),  # GNU/Linux
        (elf(osabi=0, e_type=3), None),  # PIE
        (elf(osabi=0, note=note("GNU")), None),
        (elf(osabi=9), "another system (OS/ABI 9)"),  # FreeBSD
        (elf(osabi=12), "another system (OS/ABI 12)"),  # OpenBSD proper
        (elf(osabi=0, note=note("OpenBSD")), "for OpenBSD"),
        (elf(osabi=0, note=note("NetBSD")), "for NetBSD"),
        (elf(osabi=0, e_type=1), "relocatable, not a program"),
        (elf(osabi=0, e_type=4), "core, not a program"),
        (b"MZ\x90\x00" + bytes(100), "not an ELF file"),
        (b"\x7fELF" + bytes(10), "not an ELF file"),
        (b"", "empty"),
    ],
)
def test_runnable_samples_must_be_linux_programs(data: bytes, why: str | None) -> None:
    found = not_runnable(classified("runnable", "elf", "openbsd"), data)
    if why is None:
        assert found is None
    else:
        assert found is not None and why in found


def test_scripts_must_be_text() -> None:
    headers = classified("script", "sh")
    assert not_runnable(headers, SCRIPT) is None
    assert not_runnable(headers, elf()) is None  # an ELF named .sh runs as an ELF
    assert "binary data" in (not_runnable(headers, b"#!/bin/sh\n\0\0\0") or "")
    assert "win32" in (not_runnable({**headers, "platform": "win32"}, SCRIPT) or "")


def test_a_malformed_note_proves_nothing() -> None:
    broken = bytearray(elf(osabi=0, note=note("OpenBSD")))
    broken[64 + 8 : 64 + 16] = (1 << 40).to_bytes(8, "little")  # the notes: far past the end
    assert not_runnable(classified("runnable", "elf"), bytes(broken)) is None


# --- tags -----------------------------------------------------------------------------------


def test_tags_are_valid_mwdb_tags() -> None:
    assert mwdb_tag("Not Executed") == "aasee:not_executed"
    assert mwdb_tag("persistence_cron") == "aasee:persistence_cron"
    assert mwdb_tag("  Weird id / with:colons ") == "aasee:weird_id_with_colons"
    assert mwdb_tag("") == "aasee:unknown"
    tags = report_tags(report())
    assert tags == ["aasee:malicious", "aasee:persistence_cron", "aasee:stealth_self_deletion"]
    for tag in tags:
        assert tag == tag.lower().strip() and " " not in tag


def test_a_sample_that_did_not_run_is_never_benign() -> None:
    assert report_tags(report("not executed", executed=False)) == ["aasee:not_executed"]
    # Whatever verdict a report carries, a run that did not execute says so.
    assert report_tags(report("benign", executed=False)) == ["aasee:not_executed"]
    comment = report_comment(report("not executed", executed=False), "t-1", None)
    assert "not executed" in comment and "/bin/zsh is missing" in comment
    assert "benign" not in comment


def test_the_comment_links_the_report() -> None:
    comment = report_comment(report(), "t-1", "http://aasee.example:8000/")
    assert comment.startswith("AASEE analysis t-1: verdict malicious, score 8.5/10")
    assert "Installs a cron job" in comment
    assert comment.endswith("report: http://aasee.example:8000/analyses/t-1")


# --- options ----------------------------------------------------------------------------------


def test_options_come_from_the_aasee_section(tmp_path: Path) -> None:
    ini = tmp_path / "karton.ini"
    ini.write_text(
        "[s3]\naddress = http://127.0.0.1:9\n[redis]\nhost = 127.0.0.1\n"
        "[aasee]\ntimeout = 20\nmax_depth = 1\nscripts = sh, PY\nreport_url = http://x\n"
    )
    config = Config(str(ini))
    options = options_from_config(config)
    assert options == KartonOptions(
        timeout=20, max_depth=1, scripts=("sh", "py"), report_url="http://x"
    )
    assert options_from_config(config, timeout=5.0, max_depth=None).timeout == 5.0
    ini.write_text(ini.read_text() + "max_dept = 2\n")
    with pytest.raises(ValueError, match=r"\[aasee\].*max_dept"):
        options_from_config(Config(str(ini)))


# --- processing, with karton's test case ------------------------------------------------------


class AaseeKartonCase(KartonTestCase):
    karton_class = AaseeKarton
    options = KartonOptions(timeout=20, poll_seconds=0.01)

    def setUp(self) -> None:
        folder = tempfile.mkdtemp(prefix="aasee-karton-unit-")
        self.addCleanup(shutil.rmtree, folder, True)
        self.service = FakeService(Path(folder))
        self.kwargs = {"service": self.service, "options": self.options, "sleep": _no_sleep}
        super().setUp()

    def sample_task(
        self,
        data: bytes = SCRIPT,
        name: str = "dropper.sh",
        headers: dict[str, Any] | None = None,
        **payload: Any,
    ) -> Task:
        return Task(
            headers or classified("script", "sh"),
            payload={"sample": Resource(name, content=data), "tags": ["script:sh"], **payload},
        )

    def content(self, resource: Any) -> bytes:
        """What a sent resource holds in the mocked S3."""
        return self.backend.buckets[resource.bucket][resource.uid]


def _no_sleep(_seconds: float) -> None:
    pass


class TestAnalysis(AaseeKartonCase):
    def test_a_script_is_analysed_and_its_results_sent(self) -> None:
        incoming = self.sample_task()
        sent = self.run_task(incoming)

        [submission] = self.service.submissions
        assert submission.data == SCRIPT and submission.filename == "dropper.sh"
        assert submission.options.timeout == 20 and submission.options.network == "fake"
        assert self.service.gets >= 2  # it waited for "reported"

        analysis, analyzed, *children = sent
        task_id = next(iter(self.service.views))
        # The analysis, with its files as resources.
        assert analysis.headers == {**ANALYSIS_HEADERS, "origin": "karton.aasee"}
        assert analysis.get_payload("aasee_task") == task_id
        assert analysis.get_payload("verdict") == "malicious"
        assert analysis.get_payload("score") == 8.5
        assert analysis.get_payload("signatures") == ["persistence_cron", "stealth_self_deletion"]
        assert analysis.get_resource("sample").sha256 == hashlib.sha256(SCRIPT).hexdigest()
        report_json = analysis.get_resource("report.json")
        assert b'"persistence_cron"' in self.content(report_json)
        assert self.content(analysis.get_resource("report.html")).startswith(b"<html>")
        assert self.content(analysis.get_resource("network.pcap")).startswith(b"\xd4\xc3\xb2\xa1")
        dropped = analysis.get_payload("dropped")
        assert [d.name for d in dropped] == [".cache-update.bak", "cache-update"]  # not empty
        assert [self.content(d) for d in dropped] == [PAYLOAD, CRON]
        assert dropped[0].metadata["guest_paths"] == ["/tmp/.cache-update.bak"]
        assert dropped[0].sha256 == hashlib.sha256(PAYLOAD).hexdigest()

        # The sample's tags and comment, the way karton-mwdb-reporter takes them.
        assert analyzed.headers == {"type": "sample", "stage": "analyzed", "origin": "karton.aasee"}
        assert analyzed.get_resource("sample").uid == incoming.get_resource("sample").uid
        assert analyzed.get_payload("tags") == [
            "aasee:malicious",
            "aasee:persistence_cron",
            "aasee:stealth_self_deletion",
        ]
        [comment] = analyzed.get_payload("comments")
        assert comment.startswith(f"AASEE analysis {task_id}: verdict malicious")

        # Every dropped file: a raw sample whose parent is the analysed one.
        assert len(children) == 2
        expected_paths = ["/tmp/.cache-update.bak", "/etc/cron.d/cache-update"]
        for child, expected, path in zip(children, [PAYLOAD, CRON], expected_paths, strict=True):
            assert child.headers == {"type": "sample", "kind": "raw", "origin": "karton.aasee"}
            resource = child.get_resource("sample")
            assert isinstance(resource, RemoteResource)
            assert resource.content == expected  # the object the analysis task uploaded
            assert resource.sha256 == hashlib.sha256(expected).hexdigest()
            parent = child.get_resource("parent")
            assert parent.uid == incoming.get_resource("sample").uid
            assert parent.sha256 == hashlib.sha256(SCRIPT).hexdigest()
            assert child.get_payload("tags") == ["aasee:dropped"]
            assert child.get_payload(DEPTH_KEY) == 1
            assert path in child.get_payload("comments")[0]
            assert child.parent_uid == analyzed.parent_uid  # children of the incoming task
        assert {r.uid for r in dropped} == {c.get_resource("sample").uid for c in children}

    def test_a_static_elf_labelled_openbsd_is_analysed(self) -> None:
        sample = elf(osabi=0)
        sent = self.run_task(
            self.sample_task(sample, "bot", classified("runnable", "elf", "openbsd"))
        )
        assert [s.data for s in self.service.submissions] == [sample]
        assert sent[0].headers["type"] == "analysis"

    def test_an_elf_for_another_system_is_not_submitted(self) -> None:
        sent = self.run_task(
            self.sample_task(elf(osabi=9), "bsd", classified("runnable", "elf", "freebsd"))
        )
        assert sent == [] and self.service.submissions == []

    def test_a_task_timeout_is_honoured_within_the_services_maximum(self) -> None:
        self.run_task(self.sample_task(timeout=7))
        self.run_task(self.sample_task(data=SCRIPT + b"#\n", timeout=10_000))
        assert [s.options.timeout for s in self.service.submissions] == [7, 600]

    def test_a_sample_that_did_not_run_is_tagged_so(self) -> None:
        self.service.script = Script(report=report("not executed", executed=False), dropped={})
        analysis, analyzed = self.run_task(self.sample_task())
        assert analyzed.get_payload("tags") == ["aasee:not_executed"]
        assert analysis.get_payload("verdict") == "not executed"
        assert analysis.get_payload("dropped") == []

    def test_dropped_files_are_not_analysed_again_by_default(self) -> None:
        sent = self.run_task(self.sample_task(**{DEPTH_KEY: 1}))
        assert sent == [] and self.service.submissions == []

    def test_max_depth_lets_dropped_files_be_analysed(self) -> None:
        self.karton.options = KartonOptions(max_depth=1, poll_seconds=0.01)
        sent = self.run_task(self.sample_task(**{DEPTH_KEY: 1}))
        assert len(self.service.submissions) == 1
        assert {c.get_payload(DEPTH_KEY) for c in sent[2:]} == {2}


class TestFailures(AaseeKartonCase):
    def test_a_failed_analysis_sends_nothing_and_says_why(self) -> None:
        self.service.script = Script(statuses=["pending", "failed"], reason="the guest died")
        with pytest.raises(AnalysisFailed, match=r"AASEE task .* failed: the guest died"):
            self.run_task(self.sample_task())
        assert self.backend.produced_tasks == []

    def test_a_refused_sample_sends_nothing(self) -> None:
        self.service.script = Script(refuse="no guest runs MIPS 64-bit big-endian programs")
        with pytest.raises(AnalysisFailed, match=r"AASEE refused sample dropper.sh: no guest"):
            self.run_task(self.sample_task())
        assert self.backend.produced_tasks == []

    def test_a_reported_task_without_a_report_fails(self) -> None:
        self.service.script = Script(report=None, dropped={})
        with pytest.raises(AnalysisFailed, match="no report.json"):
            self.run_task(self.sample_task())
        assert self.backend.produced_tasks == []

    def test_the_wait_is_bounded(self) -> None:
        self.service.script = Script(statuses=["pending"] * 1000)
        self.karton.options = KartonOptions(wait_seconds=0.2, poll_seconds=0.01)
        self.karton._sleep = time.sleep
        started = time.monotonic()
        with pytest.raises(AnalysisFailed, match=r"still pending after 0 s .*restart"):
            self.run_task(self.sample_task())
        assert time.monotonic() - started < 5
        assert self.backend.produced_tasks == []

    def test_the_default_wait_covers_the_longest_run(self) -> None:
        settings = self.service.settings
        assert self.karton._wait_limit() == (
            settings.max_timeout + settings.run_grace_seconds + settings.postprocess_timeout_seconds
        )

    def test_a_database_away_for_a_while_does_not_end_the_wait(self) -> None:
        real_get = self.service.get
        calls: list[str] = []

        def flaky_get(task_id: str) -> Any:
            calls.append(task_id)
            if len(calls) == 2:
                raise DatabaseError("database unreachable: connection refused")
            return real_get(task_id)

        self.service.get = flaky_get  # type: ignore[method-assign]
        sent = self.run_task(self.sample_task())
        assert sent[0].headers["type"] == "analysis" and len(calls) >= 3

    def test_stopping_ends_the_wait(self) -> None:
        self.service.script = Script(statuses=["pending"] * 1000)
        self.karton._shutdown = True
        with pytest.raises(AnalysisFailed, match="stopped while AASEE task .* was pending"):
            self.run_task(self.sample_task())

    def test_a_sample_too_large_is_refused_before_download(self) -> None:
        self.service.settings = self.service.settings.model_copy(update={"max_upload_bytes": 8})
        with pytest.raises(AnalysisFailed, match="exceeds the service's limit of 8 bytes"):
            self.run_task(self.sample_task())
        assert self.service.submissions == []
