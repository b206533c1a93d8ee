"""Which guest analyses a sample: read from its ELF header, chosen among the images at hand.

An ELF file goes to a guest of its architecture (class, byte order, machine and, for MIPS,
the ABI flags decide; see ``aasee.arch``); scripts and other files go to the default
architecture's guest. A sample no guest can run is refused before anything starts, naming
its architecture and the guests available. ``image`` in the options overrides the choice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aasee.arch import DEFAULT_ARCH, ArchProfile, Route, UnknownArchitecture, get_profile
from aasee.arch import route_elf as route_header

__all__ = ["Routed", "RoutingError", "available_text", "route_sample"]

HEAD_BYTES = 64


class RoutingError(Exception):
    """No guest can run this sample (bad input: nothing was started)."""


@dataclass(frozen=True)
class Routed:
    image: str
    profile: ArchProfile
    """The architecture of the chosen guest."""
    sample_arch: str
    """The sample's architecture as told to users (``ARM (ARM 32-bit little-endian)``)."""
    route: Route
    overridden: bool = False


def _arch_of(arch: str) -> str | None:
    try:
        return get_profile(arch).name
    except UnknownArchitecture:
        return None


def available_text(images: Iterable[tuple[str, str]]) -> str:
    listed = sorted({f"{name} ({_arch_of(arch) or arch})" for name, arch in images})
    return ", ".join(listed) if listed else "none (build one with `aasee image build`)"


def route_sample(head: bytes, image: str | None, images: Iterable[tuple[str, str]]) -> Routed:
    """Choose the guest image for a sample starting with ``head``.

    ``images`` are the (name, architecture) pairs that can be used; ``image`` is the user's
    explicit choice, if any (taken as given, even for another architecture: the report then
    says the sample did not run).
    """
    available = list(images)
    route = route_header(head[:HEAD_BYTES])
    if image is not None:
        arch = next((a for n, a in available if n == image), None)
        if arch is None:
            raise RoutingError(
                f"guest image {image!r} is not available; available: "
                f"{available_text(available)}. Leave the image unset to have the sample routed "
                "to a guest of its own architecture, or build the image with "
                "`aasee image build --arch ARCH`"
            )
        profile = get_profile(arch)
        return Routed(image, profile, route.label, route, overridden=True)
    if route.is_elf and route.profile is None:
        raise RoutingError(
            f"no guest can run this sample: it is an ELF file for {route.label}, and "
            f"{route.reason}. Guests available: {available_text(available)}"
        )
    profile = route.profile or get_profile(DEFAULT_ARCH)
    candidates = [name for name, arch in available if _arch_of(arch) == profile.name]
    if not candidates:
        raise RoutingError(
            f"no {profile.name} guest image for this sample ({route.label}); build one with "
            f"`aasee image build --arch {profile.name}`. Guests available: "
            f"{available_text(available)}"
        )
    chosen = profile.default_image if profile.default_image in candidates else candidates[0]
    return Routed(chosen, profile, route.label, route)
