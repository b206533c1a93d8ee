"""Debian packages of any architecture, fetched without touching the host's apt configuration.

Each Debian architecture gets a private apt setup under the image cache: its own
``sources.list`` (the recipe's mirror, ``<suite>-updates`` and the security archive), its
own package lists and its own (empty) dpkg status, with ``APT::Architecture`` set to it. The
host's ``/etc/apt/sources.list`` and installed packages play no part, so an arm64 kernel or
an armel C library comes from the same archive on any amd64 host. A setup of kind
``deb-src`` gives source packages (``apt-get source --download-only``).

Lists are refreshed when older than ``max_age`` seconds, and once more when a package or a
version the lists name cannot be found or downloaded (the mirror moved on). What the lists
say (candidate versions, dependencies) is remembered beside them until they are refreshed:
apt-cache needs over a second a question here, as it cannot save its cache without the
dpkg lock, and a cached image build asks a handful.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aasee.images.store import ImageError

__all__ = [
    "DEFAULT_MIRROR",
    "DEFAULT_SECURITY_MIRROR",
    "DebianArchive",
    "DebianSources",
    "deb_file_name",
    "extract_deb",
    "host_debian_arch",
    "parse_depends",
    "partial_dir",
    "publish_dir",
    "run",
]

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
LIST_MAX_AGE = 24 * 3600.0
SourceKind = Literal["deb", "deb-src"]


def run(
    argv: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a build tool; ImageError with the tail of its output when it fails."""
    try:
        return subprocess.run(
            list(argv),
            check=True,
            capture_output=True,
            text=True,
            cwd=str(cwd) if cwd is not None else None,
            env=env,
        )
    except FileNotFoundError as exc:
        raise ImageError(f"{argv[0]} is not installed; run `make install` first") from exc
    except subprocess.CalledProcessError as exc:
        tail = ((exc.stderr or "") + (exc.stdout or "")).strip()[-2000:]
        raise ImageError(f"`{' '.join(argv)}` failed (exit {exc.returncode}): {tail}") from exc


def host_debian_arch() -> str:
    """The host's Debian architecture (``dpkg --print-architecture``)."""
    return run(["dpkg", "--print-architecture"]).stdout.strip()


@dataclass(frozen=True)
class DebianSources:
    """Where packages come from: a suite on a mirror, its updates and its security archive."""

    suite: str = "bookworm"
    mirror: str = DEFAULT_MIRROR
    security_mirror: str = DEFAULT_SECURITY_MIRROR
    components: tuple[str, ...] = ("main",)

    def lines(self, kind: SourceKind = "deb") -> list[str]:
        components = " ".join(self.components)
        return [
            f"{kind} {self.mirror} {self.suite} {components}",
            f"{kind} {self.mirror} {self.suite}-updates {components}",
            f"{kind} {self.security_mirror} {self.suite}-security {components}",
        ]

    def key(self) -> str:
        blob = "\n".join([self.suite, self.mirror, self.security_mirror, *self.components])
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def deb_file_name(package: str, version: str, arch: str) -> str:
    """The file name ``apt-get download`` gives a package (``:`` of an epoch as ``%3a``)."""
    return f"{package}_{version.replace(':', '%3a')}_{arch}.deb"


_DEPENDS = re.compile(r"^(Pre-)?Depends:\s*(.*)$", re.MULTILINE)


def parse_depends(control: str) -> list[str]:
    """Package names of the Depends (and Pre-Depends) of one ``apt-cache show`` record.

    Alternatives (``a | b``) give their first choice; versions and architectures are dropped.
    """
    record = control.split("\n\n", 1)[0]
    names: list[str] = []
    for match in _DEPENDS.finditer(record):
        for item in match.group(2).split(","):
            first = item.split("|", 1)[0].strip()
            name = re.split(r"[\s(:]", first, maxsplit=1)[0]
            if name:
                names.append(name)
    return names


def partial_dir(target: Path) -> Path:
    """A fresh scratch directory beside ``target``, private to this process."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    return partial


def publish_dir(partial: Path, target: Path) -> None:
    """Move a finished ``partial`` to ``target``; another process may have been first."""
    if target.exists():
        if (target / ".complete").is_file():
            shutil.rmtree(partial)
            return
        shutil.rmtree(target)
    try:
        os.replace(partial, target)
    except OSError:
        if not (target / ".complete").is_file():
            raise
        shutil.rmtree(partial, ignore_errors=True)


def extract_deb(deb: Path, target: Path) -> Path:
    """Unpack a .deb's files into ``target`` (``dpkg-deb -x``: no maintainer scripts run)."""
    target.mkdir(parents=True, exist_ok=True)
    run(["dpkg-deb", "-x", str(deb), str(target)])
    return target


class DebianArchive:
    """A private apt setup for one Debian architecture (or for source packages)."""

    def __init__(
        self,
        cache: Path,
        arch: str,
        sources: DebianSources,
        kind: SourceKind = "deb",
        max_age: float = LIST_MAX_AGE,
    ) -> None:
        self.arch = arch
        self.sources = sources
        self.kind = kind
        self.max_age = max_age
        label = arch if kind == "deb" else "source"
        self.root = cache / "apt" / f"{sources.suite}-{label}-{sources.key()}"
        self.debs = cache / "debs" / arch
        self._fresh = False
        self._memo: dict[str, str] | None = None

    # --- apt invocation -------------------------------------------------------------------
    def apt_options(self) -> list[str]:
        """The ``-o`` options that make apt use this setup and nothing of the host's."""
        root = self.root
        return [
            "-o",
            f"Dir::Etc::SourceList={root / 'sources.list'}",
            "-o",
            "Dir::Etc::SourceParts=/dev/null",
            "-o",
            "Dir::Etc::Preferences=/dev/null",
            "-o",
            "Dir::Etc::PreferencesParts=/dev/null",
            "-o",
            f"Dir::State={root / 'state'}",
            "-o",
            f"Dir::State::Lists={root / 'lists'}",
            "-o",
            "Dir::State::status=/dev/null",
            "-o",
            f"Dir::Cache={root / 'cache'}",
            "-o",
            f"APT::Architecture={self.arch}",
            "-o",
            f"APT::Architectures::={self.arch}",
            "-o",
            "Acquire::Languages=none",
            # Downloads land in our own cache directory, which the _apt user cannot write.
            "-o",
            "APT::Sandbox::User=root",
        ]

    def _apt(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        env = {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
        return run([tool, *self.apt_options(), *args], cwd=cwd, env=env).stdout

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _prepare(self) -> None:
        for sub in ("lists/partial", "state", "cache/archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        listing = "\n".join(self.sources.lines(self.kind)) + "\n"
        path = self.root / "sources.list"
        if not path.is_file() or path.read_text() != listing:
            path.write_text(listing)
            (self.root / "updated").unlink(missing_ok=True)

    def lists_age(self) -> float | None:
        stamp = self.root / "updated"
        return time.time() - stamp.stat().st_mtime if stamp.is_file() else None

    def update(self, force: bool = False) -> None:
        """``apt-get update`` of this setup, unless its lists are recent (or already fresh)."""
        with self._locked():
            self._prepare()
            age = self.lists_age()
            if not force and age is not None and age < self.max_age:
                return
            if force and self._fresh:
                return
            self._apt("apt-get", "-q", "update")
            (self.root / "updated").write_text(f"{time.time()}\n")
            (self.root / "answers.json").unlink(missing_ok=True)
            self._memo = None
            self._fresh = True

    # --- answers of the current lists, remembered -----------------------------------------
    def _lists_stamp(self) -> str:
        stamp = self.root / "updated"
        return stamp.read_text().strip() if stamp.is_file() else ""

    def _remembered(self, question: str) -> str | None:
        if self._memo is None:
            self._memo = {}
            try:
                saved = json.loads((self.root / "answers.json").read_text())
                if isinstance(saved, dict) and saved.get("lists") == self._lists_stamp():
                    self._memo = {str(k): str(v) for k, v in saved["answers"].items()}
            except (OSError, ValueError, KeyError, AttributeError):
                pass
        return self._memo.get(question)

    def _remember(self, question: str, answer: str) -> None:
        self._remembered(question)
        assert self._memo is not None
        self._memo[question] = answer
        blob = json.dumps({"lists": self._lists_stamp(), "answers": self._memo}, indent=1)
        partial = self.root / f".answers.{os.getpid()}.tmp"
        partial.write_text(blob)
        os.replace(partial, self.root / "answers.json")

    # --- queries --------------------------------------------------------------------------
    def candidate(self, package: str) -> str:
        """The version apt would pick for ``package``; refreshes the lists once if unknown."""
        self.update()
        version = self._candidate(package)
        if version is None and not self._fresh:
            self.update(force=True)
            version = self._candidate(package)
        if version is None:
            raise ImageError(
                f"Debian package {package} ({self.arch}) is not in {self.sources.mirror} "
                f"{self.sources.suite}"
            )
        return version

    def _candidate(self, package: str) -> str | None:
        question = f"candidate {package}"
        known = self._remembered(question)
        if known is not None:
            return known
        out = self._apt("apt-cache", "policy", package)
        match = re.search(r"Candidate:\s*(\S+)", out)
        if match is None or match.group(1) == "(none)":
            return None
        self._remember(question, match.group(1))
        return match.group(1)

    def depends(self, package: str, version: str) -> list[str]:
        """The packages ``package`` (at ``version``) depends on, first alternatives only."""
        question = f"depends {package}={version}"
        known = self._remembered(question)
        if known is None:
            known = " ".join(parse_depends(self._apt("apt-cache", "show", f"{package}={version}")))
            self._remember(question, known)
        return known.split()

    def resolve_meta(self, meta: str, prefix: str) -> tuple[str, str]:
        """The versioned package a meta package stands for: the first dependency whose name
        starts with ``prefix`` (``linux-image-arm64`` -> ``linux-image-6.1.0-57-arm64``)."""
        version = self.candidate(meta)
        for name in self.depends(meta, version):
            if name.startswith(prefix) and name != meta:
                return name, self.candidate(name)
        raise ImageError(f"cannot tell which {prefix}* package {meta} {version} stands for")

    # --- downloads ------------------------------------------------------------------------
    def download(self, package: str, version: str) -> Path:
        """The .deb of ``package`` at ``version`` (cached in ``debs/<arch>``)."""
        self.debs.mkdir(parents=True, exist_ok=True)
        for arch in (self.arch, "all"):
            cached = self.debs / deb_file_name(package, version, arch)
            if cached.is_file():
                return cached
        self.update()
        with tempfile.TemporaryDirectory(prefix=".download-", dir=self.debs) as tmp:
            try:
                self._apt("apt-get", "-q", "download", f"{package}={version}", cwd=Path(tmp))
            except ImageError:
                if self._fresh:
                    raise
                # A version the stale lists name may be gone from the mirror by now.
                self.update(force=True)
                self._apt("apt-get", "-q", "download", f"{package}={version}", cwd=Path(tmp))
            found = sorted(Path(tmp).glob(f"{package}_*.deb"))
            if len(found) != 1:
                raise ImageError(f"apt-get download {package}={version} gave {found}")
            target = self.debs / found[0].name
            os.replace(found[0], target)
        return target

    def download_source(self, package: str, target: Path) -> tuple[str, Path]:
        """Source package files (``.dsc`` and tarballs) of ``package`` into ``target``.

        Returns the version and the ``.dsc``; needs a ``deb-src`` setup.
        """
        if self.kind != "deb-src":
            raise ImageError("source packages need a deb-src archive setup")
        version = self.source_version(package)
        dsc_name = f"{package}_{version.split(':', 1)[-1]}.dsc"
        if (target / dsc_name).is_file() and (target / ".complete").is_file():
            return version, target / dsc_name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        self._apt("apt-get", "-q", "source", "--download-only", f"{package}={version}", cwd=target)
        if not (target / dsc_name).is_file():
            raise ImageError(f"apt-get source {package}={version} gave no {dsc_name}")
        (target / ".complete").write_text(version + "\n")
        return version, target / dsc_name

    def source_version(self, package: str) -> str:
        """The newest version of source package ``package`` in the lists."""
        self.update()
        question = f"source {package}"
        known = self._remembered(question)
        if known is not None:
            return known
        out = self._apt("apt-cache", "showsrc", "--only-source", package)
        versions = re.findall(r"^Version:\s*(\S+)", out, re.MULTILINE)
        if not versions:
            raise ImageError(f"no source package {package} in {self.sources.mirror}")
        newest = _newest(versions)
        self._remember(question, newest)
        return newest


def _newest(versions: list[str]) -> str:
    best = versions[0]
    for version in versions[1:]:
        newer = subprocess.run(
            ["dpkg", "--compare-versions", version, "gt", best], check=False
        ).returncode
        if newer == 0:
            best = version
    return best
