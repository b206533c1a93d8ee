"""The HTML report's architecture facts, the ABI of processes that left the guest's own, and
the banner of a sample that was not executed (hostile reasons stay inert)."""

from __future__ import annotations

from html_check import assert_inert
from html_reports import HOSTILE, basic_report, hostile_dict, rich_dict

from aasee.processing.html import render_html
from aasee.processing.models import Report


def test_architecture_facts() -> None:
    data = rich_dict()
    data["analysis"]["arch"] = "mips"
    data["analysis"]["sample_arch"] = "MIPS (MIPS 32-bit big-endian)"
    for proc in data["processes"]:
        proc["abi"] = "mips-o32"
    text = assert_inert(render_html(Report.model_validate(data))).text_content
    assert "architecture" in text and "MIPS (MIPS 32-bit big-endian)" in text
    assert "syscall ABIs" in text and "mips-o32" in text
    assert "mips-o32 ABI" not in text  # the guest's own ABI is not flagged per process


def test_process_in_another_abi_is_flagged() -> None:
    data = rich_dict()
    data["processes"][-1]["abi"] = "i386"
    text = assert_inert(render_html(Report.model_validate(data))).text_content
    assert "i386 ABI" in text
    assert "x86_64, i386" not in text and "i386, x86_64" in text


def test_basic_report_shows_the_default_architecture() -> None:
    text = assert_inert(render_html(basic_report())).text_content
    assert "architecture" in text and "x86_64" in text
    assert "not executed" not in text


def test_not_executed_banner() -> None:
    data = rich_dict()
    data["analysis"]["executed"] = False
    data["analysis"]["not_executed_reason"] = (
        "its program interpreter /lib/ld-musl-mips.so.1 is missing."
    )
    data["verdict"] = "not executed"
    data["score"] = None
    page = assert_inert(render_html(Report.model_validate(data)))
    text = page.text_content
    assert "The sample was not executed." in text
    assert "/lib/ld-musl-mips.so.1 is missing. Nothing below" in text
    assert "not executed" in text
    assert any(a.get("class") == "badge v-not-executed" for a in page.all("span"))
    assert any(a.get("class") == "banner not-executed" for a in page.all("p"))


def test_hostile_reason_and_architecture_are_inert() -> None:
    data = hostile_dict()
    data["analysis"]["executed"] = False
    data["analysis"]["not_executed_reason"] = HOSTILE
    data["verdict"] = "not executed"
    data["score"] = None
    html = render_html(Report.model_validate(data))
    assert_inert(html)
    assert "<script>window" not in html
