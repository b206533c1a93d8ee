"""System language discovery: the locale asked for."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEXT_TOOLS, command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

LOCALE_FILES = ("/etc/locale.conf", "/etc/default/locale", "/etc/locale.gen",
                "/etc/sysconfig/i18n", "/etc/vconsole.conf")  # fmt: skip
LANGUAGE_VARIABLES = ("LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES")


class SystemLanguageDiscovery(Signature):
    id = "discovery_system_language"
    name = "Looks up the system language"
    description = (
        "Runs locale or localectl, prints LANG/LC_* with printenv, or reads /etc/locale.conf "
        "or /etc/default/locale with a text tool: the keyboard and language of the host, "
        "which malware checks to spare (or target) certain countries. The C library loading "
        "locale data is not counted."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1614.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("locale", "localectl"):
            if not {"-h", "--help", "-V", "--version"} & set(run.item.args):
                if run.item.name == "locale" or not run.item.args or "status" in run.item.args:
                    yield run.evidence(command_summary(run))
        for run in ctx.commands("printenv"):
            if set(run.item.args) & set(LANGUAGE_VARIABLES):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", LOCALE_FILES):
            if ctx.names(found.process) & TEXT_TOOLS:
                yield found.evidence(file_summary(found, "read"))
