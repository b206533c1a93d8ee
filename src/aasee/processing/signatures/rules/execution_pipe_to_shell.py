"""Download-and-run in one line: ``curl ... | sh``, ``wget -O- ... | bash``, ``base64 -d | sh``,
``bash -c "$(curl ...)"``: read from a shell's ``-c`` text, or seen in the process tree (an
interpreter reading its program from a pipe an earlier sibling fills)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..base import Signature
from ..commands import Command, is_interpreter, program_name, program_source
from ..models import Evidence
from ..query import ReportIndex

if TYPE_CHECKING:
    from ...models import Process

FETCHERS = frozenset({"curl", "wget", "fetch", "tftp", "lwp-download", "GET"})
DECODERS = frozenset({"base64", "base32", "xxd", "openssl", "uudecode", "gzip", "gunzip", "zcat"})
SUBSTITUTED = re.compile(r"(\$\(|`|<\()\s*(curl|wget|fetch)\b")


def _feeds_code(command: Command) -> bool:
    if command.name in FETCHERS:
        return True
    decoding = {"-d", "--decode", "-r", "-D", "enc", "-dc"} & set(command.args)
    return command.name in DECODERS and bool(decoding)


def _decoder(process: Process) -> Command | None:
    """The decoding command (base64 -d, xxd -r...) the process ran, if any."""
    for record in process.execs:
        command = Command(*program_name(record.filename, record.argv))
        if command.name in DECODERS and _feeds_code(command):
            return command
    return None


class PipeToShell(Signature):
    id = "execution_pipe_to_shell"
    name = "Pipes downloaded or decoded code into an interpreter"
    description = (
        "A shell command line that pipes curl/wget output, or base64/xxd-decoded data, into "
        "sh, bash, python or perl, or runs the output of curl/wget through $(...); or an "
        "interpreter reading its program from standard input while an earlier sibling that "
        "prints what it downloaded or decoded is running (the same pipeline, written in a "
        "script file): code fetched or unpacked and run without ever being a file."
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
        yield from self._piped_interpreters(ctx)

    def _piped_interpreters(self, ctx: ReportIndex) -> Iterator[Evidence]:
        last_exec = {run.process: run for run in ctx.execs()}
        for process in ctx.report.processes:
            run = last_exec.get(process.key)
            if run is None or process.start is None:
                continue
            name, args = program_name(run.item.filename, run.item.argv)
            source = program_source(name, args)
            if source is None or source.kind != "stdin":
                continue
            piped = ctx.provenance.piped_into(process.key)
            if piped is not None:
                feeder, origin = piped
                for step in origin.steps:
                    yield step.found.evidence(step.summary)
                yield run.evidence(
                    f"{name} ran as its program what {ctx.provenance.label(feeder)} "
                    "downloaded, through a pipe"
                )
                continue
            for sibling in ctx.children(process.parent):
                decoder = _decoder(sibling)
                running = sibling.start is not None and sibling.start <= process.start
                ended = sibling.exit is not None and sibling.exit < process.start
                if decoder is not None and sibling is not process and running and not ended:
                    yield run.evidence(
                        f"{name} ran as its program the output of {decoder.line} "
                        f"(pid {sibling.pid}) through a pipe"
                    )
                    break
