"""Object storage for samples, raw artefacts and reports: a local folder or S3, by URL.

``Storage`` holds all the logic (key rules, files, trees, bounded reads, per-task layout); a
backend only moves bytes for a key: ``LocalBackend`` (``file:///path``) and ``S3Backend``
(``s3://bucket/prefix?endpoint_url=...&region=...``, credentials from the usual AWS
environment). Keys are built by the service from task ids and fixed names, never from a
submitted file name, and every key is checked before any backend sees it.

Layout of one task: ``tasks/<id>/sample.bin``, ``tasks/<id>/raw/<artefact>`` (directories such
as ``dropped/`` are stored as one ``<name>.tar``), ``tasks/<id>/report.json|report.html``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK = 1 << 20
KEY_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_KEY_PARTS = 8


class StorageError(Exception):
    """The storage is unreachable, refused an operation, or a key is not allowed."""


class ObjectMissing(StorageError):
    """No object is stored under the key."""


def check_key(key: str) -> str:
    parts = key.split("/")
    if len(parts) > MAX_KEY_PARTS or not all(KEY_PART.match(p) for p in parts):
        raise StorageError(f"invalid storage key {key!r}")
    if any(set(part) == {"."} for part in parts):
        raise StorageError(f"invalid storage key {key!r}")
    return key


class Backend(Protocol):
    """The few operations a storage must offer; keys are already checked."""

    description: str

    def put(self, key: str, source: IO[bytes]) -> None: ...

    def open(self, key: str) -> IO[bytes]: ...

    def keys(self, prefix: str) -> Iterator[str]: ...

    def delete(self, key: str) -> None: ...

    def ping(self) -> None: ...


class LocalBackend:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = f"folder {root}"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def put(self, key: str, source: IO[bytes]) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Written aside then renamed: a reader never sees half an object.
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        except OSError as exc:
            raise StorageError(f"cannot store {key} in {self.root}: {exc}") from exc
        try:
            with os.fdopen(handle, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> IO[bytes]:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise ObjectMissing(f"no object {key}") from exc
        except IsADirectoryError as exc:
            raise ObjectMissing(f"no object {key}") from exc

    def keys(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith(".part-"):
                yield path.relative_to(self.root).as_posix()

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        # Empty per-task folders go with their last object.
        for parent in path.parents:
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"storage folder {self.root} unusable: {exc}") from exc
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"storage folder {self.root} is not writable")


class S3Backend:
    def __init__(
        self, bucket: str, prefix: str, endpoint_url: str | None, region: str | None
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.description = f"s3://{bucket}/{self.prefix}" + (
            f" at {endpoint_url}" if endpoint_url else ""
        )
        self.client: S3Client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _errors(self, action: str, key: str, exc: Exception) -> StorageError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                return ObjectMissing(f"no object {key}")
        return StorageError(f"{self.description}: cannot {action} {key}: {exc}")

    def put(self, key: str, source: IO[bytes]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_fileobj(source, self.bucket, self._name(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._errors("store", key, exc) from exc

    def open(self, key: str) -> IO[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._errors("read", key, exc) from exc
        body: IO[bytes] = response["Body"]  # type: ignore[assignment]
        return body

    def keys(self, prefix: str) -> Iterator[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        strip = len(self._name(""))
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._name(prefix)):
                for item in page.get("Contents", []):
                    yield item["Key"][strip:]
        except (BotoCoreError, ClientError) as exc:
            raise self._errors("list", prefix, exc) from exc

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._errors("delete", key, exc) from exc

    def ping(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"{self.description} unreachable: {exc}") from exc


def backend_from_url(url: str) -> Backend:
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise StorageError(f"storage URL {url!r}: file:// URLs name a local folder only")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise StorageError(f"storage URL {url!r}: the folder must be an absolute path")
        return LocalBackend(Path(path))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise StorageError(f"storage URL {url!r}: no bucket (s3://BUCKET/PREFIX)")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        unknown = set(query) - {"endpoint_url", "region"}
        if unknown:
            raise StorageError(
                f"storage URL {url!r}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                "known: endpoint_url, region"
            )
        return S3Backend(
            parts.netloc, unquote(parts.path), query.get("endpoint_url"), query.get("region")
        )
    raise StorageError(f"storage URL {url!r}: use file:///folder or s3://bucket/prefix")


def task_prefix(task_id: str) -> str:
    return check_key(f"tasks/{task_id}")


class Storage:
    """Everything the service stores, over one backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def from_url(cls, url: str) -> Storage:
        return cls(backend_from_url(url))

    @property
    def description(self) -> str:
        return self.backend.description

    def ping(self) -> None:
        self.backend.ping()

    def put_bytes(self, key: str, data: bytes) -> None:
        self.backend.put(check_key(key), io.BytesIO(data))

    def put_file(self, key: str, path: Path) -> None:
        with path.open("rb") as source:
            self.backend.put(check_key(key), source)

    def get_bytes(self, key: str, limit: int) -> bytes:
        with self.backend.open(check_key(key)) as source:
            data = source.read(limit + 1)
        if len(data) > limit:
            raise StorageError(f"object {key} is larger than {limit} bytes")
        return data

    def chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes in pieces; opening happens now, so a missing object raises now."""
        source = self.backend.open(check_key(key))

        def stream() -> Iterator[bytes]:
            with source:
                while chunk := source.read(CHUNK):
                    yield chunk

        return stream()

    def exists(self, key: str) -> bool:
        try:
            self.backend.open(check_key(key)).close()
        except ObjectMissing:
            return False
        return True

    def download(self, key: str, target: Path) -> None:
        with self.backend.open(check_key(key)) as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, CHUNK)

    def keys(self, prefix: str) -> list[str]:
        return list(self.backend.keys(check_key(prefix) + "/"))

    def delete_prefix(self, prefix: str) -> int:
        keys = self.keys(prefix)
        for key in keys:
            self.backend.delete(key)
        return len(keys)

    def put_tree(
        self, prefix: str, directory: Path, skip: frozenset[str] = frozenset()
    ) -> list[str]:
        """Store a results folder: files as they are, each sub-folder as ``<name>.tar``.

        Names that are not plain (hidden, odd characters) and symlinks are skipped: the
        folder holds guest-derived content and nothing in it is trusted.
        """
        stored = []
        for entry in sorted(directory.iterdir()):
            if entry.name in skip or not KEY_PART.match(entry.name) or entry.is_symlink():
                continue
            if entry.is_file():
                self.put_file(f"{prefix}/{entry.name}", entry)
                stored.append(entry.name)
            elif entry.is_dir():
                name = f"{entry.name}.tar"
                with tempfile.TemporaryFile() as spool:
                    _write_tar(spool, entry)
                    spool.seek(0)
                    self.backend.put(check_key(f"{prefix}/{name}"), spool)
                stored.append(name)
        return stored

    def get_tree(self, prefix: str, directory: Path) -> list[str]:
        """Fetch what ``put_tree`` stored into ``directory``; tars become folders again."""
        directory.mkdir(parents=True, exist_ok=True)
        fetched = []
        for key in self.keys(prefix):
            name = key[len(prefix) + 1 :]
            if "/" in name:
                continue
            if name.endswith(".tar"):
                with tempfile.TemporaryFile() as spool:
                    with self.backend.open(key) as source:
                        shutil.copyfileobj(source, spool, CHUNK)
                    spool.seek(0)
                    _extract_tar(spool, directory / name[: -len(".tar")])
            else:
                self.download(key, directory / name)
            fetched.append(name)
        return fetched

    def tar_members(self, key: str) -> Iterator[tuple[str, bytes]]:
        """(path inside, content) of each regular file of a stored tar, for re-packing."""
        with tempfile.TemporaryFile() as spool:
            with self.backend.open(check_key(key)) as source:
                shutil.copyfileobj(source, spool, CHUNK)
            spool.seek(0)
            with tarfile.open(fileobj=spool, mode="r:") as archive:
                for member in archive:
                    if not member.isreg():
                        continue
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        yield member.name, extracted.read()


def _write_tar(out: IO[bytes], directory: Path) -> None:
    with tarfile.open(fileobj=out, mode="w:") as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            archive.add(path, arcname=path.relative_to(directory).as_posix(), recursive=False)


def _extract_tar(source: IO[bytes], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=source, mode="r:") as archive:
        # The "data" filter refuses absolute paths, "..", links out and device files.
        archive.extractall(target, filter="data")
