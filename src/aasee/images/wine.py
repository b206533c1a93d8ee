"""The Windows guest: the x86-64 Debian guest plus Debian's Wine 8, a prefix and a user.

``aasee image build --profile windows`` (or ``--name windows-wine-amd64``) builds it with
:class:`WineImageBuilder`, an :class:`~aasee.images.builder.ImageBuilder` whose Debian root
is the default guest's debootstrap root plus ``wine``, ``wine64`` and ``wine32:i386`` (the
i386 architecture added to the guest's dpkg: Debian's multiarch), installed by the root's
own apt in a chroot and cached by the base root, the package list and the mirror. The
builder then initialises the Wine prefix in a chroot (``wineboot --init``: minutes under the
guest's emulation, seconds here), gives it a Windows user profile (documents, desktop,
registry values such as ``ProductName`` and the registered owner) and a start-up script
that starts the prefix's wineserver and Wine's services before the agent reports ready, so
the ready snapshot holds them running and a restore costs what it costs the Linux guest.

The architecture stays x86-64 (one profile): what differs is the guest's *flavour*, which
routes PE files here (``service.routing``). Nothing of this module changes the default
guest's recipe, key or build: it is a separate recipe and a subclass of the builder.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from aasee.arch import get_profile
from aasee.images.builder import ImageBuilder, Progress, _Plan
from aasee.images.debian_packages import run
from aasee.images.kernels import GuestKernel
from aasee.images.recipes import GuestRecipe
from aasee.images.store import GuestImage, ImageError
from aasee.images.wine_prefix import (
    WINDOWS_COMPUTER,
    WINE_ENV,
    WINE_GUEST_FLAVOUR,
    WINE_IMAGE,
    WINE_PREFIX,
    WindowsProfile,
)

__all__ = [
    "WINE_IMAGE",
    "WINE_PACKAGES",
    "WINE_PROFILES",
    "WINE_RECIPES",
    "WineImageBuilder",
    "WineRecipe",
    "builder_for",
]

WINE_PACKAGES = ("wine", "wine64", "wine32:i386", "libwine", "fonts-wine")
"""What Debian's Wine 8 is made of for PE32 and PE32+ programs (``wine32`` from the i386
architecture: WoW64 runs 32-bit programs in the 64-bit prefix)."""
WINE_MODULES = ("wine.py", "wine_prefix.py")
WINE_INIT = "/etc/init.d/wine-session"
WINE_BUILD_TIMEOUT = 900.0


@dataclass(frozen=True)
class WineRecipe(GuestRecipe):
    """The default x86-64 server recipe plus Wine and a Windows user profile."""

    name: str = WINE_IMAGE
    arch: str = "x86_64"
    hostname: str = WINDOWS_COMPUTER
    disk_size: str = "6G"
    wine_packages: tuple[str, ...] = WINE_PACKAGES
    foreign_arches: tuple[str, ...] = ("i386",)
    windows: WindowsProfile = field(default_factory=WindowsProfile)
    flavour: str = WINE_GUEST_FLAVOUR


WINE_RECIPES: dict[str, WineRecipe] = {WINE_IMAGE: WineRecipe()}
"""Image name -> recipe of the Wine guests."""
WINE_PROFILES: dict[str, str] = {"windows": WINE_IMAGE, "wine": WINE_IMAGE}
"""``aasee image build --profile NAME`` -> the Wine image it builds."""


def builder_for(recipe: GuestRecipe, progress: Progress | None = None) -> ImageBuilder:
    """The builder of ``recipe``: a Wine recipe gets the Wine builder."""
    if isinstance(recipe, WineRecipe):
        return WineImageBuilder(recipe, progress=progress)
    return ImageBuilder(recipe, progress=progress)


def _wine_code_digest() -> str:
    digest = hashlib.sha256()
    package = resources.files("aasee.images")
    for name in WINE_MODULES:
        digest.update(name.encode() + b"\0" + package.joinpath(name).read_bytes())
    return digest.hexdigest()[:20]


class WineImageBuilder(ImageBuilder):
    """Builds a :class:`WineRecipe`: the Debian server root, then Wine, prefix and user."""

    recipe: WineRecipe

    def __init__(self, recipe: WineRecipe, progress: Progress | None = None) -> None:
        if get_profile(recipe.arch).userland.kind != "debian":
            raise ImageError("a Wine guest needs a Debian userland (x86_64)")
        super().__init__(recipe, progress=progress)

    # --- inputs ---------------------------------------------------------------------------
    def _plan(self) -> _Plan:
        plan = super()._plan()
        archive = self.archive()
        plan.inputs["wine"] = f"wine={archive.candidate('wine')}"
        plan.inputs["wine_code"] = _wine_code_digest()
        return plan

    # --- the root with Wine, cached -------------------------------------------------------
    def _wine_spec_key(self, base: Path) -> str:
        recipe = self.recipe
        spec = [base.name, recipe.mirror, recipe.security_mirror, recipe.foreign_arches]
        spec.append(list(recipe.wine_packages))
        spec.append(self.archive().candidate("wine"))
        return hashlib.sha256(repr(spec).encode()).hexdigest()[:16]

    def _debootstrap(self) -> Path:
        base = super()._debootstrap()
        target = base.with_name(f"{base.name}-wine-{self._wine_spec_key(base)}")
        if (target / ".aasee-complete").is_file():
            self.progress("Wine: cached root file system with Wine")
            return target
        partial = Path(f"{target}.partial")
        if partial.exists():
            shutil.rmtree(partial)
        self.progress("Wine: installing wine, wine64 and wine32:i386 (i386 multiarch)")
        run(["cp", "-a", str(base), str(partial)])
        (partial / ".aasee-complete").unlink(missing_ok=True)
        recipe = self.recipe
        lines = self.recipe.sources.lines("deb")
        (partial / "etc/apt/sources.list").write_text("\n".join(lines) + "\n")
        policy = partial / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        try:
            with _chroot_mounts(partial, network=True):
                for arch in recipe.foreign_arches:
                    self._chroot(partial, ["dpkg", "--add-architecture", arch])
                self._chroot(partial, ["apt-get", "-q", "update"])
                self._chroot(
                    partial,
                    [
                        "apt-get",
                        "-q",
                        "-y",
                        "--no-install-recommends",
                        "install",
                        *recipe.wine_packages,
                    ],
                )
                self._chroot(partial, ["apt-get", "clean"])
        finally:
            policy.unlink(missing_ok=True)
        for stale in (partial / "var/lib/apt/lists").glob("*_dists_*"):
            stale.unlink()
        loader = partial / WINE_LOADER_PATH
        if not (loader.is_symlink() or loader.exists()):  # an absolute link into the root
            raise ImageError("Wine was not installed in the guest root (no /usr/bin/wine)")
        if target.exists():
            shutil.rmtree(target)
        os.replace(partial, target)
        (target / ".aasee-complete").write_text("ok\n")
        return target

    def _chroot(
        self, root: Path, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        base = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LC_ALL": "C",
            "DEBIAN_FRONTEND": "noninteractive",
            "HOME": "/root",
        }
        return run(["chroot", str(root), *argv], env={**base, **(env or {})})

    # --- the guest's own root ---------------------------------------------------------------
    def _debian_root(self, root: Path, kernel: GuestKernel) -> None:
        super()._debian_root(root, kernel)
        self.progress("Wine: initialising the prefix and the Windows user profile")
        with _chroot_mounts(root, network=False):
            try:
                self._wine(root, ["wineboot", "--init"])
                self._wine_wait(root)
                self._profile_files(root)
                reg = root / "tmp/aasee-profile.reg"
                reg.write_text(_registry_file(self.recipe.windows), encoding="utf-16")
                self._wine(root, ["regedit", "/S", "Z:\\tmp\\aasee-profile.reg"])
                self._wine_wait(root)
                reg.unlink()
            finally:
                subprocess.run(
                    [_CHROOT, str(root), "wineserver", "-k"],
                    env={**WINE_ENV, "PATH": _PATH},
                    capture_output=True,
                    check=False,
                    timeout=60,
                )
        for leftover in (root / "tmp").glob(".wine-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        self._install(root, WINE_INIT, _WINE_SESSION.encode(), 0o755)
        rc2 = root / "etc/rc2.d"
        (rc2 / "S04wine-session").unlink(missing_ok=True)
        (rc2 / "S04wine-session").symlink_to("../init.d/wine-session")

    def _wine(self, root: Path, argv: list[str]) -> None:
        env = {**WINE_ENV, "PATH": _PATH, "DISPLAY": ""}
        try:
            subprocess.run(
                [_CHROOT, str(root), "wine", *argv],
                env=env,
                capture_output=True,
                check=True,
                timeout=WINE_BUILD_TIMEOUT,
            )
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or b"").decode(errors="replace")[-1500:]
            raise ImageError(f"wine {' '.join(argv)} failed in the guest root: {tail}") from exc
        except subprocess.TimeoutExpired as exc:
            raise ImageError(f"wine {' '.join(argv)} did not finish in the guest root") from exc

    def _wine_wait(self, root: Path) -> None:
        """Wait for the prefix's wineserver to exit: it writes the hives when it does."""
        subprocess.run(
            [_CHROOT, str(root), "wineserver", "-w"],
            env={**WINE_ENV, "PATH": _PATH},
            capture_output=True,
            check=False,
            timeout=WINE_BUILD_TIMEOUT,
        )

    def _profile_files(self, root: Path) -> None:
        profile = self.recipe.windows
        prefix = root / WINE_PREFIX.lstrip("/")
        if not (prefix / "system.reg").is_file():
            raise ImageError("wineboot --init made no prefix (no system.reg)")
        users = prefix / "drive_c/users"
        home = users / profile.user
        if not home.is_dir():
            made = sorted(p.name for p in users.iterdir() if p.name != "Public")
            raise ImageError(f"the Wine prefix has no user {profile.user} (it has {made})")
        # Wine links these folders to the Unix home's: a Windows profile has its own.
        for folder in ("Desktop", "Documents", "Downloads", "Music", "Pictures", "Videos"):
            target = home / folder
            if target.is_symlink():
                target.unlink()
            target.mkdir(exist_ok=True)
        for relative, text in profile.documents:
            path = home / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.replace("\n", "\r\n"))
        for sub in ("AppData/Roaming", "AppData/Local/Temp"):
            (home / sub).mkdir(parents=True, exist_ok=True)

    def _build(self, plan: _Plan, inputs_key: str) -> GuestImage:
        image = super()._build(plan, inputs_key)
        if image.os.endswith("+wine"):
            return image
        # The flavour is recorded in the image's metadata: routing reads it there.
        image = image.model_copy(update={"os": f"{image.os}+wine"})
        meta = self.out / f"{self.recipe.name}.json"
        partial = meta.with_name(f".{meta.name}.tmp")
        partial.write_text(image.model_dump_json(indent=2))
        os.chmod(partial, 0o644)
        os.replace(partial, meta)
        return image


WINE_LOADER_PATH = "usr/bin/wine"
_CHROOT = "/usr/sbin/chroot"
_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


@contextlib.contextmanager
def _chroot_mounts(root: Path, network: bool) -> Iterator[None]:
    """/proc, /dev and /dev/pts (and the host's resolver for apt) inside ``root`` meanwhile."""
    mounted: list[Path] = []
    resolv = root / "etc/resolv.conf"
    saved = resolv.read_bytes() if resolv.is_file() else None
    try:
        for source, target, args in (
            ("proc", root / "proc", ["-t", "proc"]),
            ("/dev", root / "dev", ["--bind"]),
            ("devpts", root / "dev/pts", ["-t", "devpts"]),
        ):
            target.mkdir(parents=True, exist_ok=True)
            run(["mount", *args, source, str(target)])
            mounted.append(target)
        if network:
            resolv.unlink(missing_ok=True)
            shutil.copyfile("/etc/resolv.conf", resolv)
        yield
    finally:
        for target in reversed(mounted):
            subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)
        if network:
            resolv.unlink(missing_ok=True)
            if saved is not None:
                resolv.write_bytes(saved)


def _reg_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _registry_file(profile: WindowsProfile) -> str:
    """The registry values a sample reads to tell a used Windows 10 machine (regedit format)."""
    current = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"
    values = {
        "ProductName": profile.product_name,
        "EditionID": "Professional",
        "RegisteredOwner": profile.full_name,
        "RegisteredOrganization": profile.organization,
        "CurrentBuild": "19045",
        "CurrentBuildNumber": "19045",
        "DisplayVersion": "22H2",
        "ReleaseId": "2009",
        "InstallationType": "Client",
    }
    lines = ["Windows Registry Editor Version 5.00", "", f"[{current}]"]
    lines += [f"{_reg_string(k)}={_reg_string(v)}" for k, v in values.items()]
    lines += [
        "",
        "[HKEY_CURRENT_USER\\Volatile Environment]",
        f'"USERDOMAIN"={_reg_string(profile.computer)}',
        f'"USERNAME"={_reg_string(profile.user)}',
        "",
        "[HKEY_CURRENT_USER\\Software\\Microsoft\\Office\\16.0\\Common\\UserInfo]",
        f'"UserName"={_reg_string(profile.full_name)}',
        f'"Company"={_reg_string(profile.organization)}',
        "",
        "[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RecentDocs]",
        "",
    ]
    return "\r\n".join(lines) + "\r\n"


_WINE_SESSION = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          wine-session
# Required-Start:    $local_fs
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: the desktop session's Windows services
### END INIT INFO
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
@ENV@
case "$1" in
  start)
    cd /root || exit 0
    # A persistent server: the prefix's registry and Wine's services stay loaded.
    wineserver -p
    wine cmd.exe /c exit 0 </dev/null >/dev/null 2>&1
    i=0
    while ! pgrep -x services.exe >/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
    ;;
  stop)
    wineserver -k ;;
  *)
    echo "Usage: $0 {start|stop}" >&2
    exit 3 ;;
esac
""".replace("@ENV@", "\n".join(f"export {k}='{v}'" for k, v in WINE_ENV.items()))
