"""Decoded code run: a file written by a decoder (base64 -d, xxd -r, openssl -d...) is then
executed or handed to an interpreter, or decoded text is given to a shell with -c or eval."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..base import Signature
from ..commands import Command, program_name
from ..facts import SHELL_NAMES, command_summary, decodes, file_summary
from ..models import Evidence
from ..query import Found, ReportIndex

SUBSTITUTED_DECODE = re.compile(
    r"(\$\(|`)[^`]*\b(base64|base32|basenc|xxd|openssl|uudecode|gpg)\b[^`]*\s(-d|--decode|-r|-D)\b"
)
EXEC_DECODED = re.compile(
    r"\b(exec|eval|compile|system|os\.system|subprocess\.\w+|Popen)\s*\(.*"
    r"(b64decode|b32decode|unhexlify|fromhex|codecs\.decode|decode_base64|base64_decode|"
    r"zlib\.decompress|marshal\.loads)",
    re.DOTALL,
)
REDIRECT_GAP = 0.05


class DecodedPayloadRun(Signature):
    id = "execution_decoded_payload_run"
    name = "Runs code it decoded"
    description = (
        "A file written by a decoder (base64 -d, xxd -r, openssl -d, uudecode; the decoder's "
        "own output or a shell redirection of it) is executed or given to an interpreter; or "
        'a shell is given decoded text to run (sh -c "$(echo ... | base64 -d)", eval '
        '"$(... | base64 -d)"); or python/perl code executes what it decoded: an encoded '
        "payload unpacked and run."
    )
    severity = "high"
    category = "execution"
    techniques = ("T1140", "T1027", "T1059.004")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        decoded = self._decoded_files(ctx)
        for program in ctx.runs():
            write = decoded.get(program.item.path)
            if write is not None and write[0].item.time <= program.item.time:
                found, decoder = write
                yield found.evidence(f"{file_summary(found)} (output of {decoder.line})")
                yield program.evidence(f"{program.item.summary}, decoded data")
        for run in ctx.shell_commands(*SHELL_NAMES, "eval"):
            if any(SUBSTITUTED_DECODE.search(arg) for arg in run.item.args):
                yield run.evidence(command_summary(run) + ": decoded text run as code")
        for code in ctx.inline_code():
            if code.item.language in ("python", "perl", "php", "ruby", "node"):
                if EXEC_DECODED.search(code.item.code):
                    yield code.evidence(
                        f"{code.item.command.name} runs what it decodes: {code.item.code}"
                    )

    @staticmethod
    def _decoded_files(ctx: ReportIndex) -> dict[str, tuple[Found[Any], Command]]:
        """Paths written with decoded data, and the decoder that produced it."""
        decoders: dict[str, Command] = {}
        for process in ctx.report.processes:
            for record in process.execs:
                command = Command(*program_name(record.filename, record.argv))
                if decodes(command):
                    decoders[process.key] = command
        found: dict[str, tuple[Found[Any], Command]] = {}
        # Without a decoder no write holds decoded data.
        for write in ctx.all_files("written") if decoders else ():
            if write.item.ok is False:
                continue
            decoder = decoders.get(write.process or "")
            if decoder is None:
                # A shell's redirection: the shell opens the file, then forks the decoder.
                following = ctx.started_after(write.process, write.item.time, REDIRECT_GAP)
                if following:
                    decoder = decoders.get(following[0].key)
            if decoder is not None:
                found.setdefault(write.item.path, (write, decoder))
        return found
