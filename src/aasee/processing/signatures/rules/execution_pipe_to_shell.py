"""Download-and-run in one line: ``curl ... | sh``, ``wget -O- ... | bash``, ``base64 -d | sh``,
``bash -c "$(curl ...)"``."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..commands import Command, is_interpreter
from ..models import Evidence
from ..query import ReportIndex

FETCHERS = frozenset({"curl", "wget", "fetch", "tftp", "lwp-download", "GET"})
DECODERS = frozenset({"base64", "base32", "xxd", "openssl", "uudecode", "gzip", "gunzip", "zcat"})
SUBSTITUTED = re.compile(r"(\$\(|`|<\()\s*(curl|wget|fetch)\b")


def _feeds_code(command: Command) -> bool:
    if command.name in FETCHERS:
        return True
    decoding = {"-d", "--decode", "-r", "-D", "enc", "-dc"} & set(command.args)
    return command.name in DECODERS and bool(decoding)


class PipeToShell(Signature):
    id = "execution_pipe_to_shell"
    name = "Pipes downloaded or decoded code into an interpreter"
    description = (
        "A shell command line that pipes curl/wget output, or base64/xxd-decoded data, into "
        "sh, bash, python or perl, or runs the output of curl/wget through $(...): code "
        "fetched or unpacked and run without ever being a file."
    )
    severity = "high"
    category = "execution"
    techniques = ("T1059.004", "T1105")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        pipelines: dict[tuple[str, int], list[Command]] = {}
        refs = {}
        for run in ctx.commands():
            if run.item.via == "shell":
                key = (run.ref, run.item.pipeline)
                pipelines.setdefault(key, []).append(run.item)
                refs[key] = run
        for key, stages in pipelines.items():
            fed = False
            for command in sorted(stages, key=lambda c: c.stage):
                if fed and is_interpreter(command.name):
                    line = " | ".join(c.line for c in sorted(stages, key=lambda c: c.stage))
                    yield refs[key].evidence(f"ran {line}")
                    break
                fed = fed or _feeds_code(command)
        for code in ctx.inline_code():
            if code.item.language == "sh" and SUBSTITUTED.search(code.item.code):
                yield code.evidence(
                    f"{code.item.command.name} runs the output of: {code.item.code}"
                )
