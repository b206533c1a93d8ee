"""Exfiltration over an encrypted protocol other than the C2 channel: data piped into ssh,
openssl s_client, ncat --ssl or socat OPENSSL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..base import Signature
from ..commands import Command, program_name
from ..facts import command_summary, operands
from ..models import Evidence
from ..query import ReportIndex

if TYPE_CHECKING:
    from ...models import Process

SSH_VALUED = frozenset({"-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m",
                        "-O", "-o", "-p", "-Q", "-R", "-S", "-W", "-w", "-B"})  # fmt: skip
REMOTE_SINK = re.compile(r"\bcat\s*>|\bdd\s+.*\bof=|\btee\b|\btar\s+-?x|\bbase64\s+-d.*>|>\s*\S")
READERS = frozenset({"tar", "cat", "gzip", "zip", "openssl", "base64", "dd", "cpio", "xz",
                     "bzip2", "zstd", "gpg", "7z"})  # fmt: skip
PIPE_GAP = 1.0
"""Seconds between forking one pipeline stage and the next (far less in practice)."""
TLS_CLIENTS = frozenset({"openssl", "ncat", "socat", "stunnel"})


def _tls_client(command: Command) -> bool:
    args = command.args
    if command.name == "openssl":
        return args[:1] == ("s_client",)
    if command.name == "ncat":
        return "--ssl" in args
    if command.name == "socat":
        return any(a.upper().startswith("OPENSSL") for a in args)
    return False


def _reader(process: Process) -> bool:
    """The process prints data it read or packed (not a network client of its own)."""
    if not process.execs:
        return False
    command = Command(*program_name(process.execs[-1].filename, process.execs[-1].argv))
    return command.name in READERS and not _tls_client(command)


class EncryptedExfiltration(Signature):
    id = "exfil_encrypted_protocol"
    name = "Sends data out over SSH or TLS"
    description = (
        "Runs ssh with a remote command that stores what it receives (ssh host 'cat > x', "
        "dd of=, tar x), or pipes a reader or archiver (tar, cat, gzip, openssl enc) into "
        "ssh, openssl s_client, ncat --ssl or socat OPENSSL, or feeds such a client a file: "
        "data leaving through an encrypted channel that is not the command channel."
    )
    severity = "medium"
    category = "exfiltration"
    techniques = ("T1048.002",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("ssh", "dbclient"):
            words = operands(run.item, SSH_VALUED)
            remote = " ".join(words[1:])
            if len(words) >= 2 and REMOTE_SINK.search(remote):
                yield run.evidence(command_summary(run))
        for run in ctx.shell_commands("openssl", "ncat", "socat"):
            if _tls_client(run.item) and run.item.redirected("<"):
                yield run.evidence(command_summary(run) + " (a file fed to it)")
        yield from self._piped(ctx)

    @staticmethod
    def _piped(ctx: ReportIndex) -> Iterator[Evidence]:
        """A reader or archiver running beside an ssh or TLS client it feeds (one pipeline)."""
        for run in ctx.execs():
            command = Command(*program_name(run.item.filename, run.item.argv))
            sending = (command.name == "ssh" and "-V" not in command.args) or (
                command.name in TLS_CLIENTS and _tls_client(command)
            )
            process = ctx.process(run.process)
            if not sending or process is None or process.start is None:
                continue
            siblings = sorted(
                (c for c in ctx.children(process.parent) if c.start is not None),
                key=lambda c: c.start if c.start is not None else 0.0,
            )
            position = next((i for i, c in enumerate(siblings) if c.key == process.key), 0)
            if position == 0:
                continue
            # The stage right before it in the pipeline, forked just before, still running.
            feeder = siblings[position - 1]
            start = feeder.start if feeder.start is not None else 0.0
            running = feeder.exit is None or feeder.exit >= process.start
            if running and process.start - start <= PIPE_GAP and _reader(feeder):
                yield run.evidence(
                    f"{command.line} receives the output of "
                    f"{ctx.provenance.label(feeder.key)} through a pipe"
                )
