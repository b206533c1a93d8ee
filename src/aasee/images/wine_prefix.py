"""The Wine prefix of the Windows guest: where it lives, who it belongs to, how it is run.

Shared by the image builder (which initialises the prefix and the Windows user profile at
build time), the guest start-up (which starts the prefix's wineserver and Wine's own
services before the ready snapshot, so that a restored guest runs a PE file at once), the
sample runner (which starts a PE file as ``wine <path>`` with this environment) and the
evidence hooks and postprocessing (which map the prefix's ``drive_c`` to ``C:\\`` and read
its registry hives). Nothing here touches the host.
"""

from __future__ import annotations

from dataclasses import dataclass

from aasee.images.store import ImageError, image_dir, load_image_metadata

__all__ = [
    "HIVES",
    "WINE_ENV",
    "WINE_GUEST_FLAVOUR",
    "WINE_IMAGE",
    "WINE_LOADER",
    "WINE_PREFIX",
    "WINDOWS_COMPUTER",
    "WINDOWS_USER",
    "WindowsProfile",
    "guest_flavour",
    "guest_to_windows",
    "is_wine_image",
    "windows_sample_dir",
]

WINE_IMAGE = "windows-wine-amd64"
"""The name of the Wine guest ``aasee image build --profile windows`` builds."""
WINE_GUEST_FLAVOUR = "wine"
"""The guest flavour of an image whose samples are Windows programs run by Wine."""
WINE_PREFIX = "/root/.wine"
"""The prefix (``drive_c``, the registry hives) of the account samples run as (root)."""
WINE_LOADER = "/usr/bin/wine"
"""Debian's ``wine`` launcher: it starts ``wine64`` for a 64-bit prefix, which runs PE32 (in
WoW64, through ``wine32:i386``) and PE32+ programs."""
WINDOWS_USER = "jmiller"
"""The Windows user name programs see (``%USERNAME%``, ``C:\\users\\jmiller``)."""
WINDOWS_COMPUTER = "DESKTOP-4K7QM2P"
"""The computer name (``%COMPUTERNAME%``): the guest's host name, which Wine reports."""
HIVES = {
    "system.reg": "HKEY_LOCAL_MACHINE",
    "user.reg": "HKEY_CURRENT_USER",
    "userdef.reg": "HKEY_USERS\\.Default",
}
"""The prefix's registry hive files and the root key each holds."""

WINE_ENV: dict[str, str] = {
    "WINEPREFIX": WINE_PREFIX,
    "WINEARCH": "win64",
    "WINEDEBUG": "-all",
    "USER": WINDOWS_USER,
    "LOGNAME": WINDOWS_USER,
    "HOME": "/root",
    # No Mono or Gecko is installed: Wine must not offer to download them.
    "WINEDLLOVERRIDES": "mscoree=;mshtml=",
}
"""The environment every Wine process of the guest gets (start-up services and samples)."""


@dataclass(frozen=True)
class WindowsProfile:
    """What the Windows user's world looks like: names, registry values, a few documents."""

    user: str = WINDOWS_USER
    full_name: str = "John Miller"
    computer: str = WINDOWS_COMPUTER
    organization: str = "Miller & Partners GmbH"
    product_name: str = "Windows 10 Pro"
    documents: tuple[tuple[str, str], ...] = (
        ("Documents/Budget 2024.csv", "Month;Revenue;Costs\nJan;48200;39100\nFeb;51030;40880\n"),
        ("Documents/Meeting notes.txt", "Q3 planning: hire two sales reps, renew office lease.\n"),
        ("Documents/Invoices/INV-20240311.txt", "Invoice INV-20240311\nTotal: 1,290.00 EUR\n"),
        ("Documents/Passwords (old).txt", "vpn: jmiller / Spring2023!\n"),
        ("Desktop/todo.txt", "- call the tax advisor\n- send the contract to Anna\n"),
        ("Downloads/setup_notes.txt", "Printer driver: HP LaserJet M404, see IT wiki.\n"),
        ("Pictures/README.txt", "Holiday pictures are on the NAS.\n"),
    )


def windows_sample_dir(user: str = WINDOWS_USER) -> str:
    """Where a PE sample is put in the guest: the user's Downloads folder, where a file a
    user ran usually is (``C:\\users\\<user>\\Downloads``)."""
    return f"{WINE_PREFIX}/drive_c/users/{user}/Downloads"


def guest_to_windows(path: str, prefix: str = WINE_PREFIX) -> str | None:
    """The Windows path of a guest path inside the prefix's ``drive_c`` (``C:\\...``), or
    ``Z:\\...`` for any other absolute path (Wine maps ``Z:`` to ``/``); None if relative."""
    drive_c = f"{prefix.rstrip('/')}/drive_c"
    if path == drive_c or path.startswith(drive_c + "/"):
        rest = path[len(drive_c) :].lstrip("/")
        return "C:\\" + rest.replace("/", "\\")
    if path.startswith("/"):
        return "Z:" + path.replace("/", "\\")
    return None


def is_wine_image(name: str) -> bool:
    """True when the image ``name`` is a Wine guest: the Wine recipe's name, or an image whose
    metadata says it was built with Wine (``os`` ending in ``+wine``)."""
    if name == WINE_IMAGE:
        return True
    meta = image_dir() / f"{name}.json"
    if not meta.is_file():
        return False
    try:
        return load_image_metadata(meta).os.endswith("+wine")
    except ImageError:
        return False


def guest_flavour(name: str) -> str:
    """``wine`` for a Wine guest, else ``linux``."""
    return WINE_GUEST_FLAVOUR if is_wine_image(name) else "linux"
