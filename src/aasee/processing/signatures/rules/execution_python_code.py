"""Python code run from a command line, standard input or a temporary place."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..commands import program_name, program_source
from ..facts import TEMP_DIRS
from ..models import Evidence
from ..query import ReportIndex


class PythonCode(Signature):
    id = "execution_python_code"
    name = "Runs Python code from a command line, a pipe or a temporary place"
    description = (
        "Starts python with -c code, with its program read from standard input (python3 -, "
        "curl ... | python3), or with a script under /tmp, /var/tmp or /dev/shm: Python used "
        "to run code that was never installed. Common in ordinary work too, hence low."
    )
    severity = "low"
    category = "execution"
    techniques = ("T1059.006",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.execs():
            name, args = program_name(run.item.filename, run.item.argv)
            if not name.startswith("python"):
                continue
            source = program_source(name, args)
            if source is None:
                continue
            if source.kind == "code":
                yield run.evidence(f"{name} runs inline code: {source.value}")
            elif source.kind == "stdin" and args:
                yield run.evidence(f"{name} reads its program from standard input")
            elif source.kind == "file" and source.value.startswith(TEMP_DIRS):
                yield run.evidence(f"{name} runs {source.value}")
