"""Display text rules and JSON Pointer handling of the HTML report."""

from __future__ import annotations

import pytest
from html_reports import rich_report

from aasee.processing.html.pointers import PointerError, anchor, parse_pointer, resolve
from aasee.processing.html.textfmt import display, display_block


class TestDisplay:
    def test_invisible_and_control_characters_become_escapes(self) -> None:
        assert display("a\u202eb\u2066c\u200dd\ufeffe") == "a\\u202eb\\u2066c\\u200dd\\ufeffe"
        assert display("x\x1b[2J\x00\x7f\x9b") == "x\\x1b[2J\\x00\\x7f\\x9b"
        assert display("tag\U000e0041") == "tag\\U000e0041"
        assert display("line\nbreak\ttab") == "line\\x0abreak\\x09tab"

    def test_undecodable_bytes_stay_visible(self) -> None:
        assert display("bad\udcff") == "bad\\xff"

    def test_long_text_is_cut_and_counted(self) -> None:
        assert display("a" * 250, 200) == "a" * 200 + "… [+50 characters]"
        assert display(None) == ""

    def test_markup_is_left_for_autoescape(self) -> None:
        assert display("<b>&amp;</b>") == "<b>&amp;</b>"

    def test_blocks_keep_lines(self) -> None:
        assert display_block("a\r\nb\tc\rd\x1b", 100) == "a\nb\tc\\x0dd\\x1b"
        assert display_block("x" * 20, 10).endswith("\n… [+10 characters not shown]")


class TestPointers:
    def test_parse(self) -> None:
        assert parse_pointer("") == []
        assert parse_pointer("/files/written/3") == ["files", "written", "3"]
        assert parse_pointer("/a~1b/c~0d") == ["a/b", "c~d"]
        for bad in ("files/written", "/" + "a/" * 40, "/" + "x" * 600):
            with pytest.raises(PointerError):
                parse_pointer(bad)

    def test_anchors_are_safe_and_distinct(self) -> None:
        tokens = ["a-b", "a/b", "a_b", "a__b", "a_2d_b", 'a"b', "a b", "<x>"]
        names = {anchor("t", token) for token in tokens}
        assert len(names) == len(tokens)
        assert all(name.replace("-", "").replace("_", "").isalnum() for name in names)
        assert anchor("files", "written", 3) == "r-files-written-3"

    def test_resolve(self) -> None:
        report = rich_report()
        assert resolve(report, ["files", "written", "0", "path"]) == "/tmp/hello.txt"
        assert resolve(report, ["analysis", "timings", "run"]) == 30.0
        for bad in (
            ["nope"],
            ["files", "written", "9"],
            ["files", "written", "01"],
            ["sample", "name", "x"],
            ["processes", "-1"],
        ):
            with pytest.raises(PointerError):
                resolve(report, bad)
