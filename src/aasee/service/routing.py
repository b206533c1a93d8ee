"""Which guest analyses a sample: read from its ELF or PE header, chosen among the images.

An ELF file goes to a guest of its architecture (class, byte order, machine and, for MIPS,
the ABI flags decide; see ``aasee.arch``); scripts and other files go to the default
architecture's guest. A PE file (MZ and PE headers, PE32 or PE32+) goes to a guest of the
``wine`` flavour (``aasee image build --profile windows``): the architecture stays x86-64,
the flavour is what differs; without such a guest it is refused at once, naming the command
that builds one. A sample no guest can run is refused before anything starts, naming its
architecture and the guests available. ``image`` in the options overrides the choice.
Linux samples go to a Wine guest only when no other guest of their architecture exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aasee.arch import DEFAULT_ARCH, ArchProfile, Route, UnknownArchitecture, get_profile
from aasee.arch import route_elf as route_header
from aasee.arch.pe_header import PE_HEAD_BYTES, PeIdentity, identify_pe
from aasee.images.wine_prefix import WINE_GUEST_FLAVOUR, WINE_IMAGE, is_wine_image

__all__ = ["WINE_BUILD_COMMAND", "Routed", "RoutingError", "available_text", "route_sample"]

WINE_BUILD_COMMAND = "aasee image build --profile windows"
WINE_ARCH = "x86_64"
"""The architecture of the Wine guests (their PE programs are i386 or x86-64)."""

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
    flavour: str = "linux"
    """``wine`` when the sample is a Windows program run by Wine in the guest."""
    pe: PeIdentity | None = None
    """The PE headers' facts of a Windows program (None for anything else)."""


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
    pe = identify_pe(head[:PE_HEAD_BYTES])
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
        label = pe.describe() if pe is not None else route.label
        flavour = WINE_GUEST_FLAVOUR if pe is not None and is_wine_image(image) else "linux"
        return Routed(image, profile, label, route, overridden=True, flavour=flavour, pe=pe)
    if pe is not None:
        return _route_pe(pe, route, available)
    if route.is_elf and route.profile is None:
        raise RoutingError(
            f"no guest can run this sample: it is an ELF file for {route.label}, and "
            f"{route.reason}. Guests available: {available_text(available)}"
        )
    profile = route.profile or get_profile(DEFAULT_ARCH)
    candidates = [name for name, arch in available if _arch_of(arch) == profile.name]
    # A Wine guest runs Linux programs too, but it is chosen for them only if it is alone.
    candidates = [n for n in candidates if not is_wine_image(n)] or candidates
    if not candidates:
        raise RoutingError(
            f"no {profile.name} guest image for this sample ({route.label}); build one with "
            f"`aasee image build --arch {profile.name}`. Guests available: "
            f"{available_text(available)}"
        )
    chosen = profile.default_image if profile.default_image in candidates else candidates[0]
    return Routed(chosen, profile, route.label, route)


def _route_pe(pe: PeIdentity, route: Route, available: list[tuple[str, str]]) -> Routed:
    """A Windows program goes to a Wine guest; without one, it is refused at once."""
    wine = [n for n, a in available if is_wine_image(n) and _arch_of(a) == WINE_ARCH]
    if not wine:
        raise RoutingError(
            f"no Windows guest for this sample: it is a {pe.describe()}, which runs in the "
            f"Wine guest; build it with `{WINE_BUILD_COMMAND}`. Guests available: "
            f"{available_text(available)}"
        )
    chosen = WINE_IMAGE if WINE_IMAGE in wine else wine[0]
    return Routed(
        chosen,
        get_profile(WINE_ARCH),
        pe.describe(),
        route,
        flavour=WINE_GUEST_FLAVOUR,
        pe=pe,
    )
