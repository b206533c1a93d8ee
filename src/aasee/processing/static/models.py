"""The report's model of static facts about one file (the sample, or a file it dropped).

Owned by the static analysis package; ``schema/defs/static.json`` documents the same shape.
Every string in here was read out of a hostile file: it is data, never a host path and never
markup.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..modelbase import StrictModel

__all__ = [
    "ElfInfo",
    "ElfSection",
    "PeImport",
    "PeInfo",
    "PeSection",
    "ScriptCommand",
    "ScriptIndicator",
    "ScriptInfo",
    "ScriptRedirect",
    "StaticAnalysis",
    "StringsInfo",
    "YaraMatch",
    "YaraString",
]


class ElfSection(StrictModel):
    name: str
    type: str
    offset: int = Field(default=0, ge=0)
    size: int = Field(ge=0)
    flags: str = ""
    entropy: float | None = None


class ElfInfo(StrictModel):
    """Headers of an ELF file: what it runs on and how it is linked."""

    machine: str
    bits: Literal[32, 64]
    endianness: Literal["little", "big"]
    elf_type: str
    os_abi: str | None = None
    entry_point: int = Field(ge=0)
    static: bool
    interpreter: str | None = None
    needed: list[str] = Field(default_factory=list)
    section_count: int = Field(default=0, ge=0)
    segment_count: int = Field(default=0, ge=0)
    sections: list[ElfSection] = Field(default_factory=list)
    stripped: bool = False
    symbols: int = Field(default=0, ge=0)
    imported_functions: list[str] = Field(default_factory=list)
    packers: list[str] = Field(default_factory=list)
    truncated: bool = False


class PeSection(StrictModel):
    name: str
    virtual_address: int = Field(default=0, ge=0)
    virtual_size: int = Field(ge=0)
    raw_size: int = Field(ge=0)
    entropy: float | None = None
    characteristics: list[str] = Field(default_factory=list)


class PeImport(StrictModel):
    dll: str
    functions: list[str] = Field(default_factory=list)


class PeInfo(StrictModel):
    """Headers of a Windows PE file."""

    machine: str
    bits: Literal[32, 64]
    dll: bool = False
    subsystem: str | None = None
    timestamp: int | None = None
    timestamp_utc: str | None = None
    entry_point: int = Field(default=0, ge=0)
    imphash: str | None = None
    section_count: int = Field(default=0, ge=0)
    imports: list[PeImport] = Field(default_factory=list)
    sections: list[PeSection] = Field(default_factory=list)
    packers: list[str] = Field(default_factory=list)
    truncated: bool = False


class ScriptIndicator(StrictModel):
    """A suspicious command or construct found in a script."""

    id: str
    description: str
    technique: str | None = None
    line: int = Field(ge=1)
    text: str


class ScriptRedirect(StrictModel):
    """A redirection of a script command: ``2>&1`` is op ``>&``, fd 2, target ``1``."""

    op: str
    fd: int | None = None
    target: str


class ScriptCommand(StrictModel):
    """One simple command of a shell script, as the script writes it (see ``static/shell.py``).

    ``argv`` has quotes removed and the variables the script set to plain text substituted;
    other expansions stay as written (``$HOME``, ``$(...)``). Builtins are included: they
    never reach the kernel, so this is the only record of them.
    """

    line: int = Field(ge=1)
    argv: list[str] = Field(default_factory=list)
    assignments: list[str] = Field(default_factory=list)
    redirects: list[ScriptRedirect] = Field(default_factory=list)
    kind: Literal["program", "builtin", "function", "assignment", "redirection"]
    context: str = ""
    depth: int = Field(default=0, ge=0)
    pipeline: int = Field(default=0, ge=0)
    stage: int = Field(default=0, ge=0)
    background: bool = False
    argv_truncated: bool = False


class ScriptInfo(StrictModel):
    language: str
    interpreter: str | None = None
    lines: int = Field(default=0, ge=0)
    indicators: list[ScriptIndicator] = Field(default_factory=list)
    commands: list[ScriptCommand] = Field(default_factory=list)
    commands_truncated: bool = False
    truncated: bool = False


class StringsInfo(StrictModel):
    """Printable strings and the indicators extracted from them."""

    count: int = Field(default=0, ge=0)
    urls: list[str] = Field(default_factory=list)
    ips: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    interesting: list[str] = Field(default_factory=list)
    truncated: bool = False


class YaraString(StrictModel):
    identifier: str
    offset: int = Field(ge=0)
    data: str


class YaraMatch(StrictModel):
    rule: str
    namespace: str
    source: Literal["bundled", "user"]
    tags: list[str] = Field(default_factory=list)
    meta: dict[str, str] = Field(default_factory=dict)
    strings: list[YaraString] = Field(default_factory=list)


class StaticAnalysis(StrictModel):
    """Everything learnt about one file without running it."""

    name: str
    size: int = Field(ge=0)
    md5: str
    sha1: str
    sha256: str
    ssdeep: str | None = None
    type: str | None = None
    mime: str | None = None
    entropy: float | None = None
    analysed_bytes: int = Field(default=0, ge=0)
    truncated: bool = False
    elf: ElfInfo | None = None
    pe: PeInfo | None = None
    script: ScriptInfo | None = None
    strings: StringsInfo = Field(default_factory=StringsInfo)
    yara: list[YaraMatch] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
