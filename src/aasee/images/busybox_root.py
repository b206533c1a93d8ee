"""The root file system of the IoT guests: an embedded Linux device as malware finds it.

A router-like busybox system: ``/bin/busybox`` with its applet links (``/bin/sh``,
``wget``, ``tftp``, ``telnetd``...), the C library of the architecture (Debian's ``libc6``,
and armel's beside armhf's so ARMv5 soft-float programs find their loader; for big-endian
MIPS the one of Debian's cross toolchain), ``/etc`` as such a device has it (users with a
default root password, ``inittab``, ``profile``, resolver 10.0.2.3), a writable ``/tmp``
(tmpfs), ``syslogd``, ``telnetd`` and ``httpd`` running, and the system's start-up script
and supervisor (the agent). Nothing in it is named after the sandbox.

Applet links: the names come from the binary itself (busybox keeps them as one sorted
NUL-separated table starting ``[``, ``[[``), their directories from ``busybox --list-full``
of the host's busybox of the same Debian configuration; ``busybox`` itself is never linked
(a link over the binary makes every applet a loop).
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aasee.images.store import ImageError

__all__ = [
    "BusyboxRoot",
    "applet_links",
    "applet_locations",
    "applet_names",
    "copy_cross_libc",
    "copy_debian_libc",
    "etc_files",
    "service_script",
]

APPLET_TABLE_START = b"[\0[[\0"
# Never linked: the binary itself (a link over it loops), the old initrd hook.
NOT_LINKED = frozenset({"busybox", "linuxrc"})
DEFAULT_DIR = "bin"
# "admin", as on many devices (MD5 crypt, which every busybox login understands).
ROOT_PASSWORD_HASH = "$1$Xr3kP9aQ$sy.3xwJrjhPsCtVJ0j8hb."
SHADOW_DAY = 19500  # 2023-05-21: password age as a device flashed that year would show


def applet_names(binary: bytes) -> list[str]:
    """The applets a busybox binary was built with, read from its name table."""
    start = binary.find(APPLET_TABLE_START)
    if start < 0:
        raise ImageError("no applet table in the busybox binary (not a busybox?)")
    end = binary.find(b"\0\0", start)
    names = [n.decode("ascii", "replace") for n in binary[start:end].split(b"\0") if n]
    if len(names) < 10 or names != sorted(names):
        raise ImageError("the busybox applet table is not where it was expected")
    return names


def applet_locations(list_full: str) -> dict[str, str]:
    """``busybox --list-full`` output as applet name -> directory (``usr/bin``)."""
    found: dict[str, str] = {}
    for line in list_full.split():
        directory, _, name = line.strip("/").rpartition("/")
        found[name] = directory
    return found


def applet_links(names: Iterable[str], locations: Mapping[str, str]) -> dict[str, str]:
    """Root-relative link path -> target for every applet but the ones never linked."""
    links: dict[str, str] = {}
    for name in names:
        if name in NOT_LINKED or "/" in name or name in (".", ".."):
            continue
        directory = locations.get(name) or DEFAULT_DIR
        links[f"{directory}/{name}"] = "/bin/busybox"
    return links


def _device_lines(console: str) -> str:
    return (
        "# /etc/inittab\n"
        "::sysinit:/etc/init.d/rcS\n"
        f"{console}::respawn:/sbin/getty -L {console} 115200 vt100\n"
        "::ctrlaltdel:/sbin/reboot\n"
        "::shutdown:/bin/umount -a -r\n"
    )


PROFILE = """\
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=${HOME:-/root}
export PS1='\\u@\\h:\\w\\$ '
export TERM=${TERM:-vt100}
alias ll='ls -l'
[ -x /bin/more ] || alias more=less
"""

SERVICES: dict[str, tuple[str, ...]] = {
    # Volatile directories in RAM, as on flash-based devices.
    "S01mountall": ("mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp", "mkdir -p /run/lock"),
    "S10syslog": ("syslogd -C128", "klogd"),
    "S50telnet": ("telnetd -l /bin/login",),
    "S60httpd": ("httpd -h /www",),
}
"""Start-up scripts (``/etc/init.d/S*``, run by ``rcS`` with ``start``) and their commands."""


def service_script(commands: tuple[str, ...]) -> str:
    return "#!/bin/sh\n" + '[ "$1" = start ] || exit 0\n' + "".join(f"{c}\n" for c in commands)


INDEX_HTML = """\
<html><head><title>Router</title></head>
<body><form method="post" action="/cgi-bin/login">
<p>User name <input name="user"></p><p>Password <input name="pass" type="password"></p>
<p><input type="submit" value="Login"></p></form></body></html>
"""


def etc_files(hostname: str, console: str) -> dict[str, tuple[bytes, int]]:
    """Root-relative path -> (content, mode) of the device's configuration files."""
    text = {
        "etc/passwd": (
            "root:x:0:0:root:/root:/bin/sh\n"
            "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
            "ftp:x:55:55:ftp:/home/ftp:/bin/false\n"
            "network:x:101:101:network:/var:/bin/false\n"
            "admin:x:1000:1000:admin:/home/admin:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/var:/bin/false\n",
            0o644,
        ),
        "etc/shadow": (
            f"root:{ROOT_PASSWORD_HASH}:{SHADOW_DAY}:0:99999:7:::\n"
            f"daemon:*:{SHADOW_DAY}:0:99999:7:::\n"
            f"ftp:*:{SHADOW_DAY}:0:99999:7:::\n"
            f"network:*:{SHADOW_DAY}:0:99999:7:::\n"
            f"admin:{ROOT_PASSWORD_HASH}:{SHADOW_DAY}:0:99999:7:::\n"
            f"nobody:*:{SHADOW_DAY}:0:99999:7:::\n",
            0o600,
        ),
        "etc/group": (
            "root:x:0:\ndaemon:x:1:\ntty:x:5:\nwheel:x:10:root,admin\nftp:x:55:\n"
            "network:x:101:\nadmin:x:1000:\nnogroup:x:65534:\n",
            0o644,
        ),
        "etc/hostname": (f"{hostname}\n", 0o644),
        "etc/hosts": (f"127.0.0.1 localhost\n127.0.1.1 {hostname}\n", 0o644),
        "etc/resolv.conf": ("nameserver 10.0.2.3\n", 0o644),
        "etc/nsswitch.conf": (
            "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
            0o644,
        ),
        "etc/shells": ("/bin/sh\n/bin/ash\n", 0o644),
        "etc/inittab": (_device_lines(console), 0o644),
        "etc/profile": (PROFILE, 0o644),
        "etc/fstab": (
            "/dev/root / ext4 rw,noatime 0 1\n"
            "proc /proc proc defaults 0 0\n"
            "sysfs /sys sysfs defaults 0 0\n"
            "tmpfs /tmp tmpfs mode=1777,nosuid,nodev 0 0\n"
            "devpts /dev/pts devpts gid=5,mode=620 0 0\n",
            0o644,
        ),
        "etc/issue": ("\\n login: ", 0o644),
        "etc/securetty": (f"console\n{console}\npts/0\npts/1\npts/2\npts/3\n", 0o644),
        "www/index.html": (INDEX_HTML, 0o644),
    }
    files = {path: (content.encode(), mode) for path, (content, mode) in text.items()}
    for name, commands in SERVICES.items():
        files[f"etc/init.d/{name}"] = (service_script(commands).encode(), 0o755)
    return files


DIRECTORIES = {
    "bin": 0o755,
    "sbin": 0o755,
    "usr/bin": 0o755,
    "usr/sbin": 0o755,
    "lib": 0o755,
    "etc/init.d": 0o755,
    "dev": 0o755,
    "proc": 0o555,
    "sys": 0o555,
    "tmp": 0o1777,
    "run": 0o755,
    "mnt": 0o755,
    "root": 0o700,
    "home/admin": 0o755,
    "home/ftp": 0o755,
    "var/log": 0o755,
    "var/spool/cron/crontabs": 0o755,
    "www/cgi-bin": 0o755,
}
SYMLINKS = {"var/run": "/run", "var/tmp": "/tmp", "var/lock": "/run/lock"}


def copy_debian_libc(package_tree: Path, root: Path) -> None:
    """The run-time part of an unpacked ``libc6`` (``lib/`` and the ld.so configuration)."""
    lib = package_tree / "lib"
    if not lib.is_dir():
        raise ImageError(f"{package_tree} holds no lib/ (not an unpacked libc6?)")
    shutil.copytree(lib, root / "lib", symlinks=True, dirs_exist_ok=True)
    conf = package_tree / "etc/ld.so.conf.d"
    if conf.is_dir():
        shutil.copytree(conf, root / "etc/ld.so.conf.d", symlinks=True, dirs_exist_ok=True)


def copy_cross_libc(libdir: Path, root: Path) -> str:
    """A Debian cross C library (``/usr/<triplet>/lib``) installed as the guest's own.

    Shared objects go to ``/lib/<triplet>`` (where that ld.so looks), the loader is also
    linked at ``/lib/<name>`` (the interpreter programs ask for). Returns the triplet.
    """
    if not libdir.is_dir():
        raise ImageError(f"the cross C library {libdir} is missing: run `make install`")
    triplet = libdir.parent.name
    target = root / "lib" / triplet
    target.mkdir(parents=True, exist_ok=True)
    for entry in sorted(libdir.iterdir()):
        name = entry.name
        runtime = ".so." in name or name.startswith("ld")
        if not runtime or name.endswith((".a", ".o")):
            continue
        if entry.is_symlink():
            os.symlink(os.readlink(entry), target / name)
        elif entry.is_file():
            shutil.copy2(entry, target / name)
            if name.startswith("ld") and not (root / "lib" / name).exists():
                os.symlink(f"{triplet}/{name}", root / "lib" / name)
    return triplet


@dataclass
class BusyboxRoot:
    """An embedded device's root directory tree, assembled in ``root``."""

    root: Path
    hostname: str
    console: str
    links: dict[str, str] = field(default_factory=dict)

    def create(self, busybox: Path, links: Mapping[str, str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for rel, mode in DIRECTORIES.items():
            path = self.root / rel
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(mode)
        for rel, target in SYMLINKS.items():
            os.symlink(target, self.root / rel)
        shutil.copyfile(busybox, self.root / "bin/busybox")
        (self.root / "bin/busybox").chmod(0o755)
        for rel, target in sorted(links.items()):
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() and not path.is_symlink():
                os.symlink(target, path)
        self.links = dict(links)
        for rel, (data, mode) in etc_files(self.hostname, self.console).items():
            self.write(rel, data, mode)

    def write(self, rel: str, data: bytes, mode: int) -> None:
        """Put one file in the tree, replacing an applet link of that name if there is one."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        path.write_bytes(data)
        path.chmod(mode)
        if stat.S_IMODE(path.stat().st_mode) != mode:
            raise ImageError(f"cannot set mode {mode:o} on {path}")
