"""Guest kernels: Debian's own kernel packages, or a kernel built from Debian's sources.

``debian_kernel`` unpacks the image package a meta package stands for (e.g.
``linux-image-arm64`` -> ``linux-image-6.1.0-57-arm64``) and runs ``depmod -b`` on it (it
works on foreign modules). ``source_kernel`` builds one from ``linux-source-*`` with a
Debian cross compiler, for architectures Debian no longer ships (big-endian MIPS): a base
configuration with every module turned off, the profile's fragment merged over that, and
``vmlinux`` built. The base is a ``make`` target (``malta_defconfig``), or, written
``debian-config:<debian arch>/<kernel meta package>``, the configuration Debian ships with
that kernel (``boot/config-*`` of its package), which Debian runs and tests. Both kinds
are cached under the image cache by what went into them.

``module_load_order`` lists the module files, dependencies first, that ``insmod`` needs to
get some drivers running; built-in drivers need nothing.

MIPS kernels are booted uncompressed: under TCG a ``vmlinuz``'s self-decompressor costs
seconds of every cold boot, so ``unwrap_mips_vmlinuz`` takes the compressed image out of
Debian's wrapper and gives it an ELF header of its own (entry point read from the
wrapper's jump to the kernel, checked against the kernel's own first jump).
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aasee.arch.profile import DebianKernel, SourceKernel
from aasee.images.debian_packages import (
    DebianArchive,
    extract_deb,
    partial_dir,
    publish_dir,
    run,
)
from aasee.images.store import ImageError

__all__ = [
    "KERNEL_BUILD_VERSION",
    "GuestKernel",
    "debian_base_config",
    "debian_kernel",
    "disable_modules",
    "module_load_order",
    "parse_show_depends",
    "source_kernel",
    "source_kernel_key",
    "unwrap_mips_vmlinuz",
]

Progress = Callable[[str], None]

UNPACK_VERSION = "u2"
"""Bumped when what is done to an unpacked kernel package changes (depmod, MIPS unwrap)."""
KERNEL_BUILD_VERSION = "2"
"""Bumped when the way a source kernel is configured or built changes."""
# What ``uname -v`` and /proc/version say about the build: a vendor's build machine, not
# the sandbox host ("root@<host name>" by default).
BUILD_IDENTITY = {"KBUILD_BUILD_USER": "builder", "KBUILD_BUILD_HOST": "buildhost"}


@dataclass(frozen=True)
class GuestKernel:
    """A kernel ready to boot, and where its modules are (None: everything built in)."""

    image: Path
    release: str
    modules_root: Path | None
    """A tree holding ``lib/modules/<release>`` with ``modules.dep`` (``modprobe -d``)."""
    origin: str
    """What it was made from (``package=version``), for cache keys and metadata."""


# --- Debian packages -------------------------------------------------------------------------
def debian_kernel(
    archive: DebianArchive, spec: DebianKernel, cache: Path, progress: Progress
) -> GuestKernel:
    """The kernel package behind ``spec.meta_package``, unpacked and depmod'ed (cached)."""
    package, version = archive.resolve_meta(spec.meta_package, "linux-image-")
    tree = cache / "kernels" / f"{package}_{version.replace(':', '%3a')}.{UNPACK_VERSION}"
    stamp = tree / ".complete"
    if not stamp.is_file():
        progress(f"downloading {package} {version} ({archive.arch})")
        deb = archive.download(package, version)
        partial = partial_dir(tree)
        extract_deb(deb, partial)
        images = sorted((partial / "boot").glob(spec.image_glob))
        if len(images) != 1:
            raise ImageError(f"{package} holds {len(images)} files boot/{spec.image_glob}")
        release = _release_of(images[0].name)
        if (partial / "lib/modules" / release).is_dir():
            run(["depmod", "-b", str(partial), release])
        boot_image = images[0].name
        unwrapped = unwrap_mips_vmlinuz(images[0].read_bytes())
        if unwrapped is not None:
            boot_image = f"vmlinux-{release}"
            (partial / "boot" / boot_image).write_bytes(unwrapped)
        stamp_data = json.dumps({"image": boot_image, "release": release})
        (partial / ".complete").write_text(stamp_data)
        publish_dir(partial, tree)
    meta = json.loads(stamp.read_text())
    release = str(meta["release"])
    modules = tree if (tree / "lib/modules" / release).is_dir() else None
    return GuestKernel(tree / "boot" / str(meta["image"]), release, modules, f"{package}={version}")


def _release_of(image_name: str) -> str:
    # vmlinuz-6.1.0-57-arm64 / vmlinux-6.1.0-50-4kc-malta
    return image_name.split("-", 1)[1] if "-" in image_name else image_name


def parse_show_depends(output: str) -> list[Path]:
    """The module files of ``modprobe --show-depends`` output, in load order.

    ``insmod /path/x.ko [options]`` lines give files; ``builtin x`` lines give nothing.
    """
    found: list[Path] = []
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "insmod":
            found.append(Path(words[1]))
    return found


def module_load_order(tree: Path, release: str, modules: Sequence[str]) -> list[Path]:
    """Module files to ``insmod``, dependencies (and soft pre-dependencies) first.

    Each file appears once, at its first place. A module that is neither a module file
    nor built into the kernel is an error.
    """
    ordered: list[Path] = []
    for module in modules:
        result = subprocess.run(
            ["modprobe", "-d", str(tree), "-S", release, "--show-depends", module],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ImageError(
                f"kernel {release} has no module or built-in driver {module}: "
                f"{result.stderr.strip()[-300:]}"
            )
        for path in parse_show_depends(result.stdout):
            if path not in ordered:
                ordered.append(path)
    return ordered


# --- MIPS: booting without the self-decompressor -----------------------------------------------
MALTA_LOAD_ADDRESS = 0x80100000
"""Where Malta kernels are linked (``load-$(CONFIG_MIPS_MALTA)`` in the kernel sources)."""
_MOVES_ARGS = (0x02002025, 0x02202825, 0x02403025, 0x02603825)  # move a0..a3, s0..s3
_LUI_T9, _ORI_T9, _ADDIU_T9 = 0x3C19, 0x3739, 0x2739
_JUMPS_T9 = (0x0320F809, 0x03200008)  # jalr t9, jr t9
_XZ_MAGIC = b"\xfd7zXZ\x00"
_GZIP_MAGIC = b"\x1f\x8b\x08"


def _immediate(upper: int, lower_insn: int) -> int:
    """The 32-bit constant ``lui``/``ori`` (opcode 0x0d) or ``lui``/``addiu`` (0x09) build."""
    lower = lower_insn & 0xFFFF
    if lower_insn >> 26 == 0x0D:
        return (upper << 16) | lower
    return ((upper << 16) + (lower - 0x10000 if lower & 0x8000 else lower)) & 0xFFFFFFFF


def _decompressed(data: bytes) -> bytes | None:
    """The first payload of ``data`` that decompresses completely (xz or gzip)."""
    for magic in (_XZ_MAGIC, _GZIP_MAGIC):
        start = data.find(magic)
        while start >= 0:
            try:
                if magic == _XZ_MAGIC:
                    xz = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
                    out, done = xz.decompress(data[start:]), xz.eof
                else:
                    gz = zlib.decompressobj(wbits=31)
                    out, done = gz.decompress(data[start:]), gz.eof
                if done and len(out) > 1 << 20:
                    return out
            except (lzma.LZMAError, zlib.error):
                pass
            start = data.find(magic, start + 1)
    return None


def _jumps_to_itself(image: bytes, offset: int, endian: str) -> bool:
    """``kernel_entry`` jumps to its own next instruction early on (``PTR_LA t0, 0f; jr t0``)."""
    words = [
        struct.unpack_from(endian + "I", image, offset + 4 * i)[0]
        for i in range(32)
        if offset + 4 * i + 4 <= len(image)
    ]
    for i in range(len(words) - 2):
        lui, low, jump = words[i : i + 3]
        # lui t0, hi; addiu/ori t0, t0, lo; jr t0
        if lui >> 16 == 0x3C08 and low >> 16 in (0x2508, 0x3508) and jump == 0x01000008:
            target = _immediate(lui & 0xFFFF, low)
            return target == MALTA_LOAD_ADDRESS + offset + 4 * (i + 4)
    return False


def unwrap_mips_vmlinuz(wrapper: bytes, load_address: int = MALTA_LOAD_ADDRESS) -> bytes | None:
    """An ELF of the uncompressed kernel inside a MIPS ``vmlinuz``, or None if it is not one.

    The wrapper's head saves a0-a3, decompresses the kernel to its link address and jumps
    to ``kernel_entry`` (``move a0..a3, s0..s3; lui/ori t9, ENTRY; jalr t9``): that entry
    point is read there, and accepted only if the code at it in the decompressed kernel is
    ``kernel_entry``'s jump to its own next instruction at ``load_address``. QEMU's Malta
    loader then starts the kernel exactly as the wrapper would have.
    """
    if len(wrapper) < 52 or wrapper[:4] != b"\x7fELF" or wrapper[4] != 1:
        return None
    endian = "<" if wrapper[5] == 1 else ">"
    if struct.unpack_from(endian + "H", wrapper, 18)[0] != 8:  # EM_MIPS
        return None
    flags = struct.unpack_from(endian + "I", wrapper, 36)[0]
    words = struct.unpack_from(f"{endian}{len(wrapper) // 4}I", wrapper)
    entries = set()
    for i in range(len(words) - 7):
        if words[i : i + 4] != _MOVES_ARGS or words[i + 4] >> 16 != _LUI_T9:
            continue
        if words[i + 5] >> 16 in (_ORI_T9, _ADDIU_T9) and words[i + 6] in _JUMPS_T9:
            entries.add(_immediate(words[i + 4] & 0xFFFF, words[i + 5]))
    if len(entries) != 1:
        return None
    entry = entries.pop()
    image = _decompressed(wrapper)
    if image is None or not 0 <= entry - load_address < len(image):
        return None
    if not _jumps_to_itself(image, entry - load_address, endian):
        return None
    ident = b"\x7fELF" + bytes([1, 1 if endian == "<" else 2, 1]) + bytes(9)
    header = ident + struct.pack(
        endian + "HHIIIIIHHHHHH", 2, 8, 1, entry, 52, 0, flags, 52, 32, 1, 0, 0, 0
    )
    offset = 0x1000
    program = struct.pack(
        endian + "8I", 1, offset, load_address, load_address, len(image), len(image), 7, offset
    )
    return header + program + bytes(offset - len(header) - len(program)) + image


# --- built from Debian's sources ---------------------------------------------------------------
def disable_modules(config: str) -> str:
    """A kernel ``.config`` with every ``=m`` option turned off (``# CONFIG_X is not set``)."""
    return re.sub(r"^(CONFIG_\w+)=m$", r"# \1 is not set", config, flags=re.MULTILINE)


def _cross_gcc(spec: SourceKernel) -> tuple[str, str]:
    gcc = shutil.which(f"{spec.cross_prefix}gcc")
    if gcc is None:
        raise ImageError(
            f"the {spec.kernel_arch} kernel needs {spec.cross_prefix}gcc: install "
            f"{' '.join(spec.cross_packages)} (`make install`)"
        )
    version = run([gcc, "-dumpfullversion"]).stdout.strip()
    return gcc, version


DEBIAN_CONFIG = "debian-config:"


def debian_base_config(spec: SourceKernel) -> tuple[str, str] | None:
    """(Debian architecture, kernel meta package) of a ``debian-config:`` base, else None."""
    if not spec.defconfig.startswith(DEBIAN_CONFIG):
        return None
    arch, _, meta = spec.defconfig.removeprefix(DEBIAN_CONFIG).partition("/")
    if not arch or not meta:
        raise ImageError(f"base configuration {spec.defconfig!r} is not debian-config:ARCH/META")
    return arch, meta


def source_kernel_key(
    spec: SourceKernel, source_version: str, gcc_version: str, base: str = ""
) -> str:
    """What a built source kernel depends on: sources, configuration, compiler, recipe.

    ``base`` names the package version a ``debian-config:`` base configuration came from.
    """
    blob = json.dumps(
        {
            "build": KERNEL_BUILD_VERSION,
            "base": base,
            "source": [spec.source_package, source_version],
            "arch": spec.kernel_arch,
            "cross": [spec.cross_prefix, gcc_version],
            "defconfig": spec.defconfig,
            "fragment": list(spec.config_fragment),
            "target": [spec.target, spec.image_path],
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def source_kernel(
    archive: DebianArchive,
    spec: SourceKernel,
    cache: Path,
    progress: Progress,
    jobs: int | None = None,
    base_archive: DebianArchive | None = None,
) -> GuestKernel:
    """A kernel built from Debian's ``spec.source_package`` (cached by its inputs).

    ``archive`` gives the sources (architecture-independent); ``base_archive``, the setup of
    the Debian architecture a ``debian-config:`` base comes from. The unpacked sources and
    the build directory stay in the cache, so a change of the configuration fragment
    recompiles only what it touches.
    """
    _, gcc_version = _cross_gcc(spec)
    version = archive.candidate(spec.source_package)
    base = debian_base_config(spec)
    base_origin = ""
    if base is not None:
        if base_archive is None or base_archive.arch != base[0]:
            raise ImageError(f"the base configuration {spec.defconfig} needs a {base[0]} archive")
        package, package_version = base_archive.resolve_meta(base[1], "linux-image-")
        base_origin = f"{package}={package_version}"
    key = source_kernel_key(spec, version, gcc_version, base_origin)
    done = cache / "kernels" / f"{spec.kernel_arch}-{spec.source_package}-{key}"
    stamp = done / ".complete"
    if not stamp.is_file():
        base_config: Path | None = None
        if base is not None:
            assert base_archive is not None
            donor = debian_kernel(base_archive, DebianKernel(base[1]), cache, progress)
            base_config = donor.image.parent / f"config-{donor.release}"
            if not base_config.is_file():
                raise ImageError(f"{donor.origin} has no boot/config-{donor.release}")
        source = _unpacked_source(archive, spec.source_package, version, cache, progress)
        build = cache / "kernel-build" / f"{spec.kernel_arch}-{spec.source_package}_{version}"
        jobs = jobs or os.cpu_count() or 1
        release = _build(spec, source, build, progress, jobs, base_config)
        partial = partial_dir(done)
        partial.mkdir()
        name = f"vmlinux-{release}"
        shutil.copyfile(build / spec.image_path, partial / name)
        shutil.copyfile(build / ".config", partial / f"config-{release}")
        (partial / ".complete").write_text(json.dumps({"image": name, "release": release}))
        publish_dir(partial, done)
    meta = json.loads(stamp.read_text())
    return GuestKernel(
        done / str(meta["image"]),
        str(meta["release"]),
        None,
        f"{spec.source_package}={version} (built, {key})",
    )


def _unpacked_source(
    archive: DebianArchive, package: str, version: str, cache: Path, progress: Progress
) -> Path:
    target = cache / "kernel-src" / f"{package}_{version.replace(':', '%3a')}"
    if (target / ".complete").is_file():
        return _source_dir(target)
    progress(f"downloading {package} {version}")
    deb = archive.download(package, version)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    progress(f"unpacking the kernel sources of {package} {version}")
    with tempfile.TemporaryDirectory(prefix=".deb-", dir=target) as tmp:
        extract_deb(deb, Path(tmp))
        tarballs = sorted(Path(tmp).glob("usr/src/linux-source-*.tar.*"))
        if len(tarballs) != 1:
            raise ImageError(f"{package} holds {len(tarballs)} source tarballs")
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(target, filter="tar")
    (target / ".complete").write_text(version + "\n")
    return _source_dir(target)


def _source_dir(target: Path) -> Path:
    found = [p for p in target.iterdir() if p.is_dir() and (p / "Makefile").is_file()]
    if len(found) != 1:
        raise ImageError(f"cannot find the kernel source tree in {target}")
    return found[0]


def _make(source: Path, build: Path, spec: SourceKernel, *args: str, log: Path) -> None:
    argv = [
        "make",
        "-C",
        str(source),
        f"O={build}",
        f"ARCH={spec.kernel_arch}",
        f"CROSS_COMPILE={spec.cross_prefix}",
        *args,
    ]
    env = {**os.environ, **BUILD_IDENTITY, "LC_ALL": "C"}
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2500:]
        raise ImageError(f"kernel build step `make {' '.join(args)}` failed:\n{tail}")


def _build(
    spec: SourceKernel,
    source: Path,
    build: Path,
    progress: Progress,
    jobs: int,
    base_config: Path | None,
) -> str:
    build.mkdir(parents=True, exist_ok=True)
    log = build / "aasee-build.log"
    log.write_text("")
    progress(f"configuring the kernel ({spec.defconfig}, modules off, fragment merged)")
    config = build / ".config"
    if base_config is None:
        _make(source, build, spec, spec.defconfig, log=log)
    else:
        shutil.copyfile(base_config, config)
    config.write_text(disable_modules(config.read_text()))
    fragment = build / "fragment.config"
    fragment.write_text("\n".join(spec.config_fragment) + "\n")
    env = {**os.environ, "ARCH": spec.kernel_arch, "CROSS_COMPILE": spec.cross_prefix}
    merge = [
        str(source / "scripts/kconfig/merge_config.sh"),
        "-m",
        "-O",
        str(build),
        str(config),
        str(fragment),
    ]
    run(merge, cwd=source, env=env)
    _make(source, build, spec, "olddefconfig", log=log)
    missing = _unmet(config.read_text(), spec.config_fragment)
    if missing:
        raise ImageError(
            "the kernel configuration does not keep these fragment lines (a dependency is "
            f"missing): {', '.join(missing)}"
        )
    progress(f"compiling the {spec.kernel_arch} kernel with {jobs} jobs (about 15 min on 2 cores)")
    _make(source, build, spec, f"-j{jobs}", spec.target, log=log)
    release = subprocess.run(
        [
            "make",
            "-s",
            "--no-print-directory",
            "-C",
            str(source),
            f"O={build}",
            f"ARCH={spec.kernel_arch}",
            "kernelrelease",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return release.splitlines()[-1] if release else "unknown"


def _unmet(config: str, fragment: Sequence[str]) -> list[str]:
    """Fragment lines the final configuration does not say the same way."""
    values: dict[str, str] = {}
    for line in config.splitlines():
        if match := re.match(r"^(CONFIG_\w+)=(.*)$", line):
            values[match.group(1)] = match.group(2)
        elif match := re.match(r"^# (CONFIG_\w+) is not set$", line):
            values[match.group(1)] = "n"
    unmet = []
    for line in fragment:
        if match := re.match(r"^(CONFIG_\w+)=(.*)$", line):
            wanted = match.group(2)
        elif match := re.match(r"^# (CONFIG_\w+) is not set$", line):
            wanted = "n"
        else:
            continue
        if values.get(match.group(1), "n") != wanted:
            unmet.append(line)
    return unmet
