"""The IoT root: applet links, the device's /etc, C libraries, and no sandbox names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aasee.images.busybox_root import (
    SERVICES,
    BusyboxRoot,
    applet_links,
    applet_locations,
    applet_names,
    copy_cross_libc,
    copy_debian_libc,
    etc_files,
)
from aasee.images.store import ImageError

NAMES = ["[", "[[", "ash", "busybox", "cat", "init", "ip", "linuxrc", "sh", "telnetd", "wget"]
FAKE_BUSYBOX = b"\x7fELF...code...\0" + b"\0".join(n.encode() for n in NAMES) + b"\0\0more"
LIST_FULL = "usr/bin/[\nusr/bin/[[\nbin/ash\nbin/busybox\nbin/cat\nsbin/init\nsbin/ip\nlinuxrc\n"
LIST_FULL += "bin/sh\nusr/sbin/telnetd\nusr/bin/wget\n"


def test_applet_names_come_from_the_binarys_table() -> None:
    assert applet_names(FAKE_BUSYBOX) == NAMES
    with pytest.raises(ImageError):
        applet_names(b"\x7fELF not a busybox")


def test_links_never_replace_busybox_itself() -> None:
    links = applet_links(applet_names(FAKE_BUSYBOX), applet_locations(LIST_FULL))
    assert "bin/busybox" not in links
    assert not any(path.endswith("linuxrc") for path in links)
    assert links["bin/sh"] == "/bin/busybox"
    assert links["usr/bin/wget"] == "/bin/busybox"
    assert links["usr/sbin/telnetd"] == "/bin/busybox"
    assert links["sbin/ip"] == "/bin/busybox"
    assert links["usr/bin/["] == "/bin/busybox"


def test_an_applet_the_host_list_lacks_goes_to_bin() -> None:
    assert applet_links(["newapplet"], {}) == {"bin/newapplet": "/bin/busybox"}


def test_etc_looks_like_a_device(tmp_path: Path) -> None:
    files = etc_files("router", "ttyAMA0")
    passwd = files["etc/passwd"][0].decode()
    assert passwd.startswith("root:x:0:0:")
    shadow, mode = files["etc/shadow"]
    assert mode == 0o600 and shadow.startswith(b"root:$1$")
    assert files["etc/resolv.conf"][0] == b"nameserver 10.0.2.3\n"
    assert files["etc/hostname"][0] == b"router\n"
    assert b"ttyAMA0" in files["etc/inittab"][0]
    for name in SERVICES:
        script, mode = files[f"etc/init.d/{name}"]
        assert mode == 0o755 and script.startswith(b"#!/bin/sh\n")
    everything = b"".join(data for data, _ in files.values()).lower()
    assert (
        b"aasee" not in everything and b"agent" not in everything and b"sandbox" not in everything
    )


def test_create_builds_the_tree(tmp_path: Path) -> None:
    busybox = tmp_path / "busybox"
    busybox.write_bytes(FAKE_BUSYBOX)
    root = BusyboxRoot(tmp_path / "root", "router", "ttyS0")
    links = applet_links(applet_names(FAKE_BUSYBOX), applet_locations(LIST_FULL))
    root.create(busybox, links)
    top = tmp_path / "root"
    assert (top / "bin/busybox").read_bytes() == FAKE_BUSYBOX
    assert os.readlink(top / "bin/sh") == "/bin/busybox"
    assert os.readlink(top / "var/run") == "/run"
    assert (top / "tmp").stat().st_mode & 0o1777 == 0o1777
    assert (top / "etc/shadow").stat().st_mode & 0o777 == 0o600
    # The supervisor takes /sbin/init's place: a file replaces the applet link.
    root.write("sbin/init", b"supervisor", 0o755)
    assert not (top / "sbin/init").is_symlink()
    assert (top / "sbin/init").read_bytes() == b"supervisor"


def test_debian_libc_keeps_the_multiarch_layout(tmp_path: Path) -> None:
    package = tmp_path / "libc6"
    (package / "lib/arm-linux-gnueabi").mkdir(parents=True)
    (package / "lib/arm-linux-gnueabi/libc.so.6").write_bytes(b"libc")
    os.symlink("arm-linux-gnueabi/ld-linux.so.3", package / "lib/ld-linux.so.3")
    (package / "usr/share/doc").mkdir(parents=True)
    root = tmp_path / "root"
    copy_debian_libc(package, root)
    assert (root / "lib/arm-linux-gnueabi/libc.so.6").read_bytes() == b"libc"
    assert os.readlink(root / "lib/ld-linux.so.3") == "arm-linux-gnueabi/ld-linux.so.3"
    assert not (root / "usr/share").exists()


def test_cross_libc_gets_run_time_files_only(tmp_path: Path) -> None:
    libdir = tmp_path / "usr/mips-linux-gnu/lib"
    libdir.mkdir(parents=True)
    for name in ("ld.so.1", "libc.so.6", "libm.so.6", "libc.a", "crt1.o", "libc.so"):
        (libdir / name).write_bytes(name.encode())
    os.symlink("libgcc_s.so.1.0", libdir / "libgcc_s.so.1")
    root = tmp_path / "root"
    assert copy_cross_libc(libdir, root) == "mips-linux-gnu"
    installed = sorted(p.name for p in (root / "lib/mips-linux-gnu").iterdir())
    assert installed == ["ld.so.1", "libc.so.6", "libgcc_s.so.1", "libm.so.6"]
    assert os.readlink(root / "lib/ld.so.1") == "mips-linux-gnu/ld.so.1"
