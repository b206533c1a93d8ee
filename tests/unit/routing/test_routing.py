"""Routing: the ELF header picks the guest; what no guest runs is refused before anything runs."""

from __future__ import annotations

import struct

import pytest

from aasee.arch import get_profile, profiles, route_elf
from aasee.service.routing import RoutingError, route_sample

ALL = [(p.default_image, p.name) for p in profiles()]


def elf(machine: int, bits: int = 32, endian: str = "little", flags: int = 0) -> bytes:
    """The first 64 bytes of an ELF executable header."""
    order = "<" if endian == "little" else ">"
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1 if endian == "little" else 2, 1, 0])
    ident += b"\0" * 8
    head = ident + struct.pack(order + "HHI", 2, machine, 1)
    if bits == 32:
        head += struct.pack(order + "IIIIHHHHHH", 0x8000, 52, 0, flags, 52, 32, 1, 40, 0, 0)
    else:
        head += struct.pack(order + "QQQIHHHHHH", 0x400000, 64, 0, flags, 64, 56, 1, 64, 0, 0)
    return head.ljust(64, b"\0")


CASES = [
    ("x86-64", elf(62, 64), "x86_64"),
    ("i386", elf(3, 32), "x86_64"),
    ("aarch64", elf(183, 64), "aarch64"),
    ("armhf EABI5 hard-float", elf(40, 32, flags=0x05000400), "armhf"),
    ("armel ARMv5 EABI5 soft-float", elf(40, 32, flags=0x05000200), "armhf"),
    ("mipsel o32 MIPS-I", elf(8, 32, flags=0x00001007), "mipsel"),
    ("mips big-endian o32 MIPS32r2", elf(8, 32, "big", flags=0x70001007), "mips"),
]


@pytest.mark.parametrize(("label", "head", "arch"), CASES, ids=[c[0] for c in CASES])
def test_each_architecture_reaches_its_guest(label: str, head: bytes, arch: str) -> None:
    routed = route_sample(head, None, ALL)
    assert routed.profile.name == arch
    assert routed.image == get_profile(arch).default_image
    assert not routed.overridden


REFUSED = [
    ("RISC-V 64", elf(243, 64), "RISC-V 64-bit little-endian"),
    ("PowerPC big-endian", elf(20, 32, "big"), "PowerPC 32-bit big-endian"),
    ("MIPS n32", elf(8, 32, "big", flags=0x00000020), "n32"),
    ("MIPS32r6", elf(8, 32, flags=0x90001000), "MIPS32r6"),
    ("MIPS64 big-endian", elf(8, 64, "big"), "MIPS 64-bit big-endian"),
    ("ARM OABI", elf(40, 32, flags=0), "OABI"),
    ("big-endian ARM", elf(40, 32, "big", flags=0x05000000), "ARM 32-bit big-endian"),
]


@pytest.mark.parametrize(("label", "head", "said"), REFUSED, ids=[c[0] for c in REFUSED])
def test_an_architecture_without_a_guest_is_refused_naming_it_and_the_guests(
    label: str, head: bytes, said: str
) -> None:
    with pytest.raises(RoutingError) as caught:
        route_sample(head, None, ALL)
    message = str(caught.value)
    assert said in message
    for name, _arch in ALL:
        assert name in message  # the guests that do exist are listed


def test_scripts_and_data_go_to_the_default_guest() -> None:
    for head in (b"#!/bin/sh\necho hi\n", b"print('x')\n", b"\x00\x01binary junk"):
        routed = route_sample(head, None, ALL)
        assert routed.profile.name == "x86_64"
        assert not routed.route.is_elf


def test_a_missing_guest_names_the_build_command() -> None:
    with pytest.raises(RoutingError, match="aasee image build --arch mips"):
        route_sample(elf(8, 32, "big", flags=0x1000), None, [("debian-bookworm-amd64", "amd64")])


def test_image_overrides_routing_even_across_architectures() -> None:
    routed = route_sample(elf(183, 64), "debian-bookworm-amd64", ALL)
    assert routed.image == "debian-bookworm-amd64" and routed.overridden
    assert routed.profile.name == "x86_64"
    assert "AArch64" in routed.sample_arch
    with pytest.raises(RoutingError, match="not available"):
        route_sample(elf(183, 64), "no-such-image", ALL)


def test_old_image_metadata_arch_names_still_route() -> None:
    """Images built before profiles said ``amd64``: an alias of x86_64."""
    assert route_sample(elf(62, 64), None, [("old", "amd64")]).image == "old"


def test_truncated_or_odd_headers_are_not_elf() -> None:
    for head in (b"\x7fELF", b"\x7fELF" + b"\x09" * 60, b""):
        assert route_elf(head).identity is None
