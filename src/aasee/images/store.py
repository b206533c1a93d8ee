"""Where guest images live on the host, and the metadata that describes one.

An image is four files side by side in the image directory (a plain folder that is also
registered as a libvirt ``dir`` storage pool): ``NAME.qcow2`` (root disk, booted as
virtio-blk), the kernel ``NAME.vmlinuz`` (``NAME.vmlinux`` when it boots uncompressed),
``NAME.initrd`` and ``NAME.json`` (this module's ``GuestImage``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aasee.arch import ArchProfile, get_profile
from aasee.contexts.machine import HardwareIdentity
from aasee.images.identity import ImageHardware, hardware_for

DEFAULT_HOME = Path("/var/lib/aasee")


def aasee_home() -> Path:
    return Path(os.environ.get("AASEE_HOME", str(DEFAULT_HOME)))


def image_dir() -> Path:
    return aasee_home() / "images"


def cache_dir() -> Path:
    return aasee_home() / "cache"


def snapshot_root() -> Path:
    return aasee_home() / "snapshots"


class ImageError(Exception):
    """An image is missing, incomplete or unreadable; the message says how to fix it."""


class GuestImage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    arch: str
    os: str
    kernel_release: str
    cmdline: str
    disk: Path
    kernel: Path
    initrd: Path
    agent_version: str
    inputs_key: str
    built_at: str
    size_bytes: int = 0
    inputs: dict[str, str] = Field(default_factory=dict)
    """What the image was built from: package versions, source and code digests."""
    hardware: ImageHardware | None = None
    """The machine the guest claims to be, fixed at build time (``images.identity``)."""

    def profile(self) -> ArchProfile:
        """The architecture profile of this guest (``arch`` may be an alias, e.g. amd64)."""
        return get_profile(self.arch)

    def hardware_identity(self) -> HardwareIdentity:
        """What the guest's firmware and devices claim to be: the identity recorded at build
        time, or for an image built before identities were recorded, the one its build
        would have recorded."""
        hardware = self.hardware
        if hardware is None:
            hardware = hardware_for(self.name, self.profile().userland.kind, self.inputs_key)
        return hardware.identity()

    def check(self) -> None:
        for label, path in (("disk", self.disk), ("kernel", self.kernel), ("initrd", self.initrd)):
            if not path.is_file():
                raise ImageError(
                    f"image '{self.name}' is incomplete: its {label} {path} is missing; "
                    f"rebuild it with `aasee image build --force`"
                )


def load_image_metadata(path: Path) -> GuestImage:
    try:
        data = json.loads(path.read_text())
        image = GuestImage.model_validate(data)
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        raise ImageError(f"cannot read image metadata {path}: {exc}") from exc
    return image


def list_images(directory: Path | None = None) -> list[GuestImage]:
    directory = directory or image_dir()
    if not directory.is_dir():
        return []
    return [load_image_metadata(p) for p in sorted(directory.glob("*.json"))]
