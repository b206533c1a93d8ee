"""Remote guest images: one archive per image version, downloaded into a verified local cache.

**What a remote image is.** A guest image is four files (``store.py``): the qcow2 disk, the
kernel, the initrd and the metadata JSON. Remotely it is one tar archive of exactly those
four files at its top level (plain, gzip, bzip2 or xz compressed), made from the image
directory with ``tar -C /var/lib/aasee/images -cf NAME.tar NAME.json NAME.qcow2
NAME.vmlinuz NAME.initrd`` or :func:`pack_image`. The metadata JSON names the other three:
only the file names of its ``disk``, ``kernel`` and ``initrd`` paths are used. One object
means one checksum covers the whole image and a version is never half updated.

**The cache.** Under ``cache_dir()/remote-images/`` (or the ``cache_dir`` of the provider
configuration), one folder per source (provider kind + endpoint + image name), holding
``versions/ID--ALGO-CHECKSUM/`` (one complete, unpacked, verified version: keyed by the
remote's version id and checksum), ``current.json`` (the newest complete version) and
``downloads/`` (the partial file and the lock of each download).

**Downloads.** A download streams the archive into ``downloads/KEY.part``, hashing it on the
way with every checksum the source gives (md5, sha256, sha512...), bounded by ``max_bytes``
(the announced size and the unpacked files too); a mismatch, a short or oversized body or a
hostile archive (links, paths, unexpected or missing members) is refused with the reason and
the partial file removed. The archive is unpacked into a staging folder renamed into place
in one step, so a version folder is always complete.

**Concurrency.** Each download holds an exclusive ``flock`` on ``downloads/KEY.lock``: a
second process or thread asking for the same version while it downloads serves the newest
complete version it already has, or, with none, waits for the lock and then reuses the
first one's result (downloading itself only if the first one failed). A lock dies with its
process, and a later download truncates what a dead one left.

**Updates.** When the source has a version newer than the newest complete one in the
cache, the provider serves the cached one at once and downloads the new one in a background
thread (``background``, default true); the next call after it completes serves the new one.
With nothing cached yet, or ``background`` false, it downloads in the foreground. If the
source cannot be reached at all, the newest complete cached version is served (logged).
Old versions are never deleted: a running VM may still use one as its backing disk.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tarfile
import threading
import time
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

from pydantic import ValidationError

from aasee.images.providers_base import ImageProvider
from aasee.images.store import GuestImage, ImageError, cache_dir, load_image_metadata

__all__ = [
    "DEFAULT_MAX_BYTES",
    "RemoteImageCache",
    "RemoteImageProvider",
    "RemoteUnavailable",
    "RemoteVersion",
    "pack_image",
    "parse_checksum",
    "wait_for_downloads",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 32 << 30
"""Largest archive (and unpacked image) accepted unless ``max_bytes`` says otherwise."""
DEFAULT_WAIT_SECONDS = 3600.0
CHUNK = 1 << 20
MANIFEST = "manifest.json"
MAX_MEMBERS = 4
HASH_ALGORITHMS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")

_BACKGROUND: list[threading.Thread] = []
_BACKGROUND_LOCK = threading.Lock()


class RemoteUnavailable(ImageError):
    """The image source cannot be reached (network, server error): a cached copy may do."""


@dataclass(frozen=True)
class RemoteVersion:
    """One version of a remote image, as its source describes it before any download."""

    version: str
    """What the source calls this content: a Glance image id, an S3 version id or ETag, a
    configured sha256."""
    checksums: dict[str, str]
    """Expected digests of the archive, algorithm -> lower-case hex; at least one."""
    order: float
    """Newer versions have larger values (the source's update time)."""
    label: str
    """For messages: what and where this version is."""
    size: int | None = None
    """The archive's size if the source announces it."""
    details: dict[str, Any] = field(default_factory=dict)
    """Whatever the provider needs to open the download again (e.g. an ETag)."""


def parse_checksum(value: str) -> tuple[str, str]:
    """``"sha256:HEX"`` (or a bare hex digest, its algorithm told by its length) -> (algo, hex)."""
    algo, sep, digest = value.strip().partition(":")
    if not sep:
        algo, digest = "", value.strip()
    digest = digest.lower()
    if not re.fullmatch(r"[0-9a-f]+", digest or "x"):
        raise ImageError(f"checksum {value!r} is not hexadecimal")
    if not algo:
        by_length = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
        if len(digest) not in by_length:
            raise ImageError(f"cannot tell the algorithm of checksum {value!r}: write ALGO:HEX")
        algo = by_length[len(digest)]
    algo = algo.lower()
    if algo not in HASH_ALGORITHMS:
        raise ImageError(f"unsupported checksum algorithm {algo!r} (one of {HASH_ALGORITHMS})")
    if len(digest) != hashlib.new(algo).digest_size * 2:
        raise ImageError(f"checksum {value!r} has the wrong length for {algo}")
    return algo, digest


def merge_checksums(label: str, *sources: dict[str, str]) -> dict[str, str]:
    """Every expected digest, refusing two different values for one algorithm."""
    merged: dict[str, str] = {}
    for source in sources:
        for algo, digest in source.items():
            digest = digest.lower()
            if merged.get(algo, digest) != digest:
                raise ImageError(
                    f"checksum mismatch for {label}: {algo} {merged[algo]} expected, "
                    f"but {digest} announced; refusing the image"
                )
            merged[algo] = digest
    return merged


def wait_for_downloads(timeout: float | None = None) -> bool:
    """Wait for this process's background downloads; False if some still run at ``timeout``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with _BACKGROUND_LOCK:
        threads = list(_BACKGROUND)
    for thread in threads:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        thread.join(remaining)
    with _BACKGROUND_LOCK:
        _BACKGROUND[:] = [t for t in _BACKGROUND if t.is_alive()]
        return not _BACKGROUND


def pack_image(image: GuestImage, archive: Path, compress: bool = False) -> Path:
    """Write ``image`` as a remote image archive (the four files at the top level)."""
    image.check()
    meta = image.disk.with_suffix(".json")
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz" if compress else "w", format=tarfile.PAX_FORMAT) as tar:
        if meta.is_file():
            tar.add(meta, arcname=meta.name, recursive=False)
        else:
            data = image.model_dump_json(indent=2).encode()
            info = tarfile.TarInfo(f"{image.name}.json")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, _BytesReader(data))
        for path in (image.disk, image.kernel, image.initrd):
            tar.add(path, arcname=path.name, recursive=False)
    return archive


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._offset + size
        chunk = self._data[self._offset : end]
        self._offset += len(chunk)
        return chunk


class _FileLock:
    """An exclusive ``flock`` on a file: held per open file, so threads exclude each other too."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[bytes] | None = None

    def acquire(self, blocking: bool, timeout: float | None = None) -> bool:
        handle = open(self.path, "ab")  # held (and locked) until release()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    handle.close()
                    raise
                if not blocking or (deadline is not None and time.monotonic() >= deadline):
                    handle.close()
                    return False
                time.sleep(0.05)
                continue
            self._file = handle
            return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class RemoteImageCache:
    """The local cache of one remote source's image versions (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        verify_cache: bool = False,
        background: bool = True,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
    ) -> None:
        self.root = root
        self.versions = root / "versions"
        self.downloads = root / "downloads"
        self.max_bytes = max_bytes
        self.verify_cache = verify_cache
        self.background = background
        self.wait_seconds = wait_seconds
        self.last_error: BaseException | None = None

    # --- what is cached -------------------------------------------------------------------
    @staticmethod
    def key(version: RemoteVersion) -> str:
        algo = min(version.checksums, key=lambda a: (a != "sha256", a != "sha512", a))
        return f"{_safe(version.version)[:80]}--{algo}-{version.checksums[algo][:32]}"

    def complete(self, key: str) -> GuestImage | None:
        """The cached version ``key`` if it is complete and intact; a damaged one is removed."""
        folder = self.versions / key
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
            image = load_image_metadata(folder / str(manifest["metadata"]))
            for name, facts in manifest["files"].items():
                path = folder / name
                if path.stat().st_size != int(facts["size"]):
                    raise ImageError(f"{path} has changed size")
                if self.verify_cache and _digest(path, "sha256") != facts["sha256"]:
                    raise ImageError(f"{path} does not match its recorded sha256")
            image.check()
        except (OSError, ValueError, KeyError, TypeError, ImageError) as exc:
            log.warning("cached image %s is damaged (%s): discarding it", folder, exc)
            self._discard(folder)
            return None
        return image

    def current(self) -> GuestImage | None:
        """The newest complete version cached (the last one served as the source's newest)."""
        try:
            pointer = json.loads((self.root / "current.json").read_text())
            return self.complete(str(pointer["key"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _set_current(self, key: str, version: RemoteVersion) -> None:
        lock = _FileLock(self.root / "current.lock")
        lock.acquire(blocking=True)
        try:
            path = self.root / "current.json"
            try:
                if float(json.loads(path.read_text())["order"]) > version.order:
                    return  # a newer version completed first (downloads race)
            except (OSError, ValueError, KeyError, TypeError):
                pass
            record = {"key": key, "version": version.version, "order": version.order}
            _write_atomically(path, json.dumps(record, indent=2).encode())
        finally:
            lock.release()

    # --- serving ----------------------------------------------------------------------------
    def fetch(self, source: RemoteImageProvider) -> GuestImage:
        """The newest version of ``source``'s image, or the newest cached one while it downloads."""
        try:
            version = source.resolve()
        except RemoteUnavailable as exc:
            cached = self.current()
            if cached is None:
                raise
            log.warning("%s; serving the cached image %s", exc, cached.disk.parent.name)
            return cached
        key = self.key(version)
        image = self.complete(key)
        if image is not None:
            self._set_current(key, version)
            return image
        fallback = self.current()
        lock = _FileLock(self.downloads / f"{key}.lock")
        if lock.acquire(blocking=False):
            image = self.complete(key)  # finished by someone else since we looked
            if image is not None:
                lock.release()
                self._set_current(key, version)
                return image
            if fallback is not None and self.background:
                self._start_background(source, version, key, lock)
                log.info("serving cached %s while %s downloads", fallback.name, version.label)
                return fallback
            try:
                return self._download(source, version, key)
            finally:
                lock.release()
        # Someone else is downloading this version.
        if fallback is not None:
            log.info("%s is being downloaded elsewhere; serving the cached one", version.label)
            return fallback
        log.info("waiting for another download of %s", version.label)
        if not lock.acquire(blocking=True, timeout=self.wait_seconds):
            raise ImageError(
                f"gave up waiting {self.wait_seconds:.0f} s for another download of {version.label}"
            )
        try:
            image = self.complete(key)
            if image is not None:
                self._set_current(key, version)
                return image
            return self._download(source, version, key)  # the other one failed
        finally:
            lock.release()

    def _start_background(
        self, source: RemoteImageProvider, version: RemoteVersion, key: str, lock: _FileLock
    ) -> None:
        def run() -> None:
            try:
                self._download(source, version, key)
                self.last_error = None
            except BaseException as exc:  # recorded and logged: a thread has no caller
                self.last_error = exc
                log.error("background download of %s failed: %s", version.label, exc)
            finally:
                lock.release()

        thread = threading.Thread(target=run, name=f"aasee-image-{key[:24]}", daemon=True)
        with _BACKGROUND_LOCK:
            _BACKGROUND[:] = [t for t in _BACKGROUND if t.is_alive()]
            _BACKGROUND.append(thread)
        source._downloads.append(thread)
        thread.start()

    # --- downloading ----------------------------------------------------------------------
    def _download(
        self, source: RemoteImageProvider, version: RemoteVersion, key: str
    ) -> GuestImage:
        """Download, verify and unpack ``version``; the caller holds its lock."""
        if version.size is not None and version.size > self.max_bytes:
            raise ImageError(
                f"{version.label} is {version.size} bytes, over the limit of {self.max_bytes} "
                "(max_bytes)"
            )
        self.downloads.mkdir(parents=True, exist_ok=True)
        part = self.downloads / f"{key}.part"
        try:
            self._receive(source, version, part)
            image = self._unpack(part, key, version)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        part.unlink(missing_ok=True)
        self._set_current(key, version)
        log.info("downloaded %s into %s", version.label, self.versions / key)
        return image

    def _receive(self, source: RemoteImageProvider, version: RemoteVersion, part: Path) -> None:
        hashers = {algo: hashlib.new(algo) for algo in version.checksums}
        total = 0
        started = time.monotonic()
        with open(part, "wb") as out, source.open(version) as chunks:
            for chunk in chunks:
                total += len(chunk)
                if total > self.max_bytes:
                    raise ImageError(
                        f"{version.label} is larger than the limit of {self.max_bytes} bytes "
                        "(max_bytes): download stopped"
                    )
                if version.size is not None and total > version.size:
                    raise ImageError(
                        f"{version.label} sent more than the {version.size} bytes announced"
                    )
                out.write(chunk)
                for hasher in hashers.values():
                    hasher.update(chunk)
        if version.size is not None and total != version.size:
            raise ImageError(
                f"download of {version.label} is truncated: {total} of {version.size} bytes"
            )
        for algo, hasher in hashers.items():
            actual = hasher.hexdigest()
            if actual != version.checksums[algo]:
                raise ImageError(
                    f"checksum mismatch for {version.label}: {algo} {actual} received, "
                    f"{version.checksums[algo]} expected; the download was discarded"
                )
        log.debug(
            "received %d bytes of %s in %.1f s", total, version.label, time.monotonic() - started
        )

    def _unpack(self, part: Path, key: str, version: RemoteVersion) -> GuestImage:
        final = self.versions / key
        staging = self.versions / f".{key}.{os.getpid()}.{threading.get_ident()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True, mode=0o755)
        try:
            files = self._extract(part, staging, version.label)
            image = self._finish(staging, final, files, version)
            if final.exists():  # only after a damaged copy was found and is being replaced
                self._discard(final)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        os.chmod(final, 0o755)
        image.check()
        return image

    def _extract(self, part: Path, staging: Path, label: str) -> dict[str, dict[str, Any]]:
        files: dict[str, dict[str, Any]] = {}
        unpacked = 0
        try:
            with tarfile.open(part, "r:*") as tar:
                for member in tar:
                    name = _member_name(member.name)
                    if name is None or not member.isreg():
                        raise ImageError(
                            f"{label}: archive member {member.name!r} is not a plain file at "
                            "the top level"
                        )
                    if name in files:
                        raise ImageError(f"{label}: archive member {name!r} appears twice")
                    if len(files) >= MAX_MEMBERS:
                        raise ImageError(
                            f"{label}: the archive has more than the image's {MAX_MEMBERS} files"
                        )
                    unpacked += member.size
                    if unpacked > self.max_bytes:
                        raise ImageError(
                            f"{label}: unpacked image larger than {self.max_bytes} bytes"
                        )
                    source = tar.extractfile(member)
                    if source is None:
                        raise ImageError(f"{label}: cannot read archive member {name!r}")
                    sha256 = hashlib.sha256()
                    target = staging / name
                    with source, open(target, "wb") as out:
                        while chunk := source.read(CHUNK):
                            out.write(chunk)
                            sha256.update(chunk)
                    os.chmod(target, 0o644)
                    files[name] = {"size": member.size, "sha256": sha256.hexdigest()}
        except tarfile.TarError as exc:
            raise ImageError(f"{label} is not a readable image archive: {exc}") from exc
        except EOFError as exc:
            raise ImageError(f"{label}: the image archive ends early: {exc}") from exc
        return files

    @staticmethod
    def _finish(
        staging: Path, final: Path, files: dict[str, dict[str, Any]], version: RemoteVersion
    ) -> GuestImage:
        metas = [name for name in files if name.endswith(".json")]
        if len(metas) != 1:
            raise ImageError(
                f"{version.label}: the archive must hold exactly one metadata JSON, found "
                f"{len(metas)} ({', '.join(sorted(files)) or 'no files'})"
            )
        meta_path = staging / metas[0]
        try:
            data = json.loads(meta_path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            roles = {role: Path(str(data[role])).name for role in ("disk", "kernel", "initrd")}
        except (OSError, ValueError, KeyError) as exc:
            raise ImageError(f"{version.label}: unreadable image metadata: {exc}") from exc
        expected = {metas[0], *roles.values()}
        if set(files) != expected or len(expected) != MAX_MEMBERS:
            raise ImageError(
                f"{version.label}: the archive holds {', '.join(sorted(files))}, but its "
                f"metadata names {', '.join(f'{r} {n}' for r, n in roles.items())}"
            )
        data.update({role: str(final / name) for role, name in roles.items()})
        try:
            image = GuestImage.model_validate(data)
        except ValidationError as exc:
            raise ImageError(f"{version.label}: invalid image metadata: {exc}") from exc
        meta_bytes = image.model_dump_json(indent=2).encode()
        meta_path.write_bytes(meta_bytes)
        files[metas[0]] = {
            "size": len(meta_bytes),
            "sha256": hashlib.sha256(meta_bytes).hexdigest(),
        }
        manifest = {
            "version": version.version,
            "label": version.label,
            "checksums": version.checksums,
            "metadata": metas[0],
            "files": files,
            "completed_at": time.time(),
        }
        _write_atomically(staging / MANIFEST, json.dumps(manifest, indent=2).encode())
        return image

    def _discard(self, folder: Path) -> None:
        trash = folder.with_name(f".trash-{folder.name}-{os.getpid()}-{threading.get_ident()}")
        with contextlib.suppress(OSError):
            os.rename(folder, trash)
            shutil.rmtree(trash, ignore_errors=True)


class RemoteImageProvider(ImageProvider):
    """An image provider whose images come from a remote source through the shared cache.

    Subclasses say where the newest version is (:meth:`resolve`) and how to stream it
    (:meth:`open`). Common configuration: ``max_bytes`` (default 32 GiB), ``background``
    (default true), ``verify_cache`` (re-hash cached files on every use; default false:
    sizes only), ``cache_dir``, ``wait_seconds`` (for another process's download).
    """

    kind: ClassVar[str] = "remote"

    def __init__(self, name: str, configuration: dict[str, Any]) -> None:
        super().__init__(name, configuration)
        root = Path(str(configuration.get("cache_dir") or cache_dir() / "remote-images"))
        digest = hashlib.sha256(f"{self.kind}\0{self.source_key()}".encode()).hexdigest()
        self.cache = RemoteImageCache(
            root / f"{self.kind}-{_safe(name)[:40]}-{digest[:16]}",
            max_bytes=int(configuration.get("max_bytes", DEFAULT_MAX_BYTES)),
            verify_cache=bool(configuration.get("verify_cache", False)),
            background=bool(configuration.get("background", True)),
            wait_seconds=float(configuration.get("wait_seconds", DEFAULT_WAIT_SECONDS)),
        )
        self._downloads: list[threading.Thread] = []

    @property
    def image(self) -> GuestImage:
        return self.cache.fetch(self)

    def wait_for_downloads(self, timeout: float | None = None) -> bool:
        """Wait for the background downloads this provider started; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._downloads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._downloads)

    @abstractmethod
    def source_key(self) -> str:
        """Where and what (endpoint and image name): one cache folder per key."""

    @abstractmethod
    def resolve(self) -> RemoteVersion:
        """The newest version of the image at the source (RemoteUnavailable if unreachable)."""

    @abstractmethod
    def open(self, version: RemoteVersion) -> AbstractContextManager[Iterator[bytes]]:
        """The archive's bytes, streamed in chunks."""

    def configured_checksums(self) -> dict[str, str]:
        """Checksums the configuration insists on (``checksum``: "ALGO:HEX", or a list)."""
        configured = self.configuration.get("checksum") or []
        values = [configured] if isinstance(configured, str) else list(configured)
        result: dict[str, str] = {}
        for value in values:
            algo, digest = parse_checksum(str(value))
            result = merge_checksums(f"the configuration of {self.name!r}", result, {algo: digest})
        return result


def _member_name(name: str) -> str | None:
    name = name[2:] if name.startswith("./") else name
    if not name or "/" in name or name in (".", "..") or name.startswith(".") or "\0" in name:
        return None
    return name


def _safe(text: str) -> str:
    return _SAFE.sub("_", text).strip("._") or "image"


def _digest(path: Path, algo: str) -> str:
    hasher = hashlib.new(algo)
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
