"""Code passed on a command line: ``sh -c``, ``python -c``, ``perl -e`` and the like."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex


class InlineInterpreter(Signature):
    id = "execution_inline_interpreter"
    name = "Runs code given on a command line"
    description = (
        "Starts a shell with -c, python with -c, perl/ruby/node with -e or php with -r: code "
        "that exists only on the command line. Programs call system() this way all the "
        "time, hence low; what the code does is judged by the other signatures."
    )
    severity = "low"
    category = "execution"
    techniques = ("T1059",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.inline_code():
            code = found.item
            yield found.evidence(f"{code.command.name} runs inline {code.language}: {code.code}")
