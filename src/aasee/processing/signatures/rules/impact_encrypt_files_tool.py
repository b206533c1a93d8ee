"""Files encrypted with a standard tool: gpg, openssl enc, ccrypt, 7z/zip with a password."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

GPG_ENCRYPTING = frozenset({"-c", "--symmetric", "-e", "--encrypt", "-ce", "-ec"})
GPG_OTHER = frozenset({"-d", "--decrypt", "--verify", "--import", "--list-keys", "-k",
                       "--export", "--gen-key", "--full-generate-key", "--recv-keys"})  # fmt: skip


CIPHERS = ("aes", "des", "chacha", "camellia", "bf", "cast", "rc4", "aria", "sm4", "seed", "idea")


class EncryptFilesTool(Signature):
    id = "impact_encrypt_files_tool"
    name = "Encrypts files with an encryption tool"
    description = (
        "Runs gpg -c/-e, openssl enc (not -d) or rsautl/pkeyutl -encrypt, ccrypt or "
        "ccencrypt, aescrypt -e, age, or 7z/zip/rar with a password on files: data made "
        "unreadable without the key (ransomware built from standard tools), or collected "
        "data encrypted before it is sent away."
    )
    severity = "medium"
    category = "impact"
    techniques = ("T1486", "T1560.001")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("gpg", "gpg2"):
            given = set(run.item.args)
            if given & GPG_ENCRYPTING and not given & GPG_OTHER:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("openssl"):
            args = run.item.args
            first = args[0] if args else ""
            named = first.startswith(CIPHERS)
            chosen = first == "enc" and any(a.lstrip("-").startswith(CIPHERS) for a in args[1:])
            public = first in ("rsautl", "pkeyutl") and "-encrypt" in args
            if ((named or chosen) and "-d" not in args) or public:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("ccrypt", "ccencrypt", "aescrypt", "age", "mcrypt", "scrypt"):
            options = set(run.item.args)
            if not options & {"-d", "--decrypt", "-c", "--cat", "-h", "--help", "--version"}:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("7z", "7za", "7zr", "zip", "rar"):
            args = run.item.args
            password = any(
                a.startswith(("-p", "-P", "--password", "-hp")) or a in ("-e", "--encrypt")
                for a in args
            )
            extracting = args[:1] in (("x",), ("e",), ("l",), ("t",))
            if password and not extracting:
                yield run.evidence(command_summary(run))
