"""Benchmark: throughput of the static analysis of one large file, against hashing alone in
the same run (the least any analysis must do: read the file and hash it).

The file is built from the machine's own programs (so strings, sections and YARA atoms are
as dense as in real binaries) laid end to end behind a real ELF header, topped up with
random bytes. Also times each part on the analysed bytes, and a file larger than the
analysis cap, to show the cost stays bounded. Times are the best of ``--runs``.

    python bench/static.py [--size-mb 64] [--runs 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aasee.processing.static import YaraRules, analyse_file, load_rules
from aasee.processing.static.elf import analyse_elf
from aasee.processing.static.entropy import shannon_entropy
from aasee.processing.static.hashes import Hasher
from aasee.processing.static.strings import analyse_strings

SOURCES = [
    "/usr/bin/python3",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/bin/perl",
    "/bin/bash",
    "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
]


def build(path: Path, size: int) -> None:
    pieces = [Path(p).resolve().read_bytes() for p in SOURCES if Path(p).exists()]
    with open(path, "wb") as handle:
        written = 0
        while written < size * 3 // 4 and pieces:
            for piece in pieces:
                handle.write(piece[: size - written])
                written += min(len(piece), size - written)
        handle.write(os.urandom(size - written))


def hash_only(path: Path) -> None:
    hasher = Hasher()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            hasher.update(chunk)
    hasher.digests()


def best(run: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def time_parts(data: bytes, rules: YaraRules, runs: int) -> dict[str, float]:
    return {
        "entropy_s": best(lambda: shannon_entropy(data), runs),
        "elf_s": best(lambda: analyse_elf(data, [], None), runs),
        "strings_s": best(lambda: analyse_strings(data), runs),
        "yara_s": best(lambda: rules.scan(data, []), runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    size = args.size_mb << 20
    rules = load_rules()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.bin"
        build(path, size)
        hashing = best(lambda: hash_only(path), args.runs)
        analysis = best(lambda: analyse_file(path, rules=rules), args.runs)
        parts = time_parts(path.read_bytes(), rules, args.runs)
        result = analyse_file(path, rules=rules)
        # Three times the analysis cap: hashing grows with the file, the rest must not.
        huge = Path(tmp) / "huge.bin"
        with open(huge, "wb") as handle:
            for _ in range(3):
                handle.write(path.read_bytes())
        huge_hashing = best(lambda: hash_only(huge), 1)
        huge_analysis = best(lambda: analyse_file(huge, rules=rules, max_bytes=size), 1)
    mb = size / (1 << 20)
    report = {
        "file_mb": round(mb, 1),
        "hash_only_mb_s": round(mb / hashing, 1),
        "analyse_file_mb_s": round(mb / analysis, 1),
        "analyse_over_hash_time": round(analysis / hashing, 2),
        "parts_s": {k: round(v, 3) for k, v in parts.items()},
        "strings_found": result.strings.count,
        "errors": result.errors,
        "file_3x_cap_mb": round(3 * mb, 1),
        "file_3x_cap_hash_s": round(huge_hashing, 3),
        "file_3x_cap_analyse_s": round(huge_analysis, 3),
        "runs": args.runs,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
