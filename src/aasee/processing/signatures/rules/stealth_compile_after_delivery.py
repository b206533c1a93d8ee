"""Compile after delivery: source compiled on the host and the result run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..base import Signature
from ..commands import Command
from ..facts import command_summary
from ..models import Evidence
from ..query import Found, ReportIndex

COMPILERS = frozenset(
    {"gcc", "cc", "g++", "c++", "clang", "clang++", "tcc", "rustc", "nim", "zig", "gccgo",
     "x86_64-linux-gnu-gcc", "musl-gcc", "go"}
)  # fmt: skip


def _compiler(name: str) -> bool:
    return name in COMPILERS or name.startswith(("gcc-", "clang-", "g++-"))


class CompileAfterDelivery(Signature):
    id = "stealth_compile_after_delivery"
    name = "Compiles a program and runs it"
    description = (
        "A compiler (gcc, cc, clang, tcc, go, rustc...) builds a program that is then run, or "
        "go run / tcc -run compiles and runs at once: source code delivered instead of a "
        "binary, which is harder to flag. Developers do this all day, hence low."
    )
    severity = "low"
    category = "stealth"
    techniques = ("T1027.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        compilers = {
            run.process: run
            for run in ctx.commands()
            if run.item.via == "exec" and _compiler(run.item.name)
        }
        built: dict[str, tuple[Found[Command], Found[Any]]] = {}
        under: dict[str | None, str | None] = {}
        for write in ctx.all_files("written") if compilers else ():
            if write.process not in under:
                under[write.process] = next(
                    (p.key for p in ctx.lineage(write.process) if p.key in compilers), None
                )
            compiler = under[write.process]
            if compiler is not None:
                built.setdefault(write.item.path, (compilers[compiler], write))
        for program in ctx.runs():
            entry = built.get(program.item.path)
            if entry is not None and entry[1].item.time <= program.item.time:
                yield entry[0].evidence(command_summary(entry[0]))
                yield program.evidence(f"{program.item.summary}, built by it")
        for run in ctx.commands("go", "tcc"):
            args = run.item.args
            if (run.item.name == "go" and args[:1] == ("run",)) or "-run" in args:
                yield run.evidence(command_summary(run))
