"""Builds the default guest images from Debian packages, reproducibly and cached by inputs.

Steps: download the Debian kernel and busybox-static packages; debootstrap a minimal
bookworm root file system (cached per suite, mirror and package list); add the kernel
modules, the two-stage init, the agent and its tracer; pack the root with ``mke2fs -d`` (no
mount needed) and convert it to qcow2; build the busybox initramfs that loads the virtio
drivers and mounts the virtio-blk root disk (virtio-blk because QEMU 7.2 cannot migrate an
NVMe disk, and snapshots need migration).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from aasee.images.store import GuestImage, ImageError, cache_dir, image_dir

BUILDER_VERSION = "1"
Progress = Callable[[str], None]

# Drivers stage 1 needs before it can mount the root disk; dependencies come from modprobe.
INITRAMFS_MODULES = ("virtio_pci", "virtio_blk")

AGENT_FILES = ("agent.py", "ftrace.py")


@dataclass(frozen=True)
class GuestRecipe:
    """What goes into a guest; its hash is the image's cache key."""

    name: str = "debian-bookworm-amd64"
    suite: str = "bookworm"
    arch: str = "amd64"
    mirror: str = field(
        default_factory=lambda: os.environ.get(
            "AASEE_DEBIAN_MIRROR", "http://deb.debian.org/debian"
        )
    )
    kernel_package: str = "linux-image-cloud-amd64"
    packages: tuple[str, ...] = (
        "python3",
        "iproute2",
        "kmod",
        "procps",
        "netbase",
        "busybox",
        "passwd",
    )
    disk_size: str = "2G"
    user: str = "analyst"

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.__dict__, sort_keys=True).encode()).hexdigest()[:16]


RECIPES = {"debian-bookworm-amd64": GuestRecipe()}


def _run(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    try:
        result: subprocess.CompletedProcess[str] = subprocess.run(
            list(argv),
            check=True,
            capture_output=True,
            text=True,
            **kwargs,  # type: ignore[call-overload]
        )
        return result
    except FileNotFoundError as exc:
        raise ImageError(f"{argv[0]} is not installed; run `make install` first") from exc
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip()[-2000:]
        raise ImageError(f"`{' '.join(argv)}` failed (exit {exc.returncode}): {tail}") from exc


def _asset(name: str) -> bytes:
    return resources.files("aasee.images").joinpath("assets", name).read_bytes()


def _agent_file(name: str) -> bytes:
    if name == "protocol.py":
        return resources.files("aasee.guest").joinpath("protocol.py").read_bytes()
    return resources.files("aasee.guest").joinpath("agent", name).read_bytes()


def _guest_payload() -> dict[str, bytes]:
    files = {f"opt/aasee/{n}": _agent_file(n) for n in (*AGENT_FILES, "protocol.py")}
    files["sbin/aasee-init"] = _asset("guest-init.sh")
    return files


def _candidate_version(package: str) -> str:
    out = _run(["apt-cache", "policy", package]).stdout
    match = re.search(r"Candidate:\s*(\S+)", out)
    if not match or match.group(1) == "(none)":
        raise ImageError(
            f"Debian package {package} is not available; run `apt-get update` and retry"
        )
    return match.group(1)


def _kernel_image_package(meta: str) -> str:
    out = _run(["apt-cache", "depends", meta]).stdout
    match = re.search(r"Depends:\s*(linux-image-\S+)", out)
    if not match:
        raise ImageError(f"cannot resolve the kernel package behind {meta}")
    return match.group(1)


def _download_deb(package: str, version: str, debs: Path) -> Path:
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    wanted = version.replace(":", "%3a")
    for deb in found:
        if f"_{wanted}_" in deb.name:
            return deb
    _run(["apt-get", "download", f"{package}={version}"], cwd=str(debs))
    for deb in sorted(debs.glob(f"{package}_*.deb")):
        if f"_{wanted}_" in deb.name:
            return deb
    raise ImageError(f"apt-get download of {package}={version} produced no .deb in {debs}")


class ImageBuilder:
    def __init__(self, recipe: GuestRecipe, progress: Progress | None = None) -> None:
        self.recipe = recipe
        self.progress = progress or (lambda _msg: None)
        self.cache = cache_dir()
        self.out = image_dir()

    def inputs(self) -> dict[str, str]:
        kernel_pkg = _kernel_image_package(self.recipe.kernel_package)
        payload = hashlib.sha256()
        for name, data in sorted(_guest_payload().items()):
            payload.update(name.encode() + b"\0" + data)
        payload.update(_asset("initramfs-init.sh"))
        # The recipe code itself is an input: a change to how images are built rebuilds them.
        payload.update(Path(__file__).read_bytes())
        return {
            "builder": BUILDER_VERSION,
            "recipe": self.recipe.key(),
            "kernel_package": kernel_pkg,
            "kernel_version": _candidate_version(kernel_pkg),
            "busybox_version": _candidate_version("busybox-static"),
            "payload": payload.hexdigest(),
        }

    def build(self, force: bool = False) -> GuestImage:
        for tool in ("debootstrap", "mke2fs", "qemu-img", "depmod", "cpio", "dpkg-deb"):
            if shutil.which(tool) is None:
                raise ImageError(f"{tool} is not installed; run `make install` first")
        self.progress("resolving package versions")
        inputs = self.inputs()
        inputs_key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:20]
        name = self.recipe.name
        meta_path = self.out / f"{name}.json"
        if not force and meta_path.is_file():
            try:
                existing = GuestImage.model_validate_json(meta_path.read_text())
                existing.check()
                if existing.inputs_key == inputs_key:
                    self.progress("image is up to date (cached)")
                    return existing
            except (ValueError, ImageError):
                pass
        debs = self.cache / "debs"
        self.progress(f"downloading {inputs['kernel_package']} and busybox-static")
        kernel_deb = _download_deb(inputs["kernel_package"], inputs["kernel_version"], debs)
        busybox_deb = _download_deb("busybox-static", inputs["busybox_version"], debs)
        rootfs_cache = self._debootstrap()
        self.out.mkdir(parents=True, exist_ok=True)
        os.chmod(self.out, 0o755)
        with tempfile.TemporaryDirectory(prefix="aasee-build-", dir=str(self.cache)) as tmp:
            work = Path(tmp)
            self.progress("unpacking the kernel")
            kernel_tree = work / "kernel"
            _run(["dpkg-deb", "-x", str(kernel_deb), str(kernel_tree)])
            vmlinuz = next((kernel_tree / "boot").glob("vmlinuz-*"))
            release = vmlinuz.name.removeprefix("vmlinuz-")
            _run(["depmod", "-b", str(kernel_tree), release])
            self.progress("assembling the root file system")
            root = work / "root"
            _run(["cp", "-a", str(rootfs_cache), str(root)])
            self._customise_root(root, kernel_tree, release)
            self.progress("building the initramfs")
            initrd = work / "initrd.img"
            self._initramfs(work, kernel_tree, release, busybox_deb, initrd)
            self.progress("packing ext4 (mke2fs -d) and converting to qcow2")
            raw = work / "root.ext4"
            _run(
                [
                    "mke2fs",
                    "-q",
                    "-t",
                    "ext4",
                    "-L",
                    "aaseeroot",
                    "-d",
                    str(root),
                    str(raw),
                    self.recipe.disk_size,
                ]
            )
            disk_tmp = self.out / f".{name}.qcow2.tmp"
            _run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(disk_tmp)])
            targets = {
                "disk": self.out / f"{name}.qcow2",
                "kernel": self.out / f"{name}.vmlinuz",
                "initrd": self.out / f"{name}.initrd",
            }
            shutil.copyfile(vmlinuz, self.out / f".{name}.vmlinuz.tmp")
            shutil.copyfile(initrd, self.out / f".{name}.initrd.tmp")
            for label, target in targets.items():
                suffix = {"disk": "qcow2", "kernel": "vmlinuz", "initrd": "initrd"}[label]
                tmp_path = self.out / f".{name}.{suffix}.tmp"
                os.chmod(tmp_path, 0o644)
                os.replace(tmp_path, target)
        image = GuestImage(
            name=name,
            arch=self.recipe.arch,
            os=f"debian-{self.recipe.suite}",
            kernel_release=release,
            cmdline="console=ttyS0 panic=-1 quiet aasee.root=/dev/vda",
            disk=targets["disk"],
            kernel=targets["kernel"],
            initrd=targets["initrd"],
            agent_version=_agent_version(),
            inputs_key=inputs_key,
            built_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            size_bytes=targets["disk"].stat().st_size,
        )
        meta_path.write_text(image.model_dump_json(indent=2))
        os.chmod(meta_path, 0o644)
        self.progress(f"image {name} ready")
        return image

    def _debootstrap(self) -> Path:
        recipe = self.recipe
        key = hashlib.sha256(
            json.dumps([recipe.suite, recipe.arch, recipe.mirror, recipe.packages]).encode()
        ).hexdigest()[:16]
        target = self.cache / f"rootfs-{recipe.suite}-{recipe.arch}-{key}"
        if (target / ".aasee-complete").is_file():
            self.progress("debootstrap: cached root file system")
            return target
        self.progress(f"debootstrap {recipe.suite} (minbase; about a minute)")
        if target.exists():
            shutil.rmtree(target)
        self.cache.mkdir(parents=True, exist_ok=True)
        partial = Path(f"{target}.partial")
        if partial.exists():
            shutil.rmtree(partial)
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--arch={recipe.arch}",
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

    def _customise_root(self, root: Path, kernel_tree: Path, release: str) -> None:
        (root / ".aasee-complete").unlink(missing_ok=True)
        modules = root / "lib/modules"
        modules.mkdir(parents=True, exist_ok=True)
        _run(["cp", "-a", str(kernel_tree / "lib/modules" / release), str(modules / release)])
        for rel, data in _guest_payload().items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(0o755 if rel.startswith("sbin/") else 0o644)
        (root / "etc/hostname").write_text("workstation\n")
        (root / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 workstation\n")
        (root / "etc/fstab").write_text("/dev/vda / ext4 rw 0 1\n")
        (root / "etc/resolv.conf").write_text("nameserver 10.0.2.3\n")
        user = self.recipe.user
        passwd = (root / "etc/passwd").read_text()
        if f"\n{user}:" not in passwd:
            _run(["chroot", str(root), "useradd", "-m", "-u", "1000", "-s", "/bin/bash", user])

    def _initramfs(
        self, work: Path, kernel_tree: Path, release: str, busybox_deb: Path, out: Path
    ) -> None:
        staging = work / "initramfs"
        busybox_tree = work / "busybox"
        _run(["dpkg-deb", "-x", str(busybox_deb), str(busybox_tree)])
        (staging / "bin").mkdir(parents=True)
        (staging / "modules").mkdir()
        shutil.copy2(busybox_tree / "bin/busybox", staging / "bin/busybox")
        found: list[str] = []
        for module in INITRAMFS_MODULES:
            deps = _run(
                ["modprobe", "-d", str(kernel_tree), "-S", release, "--show-depends", module]
            ).stdout
            for line in deps.splitlines():
                words = line.split()
                if len(words) < 2 or words[0] != "insmod":
                    continue  # "builtin x": nothing to load
                ko = Path(words[1])
                if ko.stem not in found:
                    shutil.copy2(ko, staging / "modules" / ko.name)
                    found.append(ko.stem)
        if "virtio_blk" not in found:
            raise ImageError(f"kernel {release} has no virtio_blk module")
        (staging / "modules.order").write_text("\n".join(found) + "\n")
        init = staging / "init"
        init.write_bytes(_asset("initramfs-init.sh"))
        init.chmod(0o755)
        listing = "\n".join(str(p.relative_to(staging)) for p in sorted(staging.rglob("*"))) + "\n"
        cpio = subprocess.run(
            ["cpio", "-o", "-H", "newc", "--quiet"],
            input=listing.encode(),
            cwd=staging,
            capture_output=True,
            check=True,
        )
        out.write_bytes(_gzip(cpio.stdout))


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=1, mtime=0)


def _agent_version() -> str:
    match = re.search(rb'AGENT_VERSION = "([^"]+)"', _agent_file("agent.py"))
    return match.group(1).decode() if match else "unknown"
