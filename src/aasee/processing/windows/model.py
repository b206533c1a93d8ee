"""The report's ``windows`` section: what a PE sample did, in Windows terms, and its limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..modelbase import StrictModel

__all__ = ["FileOp", "WindowsEvidence", "WindowsFile", "WindowsProcess", "WindowsRegistryChange"]


class WindowsProcess(StrictModel):
    """A traced process as Windows shows it: its image name and command line."""

    key: str
    """The process's key in ``processes``."""
    pid: int
    image_name: str
    """``cmd.exe``; Wine's own loader when no Windows program was found in its argv."""
    command_line: str
    windows_path: str | None = None
    parent: str | None = None
    ref: str
    """JSON Pointer to the process in ``processes``."""


FileOp = Literal["written", "created", "deleted", "renamed", "mkdir"]


class WindowsFile(StrictModel):
    """A file operation of the trace inside the Wine prefix, with its Windows path."""

    op: FileOp
    path: str
    """``C:\\users\\jmiller\\Documents\\x.docx`` (``Z:\\...`` outside the prefix's drive C)."""
    guest_path: str
    destination: str | None = None
    """For a rename: the new Windows path."""
    process: str
    """The traced process, or ``(host-side disk diff)`` for a change only the diff found."""
    pid: int
    ref: str
    sha256: str | None = None


class WindowsRegistryChange(StrictModel):
    """One change of the registry, from the prefix's hive files before and after the run."""

    action: Literal["key_created", "key_deleted", "value_set", "value_deleted"]
    key: str
    value: str | None = None
    type: str | None = None
    data: str | None = None
    old_type: str | None = None
    old_data: str | None = None
    hive: str


class WindowsEvidence(StrictModel):
    """Present when the sample was a Windows program run by Wine in a Linux guest."""

    runtime: Literal["wine"] = "wine"
    prefix: str
    warning: str
    not_covered: list[str] = Field(default_factory=list)
    processes: list[WindowsProcess] = Field(default_factory=list)
    files: list[WindowsFile] = Field(default_factory=list)
    registry: list[WindowsRegistryChange] = Field(default_factory=list)
    registry_source: str
    """Where the after-run hives came from: the host-side disk diff, or the guest's copy."""
    errors: list[str] = Field(default_factory=list)
