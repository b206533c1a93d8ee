"""LD_PRELOAD injection: a library preloaded through the environment, or a system program
loading a library from a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import SYSTEM_DIRS, TEMP_DIRS, basename, command_summary, in_dirs
from ..models import Evidence
from ..query import ReportIndex

LIBRARIES = tuple(f"{d}**.so{suffix}" for d in TEMP_DIRS for suffix in ("", ".*"))
# Interpreters load extension modules from wherever a package was built or unpacked.
INTERPRETERS = ("python", "perl", "ruby", "node", "java")


class LdPreloadInjection(Signature):
    id = "stealth_ld_preload_injection"
    name = "Injects a library with LD_PRELOAD"
    description = (
        "Sets LD_PRELOAD for a command (in a shell command line, via env or export), or a "
        "program from the system directories loads a shared library from /tmp, /var/tmp or "
        "/dev/shm: code injected into a legitimate program."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1574.006",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands():
            command = run.item
            words = (
                (*command.env, *command.args)
                if command.name in ("", "env", "export")
                else command.env
            )
            if any(w.startswith("LD_PRELOAD=") for w in words):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", LIBRARIES):
            image = ctx.image_of(found.process)
            if in_dirs(image, SYSTEM_DIRS) and not basename(image).startswith(INTERPRETERS):
                yield found.evidence(f"{image} loaded {found.item.path}")
