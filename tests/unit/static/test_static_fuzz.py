"""Malformed input: real ELF and PE files cut short and corrupted at many offsets must never
make the analysis raise, and what it reports must still match the schema."""

from __future__ import annotations

import json
import random
import struct
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from aasee.processing.report import load_schema
from aasee.processing.static import YaraRules, analyse_bytes
from aasee.processing.static.elf import analyse_elf
from aasee.processing.static.pe import MAX_DLLS, MAX_PE_SECTIONS, analyse_pe

from .builders import E_SHNUM, E_SHOFF, E_SHSTRNDX, PeSpec, build_pe, with_field
from .conftest import Programs


def variants(data: bytes, seed: int, count: int, hot: int, start: int = 0) -> list[bytes]:
    """Truncations at spread offsets, then random corruptions, most in the ``hot`` bytes from
    ``start`` (where headers are)."""
    rng = random.Random(seed)
    hot = min(hot, len(data) - start)
    cuts = sorted({*range(0, min(hot, len(data)), 61), *rng.sample(range(len(data)), 40)})
    found = [data[:cut] for cut in cuts]
    while len(found) < count:
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            where = start + rng.randrange(hot) if rng.random() < 0.7 else rng.randrange(len(data))
            mutated[where] = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        if rng.random() < 0.3:  # a field set to an extreme 32-bit value
            where = start + rng.randrange(0, hot - 4, 2)
            mutated[where : where + 4] = rng.choice((b"\xff\xff\xff\xff", b"\x00\x00\x00\x80"))
        found.append(bytes(mutated))
    return found


@pytest.mark.timeout(300)
def test_elf_parser_on_mutated_programs(programs: Programs) -> None:
    # The static program is 50 times larger (and costs as much more per variant): fewer.
    for source, seed, count in (
        (programs.dynamic, 1, 700),
        (programs.shared, 3, 700),
        (programs.static, 2, 150),
    ):
        data = source.read_bytes()
        outcomes = {"parsed": 0, "refused": 0, "with errors": 0}
        section_table = struct.unpack_from("<Q", data, E_SHOFF)[0]
        tables = variants(data, seed + 10, count // 2, len(data) - section_table, section_table)
        for variant in variants(data, seed, count, 4096) + tables:
            errors: list[str] = []
            info = analyse_elf(variant, errors)
            outcomes["refused" if info is None else "parsed"] += 1
            outcomes["with errors"] += bool(errors)
        # The variants reach the error paths, and most still give headers.
        assert outcomes["refused"] > 0 and outcomes["with errors"] > 20, outcomes
        assert outcomes["parsed"] > count // 2, outcomes


@pytest.mark.timeout(300)
def test_pe_parser_on_mutated_images() -> None:
    count = 700
    for seed, spec in enumerate((PeSpec(), PeSpec(bits=32, dll=True))):
        data = build_pe(spec)
        clean = analyse_pe(data, [])
        assert clean is not None and clean.imports and clean.sections
        outcomes = {"parsed": 0, "refused": 0, "with errors": 0, "with imports": 0}
        for variant in variants(data, seed, count, 0x600):
            errors: list[str] = []
            info = analyse_pe(variant, errors)
            outcomes["refused" if info is None else "parsed"] += 1
            outcomes["with errors"] += bool(errors)
            outcomes["with imports"] += bool(info is not None and info.imports)
            if info is not None:  # hostile headers give bounded facts
                assert len(info.sections) <= MAX_PE_SECTIONS and len(info.imports) <= MAX_DLLS
        # The variants reach the error paths, and most still give headers and imports.
        assert outcomes["refused"] > 0 and outcomes["with errors"] >= 5, outcomes
        assert outcomes["parsed"] > count // 2, outcomes
        assert outcomes["with imports"] > count // 2, outcomes


@pytest.mark.timeout(300)
def test_whole_analysis_on_mutated_files(programs: Programs, rules: YaraRules) -> None:
    schema: dict[str, Any] = {"$ref": "#/$defs/StaticAnalysis", "$defs": load_schema()["$defs"]}
    validator = Draft202012Validator(schema)
    inputs = variants(programs.dynamic.read_bytes(), 7, 60, 4096) + variants(
        build_pe(), 8, 60, 0x600
    )
    for variant in inputs:
        analysis = analyse_bytes(variant, name="fuzzed", rules=rules)
        assert not list(validator.iter_errors(json.loads(analysis.model_dump_json())))


def test_self_linked_and_unterminated_tables(programs: Programs) -> None:
    data = programs.dynamic.read_bytes()
    # The section name table and the dynamic string table moved to 1 MiB without a NUL: a
    # reader that stops only at NUL would read to the end for every name.
    shoff, shstrndx = (
        struct.unpack_from("<Q", data, E_SHOFF)[0],
        struct.unpack_from("<H", data, E_SHSTRNDX)[0],
    )
    hostile = with_field(data, shoff + shstrndx * 64 + 24, "<Q", len(data))
    dynstr = next(s for s in analyse_elf(data, []).sections if s.name == ".dynstr")  # type: ignore[union-attr]
    index = next(
        i
        for i in range(64)
        if struct.unpack_from("<Q", data, shoff + i * 64 + 24)[0] == dynstr.offset
    )
    hostile = with_field(hostile, shoff + index * 64 + 24, "<Q", len(data)) + b"A" * (1 << 20)
    errors: list[str] = []
    info = analyse_elf(hostile, errors)
    assert info is not None and info.sections and {s.name for s in info.sections} == {"A" * 256}
    assert info.imported_functions == ["A" * 256]
    # Section headers pointing into the program headers: garbage, but bounded garbage.
    shifted = with_field(with_field(data, E_SHOFF, "<Q", 0x40), E_SHNUM, "<H", 200)
    info = analyse_elf(shifted, errors)
    assert info is not None and len(info.sections) <= 200
