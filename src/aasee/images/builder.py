"""Builds guest images from Debian's archive alone, reproducibly and cached by their inputs.

``ImageBuilder(recipe_for(profile)).build()`` makes the guest of one architecture:

* the kernel (``kernels``): Debian's package for the architecture, or one built from
  Debian's kernel sources with a cross compiler where Debian has no port (big-endian MIPS);
* the root file system: a debootstrapped Debian server (x86-64), or an embedded device
  (``busybox_root``: busybox, the C library, ``/etc``, services) for the IoT guests;
* the agent, one static Go program per architecture (``agent_build``), installed as PID 1
  together with the start-up script (``guest_layout``);
* the root packed with ``mke2fs -d`` (no mount) and converted to qcow2 (booted as
  virtio-blk: QEMU 7.2 cannot migrate an NVMe disk, and snapshots need migration);
* the initramfs (``initramfs``) with the architecture's busybox and the modules the kernel
  needs to mount that disk and run the guest's devices.

Foreign packages come from a private apt setup per Debian architecture
(``debian_packages``); the host's apt configuration is never touched. Every intermediate
result is cached under ``cache_dir()`` by what went into it, and the image records the
digest of all its inputs (package versions, source digests, recipe): a second build
resolves versions and returns at once.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from aasee.arch import ArchProfile
from aasee.arch.profile import DebianKernel, SourceKernel
from aasee.images import agent_build
from aasee.images.ageing import age_tree
from aasee.images.busybox_build import busybox_from_source
from aasee.images.busybox_root import (
    BusyboxRoot,
    applet_links,
    applet_locations,
    applet_names,
    copy_cross_libc,
    copy_debian_libc,
)
from aasee.images.debian_packages import (
    DebianArchive,
    extract_deb,
    host_debian_arch,
    partial_dir,
    publish_dir,
    run,
)
from aasee.images.guest_layout import AGENT_PATH, ROOT_DEVICE, STAGE2_PATH, stage2_init
from aasee.images.identity import hardware_for
from aasee.images.initramfs import build_initramfs
from aasee.images.kernels import (
    GuestKernel,
    debian_base_config,
    debian_kernel,
    module_load_order,
    source_kernel,
)
from aasee.images.recipes import RECIPES, GuestRecipe, recipe_for
from aasee.images.store import GuestImage, ImageError, cache_dir, image_dir, snapshot_root

__all__ = ["BUILDER_VERSION", "RECIPES", "GuestRecipe", "ImageBuilder", "recipe_for"]

BUILDER_VERSION = "2"
Progress = Callable[[str], None]
TOOLS = ("mke2fs", "qemu-img", "dpkg-deb", "apt-get", "modprobe", "depmod")
# The modules whose code shapes an image: a change to any of them rebuilds the images.
BUILD_MODULES = (
    "builder.py",
    "busybox_build.py",
    "busybox_root.py",
    "debian_packages.py",
    "guest_layout.py",
    "identity.py",
    "initramfs.py",
    "kernels.py",
    "recipes.py",
)
ASSETS = ("guest-init.sh", "initramfs-init.sh")


def _code_digest() -> str:
    digest = hashlib.sha256()
    package = resources.files("aasee.images")
    for name in BUILD_MODULES:
        digest.update(name.encode() + b"\0" + package.joinpath(name).read_bytes())
    for name in ASSETS:
        digest.update(name.encode() + b"\0" + package.joinpath("assets", name).read_bytes())
    return digest.hexdigest()[:20]


@dataclass
class _Plan:
    """The resolved inputs of one build: what each part comes from, in versions."""

    inputs: dict[str, str] = field(default_factory=dict)

    def key(self) -> str:
        blob = json.dumps(self.inputs, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


class ImageBuilder:
    def __init__(self, recipe: GuestRecipe, progress: Progress | None = None) -> None:
        self.recipe = recipe
        self.profile: ArchProfile = recipe.profile
        self.progress = progress or (lambda _msg: None)
        self.cache = cache_dir()
        self.out = image_dir()
        self._archives: dict[tuple[str, str], DebianArchive] = {}

    # --- archives ---------------------------------------------------------------------------
    def archive(self, arch: str | None = None, kind: str = "deb") -> DebianArchive:
        """The private apt setup of Debian architecture ``arch`` (default: the guest's)."""
        arch = arch or self.profile.userland.debian_arch or host_debian_arch()
        if (arch, kind) not in self._archives:
            self._archives[(arch, kind)] = DebianArchive(
                self.cache,
                arch,
                self.recipe.sources,
                kind="deb-src" if kind == "deb-src" else "deb",
            )
        return self._archives[(arch, kind)]

    # --- inputs -----------------------------------------------------------------------------
    def inputs(self) -> dict[str, str]:
        """Everything the image is made of, as versions and digests (its cache key)."""
        return self._plan().inputs

    def _plan(self) -> _Plan:
        profile = self.profile
        userland = profile.userland
        plan = _Plan()
        plan.inputs["builder"] = BUILDER_VERSION
        plan.inputs["code"] = _code_digest()
        plan.inputs["recipe"] = self.recipe.key()
        kernel = profile.kernel
        if isinstance(kernel, DebianKernel):
            package, version = self.archive().resolve_meta(kernel.meta_package, "linux-image-")
            plan.inputs["kernel"] = f"{package}={version}"
        else:
            host = self.archive(host_debian_arch())
            plan.inputs["kernel"] = (
                f"{kernel.source_package}={host.candidate(kernel.source_package)}"
            )
            plan.inputs["cross_gcc"] = _tool_version(f"{kernel.cross_prefix}gcc")
            base = debian_base_config(kernel)
            if base is not None:
                package, version = self.archive(base[0]).resolve_meta(base[1], "linux-image-")
                plan.inputs["kernel_config"] = f"{package}={version}"
        if userland.busybox_from_source:
            sources = self.archive(kind="deb-src")
            plan.inputs["busybox"] = f"busybox source={sources.source_version('busybox')}"
        else:
            plan.inputs["busybox"] = f"busybox-static={self.archive().candidate('busybox-static')}"
        if userland.kind == "busybox":
            host = self.archive(host_debian_arch())
            plan.inputs["applet_list"] = f"busybox-static={host.candidate('busybox-static')}"
            for arch in (userland.debian_arch, *userland.extra_libc_arches):
                if arch is None:
                    continue
                for package in userland.libc_packages:
                    version = self.archive(arch).candidate(package)
                    plan.inputs[f"libc:{arch}:{package}"] = version
            if userland.cross_libc_dir:
                plan.inputs["cross_libc"] = _tree_digest(Path(userland.cross_libc_dir))
        else:
            plan.inputs["debootstrap"] = json.dumps(self._debootstrap_spec())
        plan.inputs["agent"] = self._agent_key()
        return plan

    def _agent_key(self) -> str:
        go = self.profile.go
        target = ",".join([go.goarch, *(f"{k}={v}" for k, v in go.env)])
        return f"{target} {agent_build.agent_source_digest()[:20]} {_go_version()}"

    # --- build ------------------------------------------------------------------------------
    def build(self, force: bool = False) -> GuestImage:
        for tool in TOOLS:
            if shutil.which(tool) is None:
                raise ImageError(f"{tool} is not installed; run `make install` first")
        if self.profile.userland.kind == "debian" and shutil.which("debootstrap") is None:
            raise ImageError("debootstrap is not installed; run `make install` first")
        self.cache.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self.progress("resolving package versions")
            plan = self._plan()
            inputs_key = plan.key()
            if not force:
                cached = self._cached(inputs_key)
                if cached is not None:
                    self.progress("image is up to date (cached)")
                    return cached
            return self._build(plan, inputs_key)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        locks = self.cache / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with (locks / f"{self.recipe.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _cached(self, inputs_key: str) -> GuestImage | None:
        meta_path = self.out / f"{self.recipe.name}.json"
        if not meta_path.is_file():
            return None
        try:
            existing = GuestImage.model_validate_json(meta_path.read_text())
            existing.check()
        except (ValueError, ImageError):
            return None
        return existing if existing.inputs_key == inputs_key else None

    def _build(self, plan: _Plan, inputs_key: str) -> GuestImage:
        profile = self.profile
        name = self.recipe.name
        kernel = self._kernel()
        initrd_busybox, busybox_origin = self._busybox()
        agent = self._agent()
        self.out.mkdir(parents=True, exist_ok=True)
        os.chmod(self.out, 0o755)
        with tempfile.TemporaryDirectory(prefix="build-", dir=str(self.cache)) as tmp:
            work = Path(tmp)
            self.progress("assembling the root file system")
            root = work / "root"
            if profile.userland.kind == "debian":
                self._debian_root(root, kernel)
                os_name = f"debian-{self.recipe.suite}"
            else:
                self._device_root(root, initrd_busybox)
                os_name = f"busybox-{_upstream(busybox_origin)}"
            self._install(root, AGENT_PATH, agent.read_bytes(), 0o755)
            self._install(root, STAGE2_PATH, stage2_init(), 0o755)
            aged = age_tree(root, time.time(), inputs_key)
            self.progress(f"backdated {aged} files written by the build")
            self.progress("building the initramfs")
            modules: list[Path] = []
            if kernel.modules_root is not None:
                assert isinstance(profile.kernel, DebianKernel)
                wanted = (*profile.kernel.initramfs_modules, *profile.kernel.userland_modules)
                modules = module_load_order(kernel.modules_root, kernel.release, wanted)
            initrd = build_initramfs(initrd_busybox, modules, work / "initrd.img")
            self.progress("packing ext4 (mke2fs -d) and converting to qcow2")
            raw = work / "root.ext4"
            run(
                [
                    "mke2fs",
                    "-q",
                    "-t",
                    "ext4",
                    "-L",
                    "rootfs",
                    "-E",
                    "root_owner=0:0",
                    "-d",
                    str(root),
                    str(raw),
                    self.recipe.disk_size,
                ]
            )
            kernel_suffix = "vmlinux" if kernel.image.name.startswith("vmlinux") else "vmlinuz"
            targets = {
                "disk": self.out / f"{name}.qcow2",
                "kernel": self.out / f"{name}.{kernel_suffix}",
                "initrd": self.out / f"{name}.initrd",
            }
            staged = {label: path.with_name(f".{path.name}.tmp") for label, path in targets.items()}
            run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(staged["disk"])])
            shutil.copyfile(kernel.image, staged["kernel"])
            shutil.copyfile(initrd, staged["initrd"])
            for label, target in targets.items():
                os.chmod(staged[label], 0o644)
                os.replace(staged[label], target)
        for stale in self.out.glob(f"{name}.vmlinu[xz]"):
            if stale != targets["kernel"]:
                stale.unlink()
        image = GuestImage(
            name=name,
            arch=profile.name,
            os=os_name,
            kernel_release=kernel.release,
            cmdline=self.cmdline(),
            disk=targets["disk"],
            kernel=targets["kernel"],
            initrd=targets["initrd"],
            agent_version=agent_build.agent_version(),
            inputs_key=inputs_key,
            built_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            size_bytes=targets["disk"].stat().st_size,
            inputs=plan.inputs,
            hardware=hardware_for(name, profile.userland.kind, inputs_key),
        )
        meta_path = self.out / f"{name}.json"
        partial = meta_path.with_name(f".{meta_path.name}.tmp")
        partial.write_text(image.model_dump_json(indent=2))
        os.chmod(partial, 0o644)
        os.replace(partial, meta_path)
        self._drop_snapshots(name)
        self.progress(f"image {name} ready")
        return image

    def _drop_snapshots(self, name: str) -> None:
        """Every snapshot of the image was made from its previous disk: a forced rebuild with
        the same inputs has the same key but not the same file system (its machine id, host
        keys and ext4 UUID are new), and a restored guest would read it through stale caches.
        """
        for meta in snapshot_root().glob(f"{name}-*/meta.json"):
            shutil.rmtree(meta.parent, ignore_errors=True)
            self.progress(f"removed the snapshot {meta.parent.name} of the previous build")

    def cmdline(self) -> str:
        """The guest kernel's command line: console, root disk, the profile's extras."""
        console = self.profile.emulation.console
        words = [f"console={console}", "panic=-1", "quiet", f"root={ROOT_DEVICE}"]
        return " ".join([*words, *self.profile.extra_cmdline])

    # --- parts ------------------------------------------------------------------------------
    def _kernel(self) -> GuestKernel:
        spec = self.profile.kernel
        if isinstance(spec, SourceKernel):
            host = self.archive(host_debian_arch())
            base = debian_base_config(spec)
            base_archive = self.archive(base[0]) if base is not None else None
            return source_kernel(host, spec, self.cache, self.progress, base_archive=base_archive)
        return debian_kernel(self.archive(), spec, self.cache, self.progress)

    def _busybox(self) -> tuple[Path, str]:
        """The guest architecture's static busybox and where it came from."""
        userland = self.profile.userland
        if userland.busybox_from_source:
            spec = self.profile.kernel
            if not isinstance(spec, SourceKernel):
                raise ImageError("busybox from source needs the cross compiler of a SourceKernel")
            return busybox_from_source(
                self.archive(kind="deb-src"), spec.cross_prefix, self.cache, self.progress
            )
        return self._busybox_static(self.archive())

    def _busybox_static(self, archive: DebianArchive) -> tuple[Path, str]:
        version = archive.candidate("busybox-static")
        tree = self._unpacked(archive, "busybox-static", version)
        return tree / "bin/busybox", f"busybox-static {version}"

    def _unpacked(self, archive: DebianArchive, package: str, version: str) -> Path:
        """A package's files, unpacked once into the cache."""
        tree = self.cache / "unpacked" / f"{package}_{version.replace(':', '%3a')}_{archive.arch}"
        if not (tree / ".complete").is_file():
            self.progress(f"downloading {package} {version} ({archive.arch})")
            deb = archive.download(package, version)
            partial = partial_dir(tree)
            extract_deb(deb, partial)
            (partial / ".complete").write_text(version + "\n")
            publish_dir(partial, tree)
        return tree

    def _agent(self) -> Path:
        go = self.profile.go
        target = self.cache / "agent" / self._agent_key().replace(" ", "_").replace(",", "_")
        binary = target / "agent"
        if not binary.is_file():
            self.progress(f"building the agent for {go.goarch}")
            try:
                agent_build.build_agent(go.goarch, dict(go.env), binary, self.cache / "go")
            except agent_build.AgentBuildError as exc:
                raise ImageError(str(exc)) from exc
        return binary

    def _install(self, root: Path, guest_path: str, data: bytes, mode: int) -> None:
        path = root / guest_path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        path.write_bytes(data)
        path.chmod(mode)

    # --- Debian server root -----------------------------------------------------------------
    def _debootstrap_spec(self) -> list[object]:
        recipe = self.recipe
        return [recipe.suite, self.profile.userland.debian_arch, recipe.mirror, recipe.packages]

    def _debootstrap(self) -> Path:
        recipe = self.recipe
        arch = self.profile.userland.debian_arch
        key = hashlib.sha256(json.dumps(self._debootstrap_spec()).encode()).hexdigest()[:16]
        target = self.cache / f"rootfs-{recipe.suite}-{arch}-{key}"
        if (target / ".aasee-complete").is_file():
            self.progress("debootstrap: cached root file system")
            return target
        self.progress(f"debootstrap {recipe.suite} (minbase; about a minute)")
        if target.exists():
            shutil.rmtree(target)
        partial = Path(f"{target}.partial")
        if partial.exists():
            shutil.rmtree(partial)
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--arch={arch}",
                f"--include={','.join(recipe.packages)}",
                recipe.suite,
                str(partial),
                recipe.mirror,
            ]
        )
        for leftover in (partial / "var/cache/apt/archives").glob("*.deb"):
            leftover.unlink()
        os.replace(partial, target)
        (target / ".aasee-complete").write_text("ok\n")
        return target

    def _debian_root(self, root: Path, kernel: GuestKernel) -> None:
        rootfs = self._debootstrap()
        run(["cp", "-a", str(rootfs), str(root)])
        (root / ".aasee-complete").unlink(missing_ok=True)
        if kernel.modules_root is not None:
            modules = root / "lib/modules"
            modules.mkdir(parents=True, exist_ok=True)
            source = kernel.modules_root / "lib/modules" / kernel.release
            run(["cp", "-a", str(source), str(modules / kernel.release)])
        hostname = self.recipe.hostname
        (root / "etc/hostname").write_text(f"{hostname}\n")
        (root / "etc/hosts").write_text(_HOSTS.format(hostname=hostname))
        (root / "etc/fstab").write_text(f"{ROOT_DEVICE} / ext4 rw,errors=remount-ro 0 1\n")
        (root / "etc/resolv.conf").write_text("nameserver 10.0.2.3\n")
        (root / "etc/network/interfaces").write_text(_INTERFACES)
        self._server_identity(root)
        self._server_services(root)
        self._server_user(root)

    def _server_identity(self, root: Path) -> None:
        """What makes one image a machine of its own: machine id, SSH host keys, time zone."""
        (root / "etc/machine-id").write_text(os.urandom(16).hex() + "\n")
        dbus = root / "var/lib/dbus"
        dbus.mkdir(parents=True, exist_ok=True)
        (dbus / "machine-id").unlink(missing_ok=True)
        (dbus / "machine-id").symlink_to("/etc/machine-id")
        for key in (root / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        run(["chroot", str(root), "ssh-keygen", "-A"])
        zone = self.recipe.timezone
        if (root / "usr/share/zoneinfo" / zone).is_file():
            (root / "etc/localtime").unlink(missing_ok=True)
            (root / "etc/localtime").symlink_to(f"/usr/share/zoneinfo/{zone}")
            (root / "etc/timezone").write_text(f"{zone}\n")

    def _server_services(self, root: Path) -> None:
        """The daemons the start-up script starts, as Debian's runlevel 2 links.

        The start-up script runs ``/etc/rc2.d/S*`` (systemd is installed for its commands
        only, PID 1 is the agent): the packages' own init scripts, and one for rsyslog,
        whose package has a systemd unit only.
        """
        self._install(root, "/etc/init.d/rsyslog", _RSYSLOG_INIT.encode(), 0o755)
        rc2 = root / "etc/rc2.d"
        rc2.mkdir(parents=True, exist_ok=True)
        for link in rc2.glob("S*"):
            link.unlink()
        for order, service in SERVER_SERVICES:
            if (root / "etc/init.d" / service).is_file():
                (rc2 / f"S{order:02d}{service}").symlink_to(f"../init.d/{service}")
        (root / "var/spool/rsyslog").mkdir(parents=True, exist_ok=True)
        (root / "var/log/bootstrap.log").unlink(missing_ok=True)
        for log in ("syslog", "auth.log", "cron.log", "kern.log", "user.log"):
            path = root / "var/log" / log
            path.touch()
            os.chown(path, 0, _gid(root, "adm"))
            path.chmod(0o640)
        crontabs = root / "var/spool/cron/crontabs"
        crontabs.mkdir(parents=True, exist_ok=True)
        self._install(root, "/usr/local/sbin/backup-www", _BACKUP_SCRIPT.encode(), 0o755)
        crontab = crontabs / "root"
        crontab.write_text(_ROOT_CRONTAB)
        os.chown(crontab, 0, _gid(root, "crontab"))
        crontab.chmod(0o600)

    def _server_user(self, root: Path) -> None:
        """The administrator's account: home, shell history, a few files, sudo rights."""
        user = self.recipe.user
        chroot = ["chroot", str(root)]
        passwd = (root / "etc/passwd").read_text()
        if f"\n{user}:" not in passwd:
            run([*chroot, "useradd", "-m", "-u", "1000", "-s", "/bin/bash", "-c", "Admin", user])
        run([*chroot, "usermod", "-aG", "sudo,adm", user])
        secret = os.urandom(12).hex()
        subprocess.run([*chroot, "chpasswd"], input=f"{user}:{secret}\n", text=True, check=True)
        home = root / "home" / user
        files = {
            ".bash_history": _ADMIN_HISTORY,
            "notes.txt": _ADMIN_NOTES,
            "deploy.sh": _DEPLOY_SCRIPT,
        }
        for name, text in files.items():
            (home / name).write_text(text)
        (home / "deploy.sh").chmod(0o755)
        (home / ".bash_history").chmod(0o600)
        ssh = home / ".ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        key = ssh / "id_ed25519"
        key.unlink(missing_ok=True)
        key.with_suffix(".pub").unlink(missing_ok=True)
        run(
            [
                *chroot,
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"{user}@{self.recipe.hostname}",
                "-f",
                f"/home/{user}/.ssh/id_ed25519",
            ]
        )
        (ssh / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
        (ssh / "authorized_keys").chmod(0o600)
        run([*chroot, "chown", "-R", f"{user}:{user}", f"/home/{user}"])
        (root / "root/.bash_history").write_text(_ROOT_HISTORY)
        (root / "root/.bash_history").chmod(0o600)

    # --- embedded device root ---------------------------------------------------------------
    def _device_root(self, root: Path, busybox: Path) -> None:
        userland = self.profile.userland
        host_busybox, _ = self._busybox_static(self.archive(host_debian_arch()))
        listing = run([str(host_busybox), "--list-full"]).stdout
        links = applet_links(applet_names(busybox.read_bytes()), applet_locations(listing))
        device = BusyboxRoot(root, self.recipe.hostname, self.profile.emulation.console)
        device.create(busybox, links)
        for arch in (userland.debian_arch, *userland.extra_libc_arches):
            if arch is None:
                continue
            archive = self.archive(arch)
            for package in userland.libc_packages:
                tree = self._unpacked(archive, package, archive.candidate(package))
                copy_debian_libc(tree, root)
        if userland.cross_libc_dir:
            copy_cross_libc(Path(userland.cross_libc_dir), root)


SERVER_SERVICES = ((1, "rsyslog"), (1, "sudo"), (2, "atd"), (2, "cron"), (2, "ssh"), (3, "nginx"))
"""(order, init script) of the daemons a Debian server guest runs from start-up."""

_HOSTS = """127.0.0.1\tlocalhost
127.0.1.1\t{hostname}

# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
"""

_INTERFACES = """# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug eth0
iface eth0 inet static
\taddress 10.0.2.15/24
\tgateway 10.0.2.2
"""

_RSYSLOG_INIT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          rsyslog
# Required-Start:    $remote_fs $time
# Required-Stop:     umountnfs $time
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: enhanced syslogd
### END INIT INFO
PATH=/sbin:/bin:/usr/sbin:/usr/bin
PIDFILE=/run/rsyslogd.pid
case "$1" in
  start)
    start-stop-daemon --start --quiet --pidfile $PIDFILE --exec /usr/sbin/rsyslogd -- ;;
  stop)
    start-stop-daemon --stop --quiet --retry=TERM/30/KILL/5 --pidfile $PIDFILE \
      --exec /usr/sbin/rsyslogd && rm -f $PIDFILE ;;
  restart|force-reload)
    "$0" stop; "$0" start ;;
  status)
    start-stop-daemon --status --pidfile $PIDFILE --exec /usr/sbin/rsyslogd ;;
  *)
    echo "Usage: /etc/init.d/rsyslog {start|stop|restart|force-reload|status}" >&2
    exit 3 ;;
esac
"""

_ROOT_CRONTAB = """# DO NOT EDIT THIS FILE - edit the master and reinstall.
# (/tmp/crontab.Xk2v9Q installed on Tue Mar 12 09:41:07 2024)
# (Cron version -- $Id: crontab.c,v 2.13 1994/01/17 03:20:37 vixie Exp $)
# m h  dom mon dow   command
15 2 * * * /usr/local/sbin/backup-www >/dev/null 2>&1
"""

_BACKUP_SCRIPT = """#!/bin/sh
# Nightly copy of the web root and the nginx configuration.
set -e
dest=/var/backups/www
mkdir -p "$dest"
tar -czf "$dest/www-$(date +%F).tar.gz" /var/www /etc/nginx 2>/dev/null
find "$dest" -name 'www-*.tar.gz' -mtime +14 -delete
"""

_ADMIN_HISTORY = """sudo apt update
sudo apt upgrade -y
df -h
free -m
sudo systemctl status nginx
sudo tail -n 50 /var/log/nginx/error.log
cd /var/www/html
ls -la
sudo vi /etc/nginx/sites-available/default
sudo nginx -t
sudo systemctl reload nginx
curl -I http://localhost/
sudo crontab -l
ssh-keygen -t ed25519
cat ~/.ssh/id_ed25519.pub
sudo ufw status
ip a
ss -tlnp
top
sudo journalctl -u ssh --since yesterday
./deploy.sh
exit
"""

_ROOT_HISTORY = """apt install nginx-light
systemctl enable nginx
crontab -e
ufw allow 22/tcp
ufw allow 80/tcp
passwd admin
exit
"""

_ADMIN_NOTES = """web01 - internal intranet frontend
- nginx serves /var/www/html, config in /etc/nginx/sites-available/default
- nightly backup at 02:15 (root crontab) to /var/backups/www
- TODO: renew the internal TLS certificate before June
- TODO: move the monitoring agent to the new collector
"""

_DEPLOY_SCRIPT = """#!/bin/sh
# Publish the site from the build share.
set -e
src=${1:-/srv/build/site}
sudo cp -a "$src"/. /var/www/html/
sudo systemctl reload nginx
"""


def _gid(root: Path, group: str) -> int:
    for line in (root / "etc/group").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == group:
            return int(fields[2])
    return 0


def _tool_version(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        return "missing"
    return run([path, "-dumpfullversion"]).stdout.strip()


def _go_version() -> str:
    go = shutil.which("go")
    if go is None:
        return "go-missing"
    result = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "go-unknown"


def _tree_digest(directory: Path) -> str:
    """Digest of a directory's file names, sizes and modification times (cheap, not content)."""
    if not directory.is_dir():
        return "missing"
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        digest.update(f"{path.relative_to(directory)} {info.st_size} {info.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def _upstream(origin: str) -> str:
    """``1.35.0`` of ``busybox-static 1:1.35.0-4+deb12u1+b1``."""
    version = origin.split()[-1] if " " in origin else origin
    for word in origin.split():
        if any(c.isdigit() for c in word) and "." in word:
            version = word
            break
    version = version.split(":", 1)[-1]
    return version.split("-", 1)[0]
