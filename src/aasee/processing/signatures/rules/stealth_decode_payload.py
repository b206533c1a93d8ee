"""Data decoded or decrypted with a standard tool: base64 -d, xxd -r, openssl -d, gpg -d,
uudecode, or interpreter one-liners calling a decoding function."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, decodes
from ..models import Evidence
from ..query import ReportIndex


class DecodePayload(Signature):
    id = "stealth_decode_payload"
    name = "Decodes or decrypts data"
    description = (
        "Runs base64/base32 -d, xxd -r, openssl with -d, gpg -d, uudecode, or a python/perl/"
        "php one-liner calling b64decode, unhexlify, decode_base64 and the like: a payload "
        "kept encoded until it is used. Programs decode data for ordinary reasons too, hence "
        "low; what is done with the result is judged by execution_decoded_payload_run."
    )
    severity = "low"
    category = "stealth"
    techniques = ("T1140",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands():
            if decodes(run.item):
                yield run.evidence(command_summary(run))
