"""The options of one analysis: one model for the CLI, the REST API and the workers.

``AnalysisOptions`` is what a user may ask for, validated once wherever it is given (click
options, a JSON submission, a task row read back by a worker). What only the operator
decides (the internet uplink, extra hooks, an image provider) is not an option of the
analysis: those are passed to ``run_analysis`` by the CLI or the service from their own
configuration.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["IMAGE_NAME", "MAX_ARGUMENTS", "MAX_ARGUMENT_LENGTH", "USER_NAME", "AnalysisOptions"]

MAX_ARGUMENTS = 32
MAX_ARGUMENT_LENGTH = 1024
IMAGE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
USER_NAME = r"^[a-z_][a-z0-9_-]{0,31}$"
NetworkMode = Literal["fake", "isolated", "none", "internet"]


def _default_accel() -> Literal["auto", "kvm", "tcg"]:
    value = os.environ.get("AASEE_ACCEL", "auto")
    return value if value in ("auto", "kvm", "tcg") else "auto"  # type: ignore[return-value]


class AnalysisOptions(BaseModel):
    """What an analysis may be asked for; bad values raise pydantic's ValueError with why."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    timeout: float = Field(default=60.0, gt=0)
    network: NetworkMode = "fake"
    arguments: list[str] = Field(default_factory=list, max_length=MAX_ARGUMENTS)
    image: str | None = Field(default=None, pattern=IMAGE_NAME)
    """A guest image by name; None routes the sample to a guest of its own architecture."""
    priority: int = Field(default=0, ge=-10, le=10)
    user: str = Field(default="root", pattern=USER_NAME)
    sandbox: str = Field(default="qemu", pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    accel: Literal["auto", "kvm", "tcg"] = Field(default_factory=_default_accel)
    """Default from ``AASEE_ACCEL``, else auto (KVM if a boot probe works, else TCG)."""
    memory_mib: int | None = Field(default=None, ge=128, le=65536)
    """None: the guest architecture's default (1024 MiB on x86-64, 256 MiB on MIPS)."""
    vcpus: int = Field(default=1, ge=1, le=16)
    revert: Literal["auto", "snapshot", "cold"] = "auto"
    time_warp: bool = True
    stop_on_exit: bool = False
    full_timeout: bool = False
    """Run for the whole timeout even when the sample's processes have all exited and the
    network is quiet (by default the run then ends early; the report says why it ended)."""
    raw_syscalls: bool = True
    boot_timeout: float = Field(default=180.0, gt=0, le=3600)
    display: bool = False
    """A VGA display showing the guest's console (x86 guests), for the screenshots hook."""

    @field_validator("arguments")
    @classmethod
    def _check_arguments(cls, arguments: list[str]) -> list[str]:
        for argument in arguments:
            if len(argument) > MAX_ARGUMENT_LENGTH:
                raise ValueError(f"an argument is longer than {MAX_ARGUMENT_LENGTH} characters")
            if "\0" in argument:
                raise ValueError("an argument contains a NUL character")
        return arguments
