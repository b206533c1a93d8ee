"""Object storage for samples, raw artefacts and reports: a local folder or S3, by URL.

``Storage`` holds all the logic (key rules, files, trees, bounded reads, per-task layout); a
backend only moves bytes for a key: ``LocalBackend`` (``file:///path``) and ``S3Backend``
(``s3://bucket/prefix?endpoint_url=...&region=...``, credentials from the usual AWS
environment). Keys are built by the service from task ids and fixed names, never from a
submitted file name, and every key is checked before any backend sees it.

Nothing is held whole in memory on the way in or out: files go to S3 with boto3's managed
transfer, as a multipart upload of ``PART_SIZE`` parts above that size (read from disk as they
are sent; from a stream, only the ``UPLOAD_THREADS`` parts being sent are read ahead into
memory), and objects come back as a stream read ``CHUNK`` bytes at a time. Like the folder of
a ``LocalBackend``, which is made when first needed, a missing S3 bucket is created by the
first store (or ``ping``), and reads of a missing bucket find no objects.

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
from typing import IO, TYPE_CHECKING, Protocol, cast
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import ClientError
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CreateBucketConfigurationTypeDef

CHUNK = 1 << 20
# Multipart above PART_SIZE, in parts of PART_SIZE (s3transfer grows them for files too large
# for 10,000 parts), UPLOAD_THREADS parts in flight.
PART_SIZE = 8 << 20
UPLOAD_THREADS = 4
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

    def put_file(self, key: str, path: Path) -> None: ...

    def open(self, key: str) -> IO[bytes]: ...

    def exists(self, key: str) -> bool: ...

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

    def put_file(self, key: str, path: Path) -> None:
        with path.open("rb") as source:
            self.put(key, source)

    def open(self, key: str) -> IO[bytes]:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise ObjectMissing(f"no object {key}") from exc
        except IsADirectoryError as exc:
            raise ObjectMissing(f"no object {key}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

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


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


MISSING_OBJECT = frozenset({"NoSuchKey", "404", "NotFound"})
MISSING_BUCKET = "NoSuchBucket"


class S3Backend:
    def __init__(
        self, bucket: str, prefix: str, endpoint_url: str | None, region: str | None
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.region = region
        self.description = f"s3://{bucket}/{self.prefix}" + (
            f" at {endpoint_url}" if endpoint_url else ""
        )
        self.client: S3Client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=max(10, 2 * UPLOAD_THREADS),
            ),
        )
        self.transfer: TransferConfig = TransferConfig(
            multipart_threshold=PART_SIZE,
            multipart_chunksize=PART_SIZE,
            max_concurrency=UPLOAD_THREADS,
            preferred_transfer_client="classic",
        )
        # s3transfer's own bound on the parts read from a stream and not yet sent (boto3's
        # TransferConfig takes no keyword for it; its default, 10, is 80 MB of parts).
        self.transfer.max_in_memory_upload_chunks = UPLOAD_THREADS
        self._bucket_ready = False

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _errors(self, action: str, key: str, exc: Exception) -> StorageError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError) and _code(exc) in MISSING_OBJECT | {MISSING_BUCKET}:
            return ObjectMissing(f"no object {key}")
        return StorageError(f"{self.description}: cannot {action} {key}: {exc}")

    def _ensure_bucket(self) -> None:
        """Create the bucket if there is none (once per backend: later stores just store)."""
        from botocore.exceptions import ClientError

        if self._bucket_ready:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) not in MISSING_OBJECT | {MISSING_BUCKET}:
                raise
            try:
                if self.region in (None, "us-east-1"):
                    self.client.create_bucket(Bucket=self.bucket)
                else:
                    location = {"LocationConstraint": self.region}
                    self.client.create_bucket(
                        Bucket=self.bucket,
                        CreateBucketConfiguration=cast(
                            "CreateBucketConfigurationTypeDef", location
                        ),
                    )
            except ClientError as again:
                # Another process of the service made it in the meantime.
                if _code(again) != "BucketAlreadyOwnedByYou":
                    raise
        self._bucket_ready = True

    def _upload(self, key: str, source: str | IO[bytes]) -> None:
        """One managed transfer: a single PUT up to PART_SIZE, a multipart upload above."""
        from boto3.s3.transfer import create_transfer_manager
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._ensure_bucket()
            with create_transfer_manager(self.client, self.transfer) as manager:
                manager.upload(source, self.bucket, self._name(key)).result()
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"{self.description}: cannot store {key}: {exc}") from exc

    def put(self, key: str, source: IO[bytes]) -> None:
        self._upload(key, source)

    def put_file(self, key: str, path: Path) -> None:
        # By name, s3transfer reads each part from the file as it sends it.
        self._upload(key, str(path))

    def open(self, key: str) -> IO[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._errors("read", key, exc) from exc
        body: IO[bytes] = response["Body"]  # type: ignore[assignment]
        return body

    def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except (BotoCoreError, ClientError) as exc:
            error = self._errors("read", key, exc)
            if isinstance(error, ObjectMissing):
                return False
            raise error from exc
        return True

    def keys(self, prefix: str) -> Iterator[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        strip = len(self._name(""))
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._name(prefix)):
                for item in page.get("Contents", []):
                    yield item["Key"][strip:]
        except (BotoCoreError, ClientError) as exc:
            if isinstance(exc, ClientError) and _code(exc) == MISSING_BUCKET:
                return
            raise self._errors("list", prefix, exc) from exc

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        except (BotoCoreError, ClientError) as exc:
            if isinstance(exc, ClientError) and _code(exc) == MISSING_BUCKET:
                return
            raise self._errors("delete", key, exc) from exc

    def ping(self) -> None:
        """The bucket answers (made if missing, as a LocalBackend makes its folder)."""
        from botocore.exceptions import BotoCoreError, ClientError

        self._bucket_ready = False
        try:
            self._ensure_bucket()
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
        self.backend.put_file(check_key(key), path)

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
        return self.backend.exists(check_key(key))

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
                with tempfile.NamedTemporaryFile(prefix="aasee-tree-", suffix=".tar") as spool:
                    _write_tar(spool, entry)
                    spool.flush()
                    self.backend.put_file(check_key(f"{prefix}/{name}"), Path(spool.name))
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
