"""PE files are told from their headers and routed to the Wine guest (or refused at once)."""

from __future__ import annotations

import struct

import pytest

from aasee.arch.pe_header import identify_pe
from aasee.hooks.sample import guest_argv
from aasee.images.wine_prefix import WINE_IMAGE, WINE_LOADER, guest_to_windows
from aasee.service.routing import RoutingError, route_sample

LINUX = [("debian-bookworm-amd64", "x86_64")]
WITH_WINE = [*LINUX, (WINE_IMAGE, "x86_64")]


def pe(
    machine: int = 0x8664,
    plus: bool = True,
    subsystem: int = 3,
    characteristics: int = 0x0022,
    clr: bool = False,
) -> bytes:
    """A minimal PE header: MZ, e_lfanew 0x80, COFF header, optional header, directories."""
    head = bytearray(0x400)
    head[0:2] = b"MZ"
    struct.pack_into("<I", head, 0x3C, 0x80)
    head[0x80:0x84] = b"PE\0\0"
    size = 240 if plus else 224
    struct.pack_into("<HHIIIHH", head, 0x84, machine, 1, 0, 0, 0, size, characteristics)
    optional = 0x98
    struct.pack_into("<H", head, optional, 0x20B if plus else 0x10B)
    struct.pack_into("<H", head, optional + 68, subsystem)
    directories = optional + (112 if plus else 96)
    struct.pack_into("<I", head, directories - 4, 16)
    if clr:
        struct.pack_into("<II", head, directories + 14 * 8, 0x2000, 0x48)
    return bytes(head)


def test_pe32_and_pe32_plus_are_identified() -> None:
    plus = identify_pe(pe())
    assert plus is not None and plus.pe32_plus and plus.machine_name == "x86-64"
    assert plus.describe() == "PE32+ executable (Windows console, x86-64)"
    i386 = identify_pe(pe(machine=0x14C, plus=False, subsystem=2))
    assert i386 is not None and not i386.pe32_plus and i386.not_runnable_reason() is None


@pytest.mark.parametrize("head", [b"", b"MZ", b"MZ" + b"\0" * 100, b"\x7fELF" + b"\0" * 100])
def test_not_pe_or_truncated_is_none(head: bytes) -> None:
    assert identify_pe(head) is None
    assert identify_pe(pe()[:0x90]) is None


def test_pe_goes_to_the_wine_guest() -> None:
    routed = route_sample(pe(), None, WITH_WINE)
    assert routed.image == WINE_IMAGE and routed.flavour == "wine"
    assert routed.profile.name == "x86_64" and routed.pe is not None


def test_pe_without_a_wine_guest_names_the_build_command() -> None:
    with pytest.raises(RoutingError, match="aasee image build --profile windows"):
        route_sample(pe(), None, LINUX)


def test_elf_and_scripts_keep_the_linux_guest() -> None:
    assert route_sample(b"#!/bin/sh\n", None, WITH_WINE).image == "debian-bookworm-amd64"
    assert route_sample(b"#!/bin/sh\n", None, [(WINE_IMAGE, "x86_64")]).image == WINE_IMAGE


def test_dotnet_and_drivers_are_not_runnable() -> None:
    dotnet = identify_pe(pe(clr=True))
    assert dotnet is not None and ".NET" in (dotnet.not_runnable_reason() or "")
    driver = identify_pe(pe(subsystem=1))
    assert driver is not None and "driver" in (driver.not_runnable_reason() or "")
    arm = identify_pe(pe(machine=0xAA64))
    assert arm is not None and "ARM64" in (arm.not_runnable_reason() or "")


def test_pe_runs_through_wine_and_paths_map_to_drive_c() -> None:
    assert guest_argv(pe(), "/x/a.exe", ["-q"]) == [WINE_LOADER, "/x/a.exe", "-q"]
    assert guest_to_windows("/root/.wine/drive_c/users/a/x.txt") == "C:\\users\\a\\x.txt"
    assert guest_to_windows("/tmp/x") == "Z:\\tmp\\x"
