"""``S3Provider``: an image archive stored as an S3 object (AWS, MinIO, Swift's s3api...).

    {"name": "debian-bookworm-amd64",
     "provider": "aasee.images.providers.S3Provider",
     "provider_configuration": {"bucket": "images", "key": "debian.tar",
                                "endpoint_url": "http://minio:9000"}}

``key`` defaults to ``name``. Credentials and endpoint: ``endpoint_url``, ``region_name``,
``aws_access_key_id``, ``aws_secret_access_key`` (else boto3's usual sources), or SEE's
``auth`` mapping of boto3 client arguments; SEE's ``bucket_name`` is accepted for
``bucket``. The object's version is its ``VersionId`` (versioned buckets) or ``ETag``, its
order its ``LastModified``; the download asks for that very ETag (``IfMatch``), so an
object replaced while it downloads is refused rather than mixed. Verified against, as
available: the configuration's ``checksum`` ("ALGO:HEX") or ``sha256``, the object's
user metadata ``sha256`` (``x-amz-meta-sha256``, set it when uploading), its full-object
``ChecksumSHA256`` and, for a single-part unencrypted upload, its ETag (the md5); an object
with none of them is refused.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from aasee.images.providers_remote import (
    CHUNK,
    RemoteImageProvider,
    RemoteUnavailable,
    RemoteVersion,
    merge_checksums,
    parse_checksum,
)
from aasee.images.store import ImageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3Provider"]

CLIENT_KEYS = ("endpoint_url", "region_name", "aws_access_key_id", "aws_secret_access_key")


class S3Provider(RemoteImageProvider):
    kind: ClassVar[str] = "s3"

    def __init__(self, name: str, configuration: dict[str, Any]) -> None:
        bucket = configuration.get("bucket") or configuration.get("bucket_name")
        if not bucket:
            raise ImageError(f"S3Provider needs the 'bucket' holding image {name!r}")
        self.bucket = str(bucket)
        self.key = str(configuration.get("key") or name)
        super().__init__(name, configuration)
        self._client: S3Client | None = None

    def source_key(self) -> str:
        endpoint = self.configuration.get("endpoint_url") or dict(
            self.configuration.get("auth") or {}
        ).get("endpoint_url", "")
        return f"{endpoint}\0{self.bucket}\0{self.key}"

    @property
    def client(self) -> S3Client:
        if self._client is None:
            import boto3  # imported on use: boto3 takes a while to import
            from botocore.config import Config

            arguments: dict[str, Any] = dict(self.configuration.get("auth") or {})
            arguments.update(
                {k: self.configuration[k] for k in CLIENT_KEYS if k in self.configuration}
            )
            timeout = float(self.configuration.get("timeout", 60))
            arguments.setdefault(
                "config", Config(connect_timeout=min(timeout, 15.0), read_timeout=timeout)
            )
            self._client = boto3.client("s3", **arguments)
        return self._client

    def resolve(self) -> RemoteVersion:
        from botocore.exceptions import BotoCoreError, ClientError

        label = f"S3 object s3://{self.bucket}/{self.key}"
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key, ChecksumMode="ENABLED")
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status == 404 or exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise ImageError(f"{label} (image {self.name!r}) does not exist") from exc
            if status >= 500:
                raise RemoteUnavailable(f"{label}: the server answered {status}") from exc
            raise ImageError(f"{label}: {exc}") from exc
        except BotoCoreError as exc:
            raise RemoteUnavailable(f"cannot reach {label}: {exc}") from exc
        etag = str(head.get("ETag", "")).strip('"')
        announced: list[dict[str, str]] = []
        metadata_sha = (head.get("Metadata") or {}).get("sha256")
        if metadata_sha:
            announced.append({"sha256": parse_checksum(f"sha256:{metadata_sha}")[1]})
        full_sha = head.get("ChecksumSHA256")
        if (
            full_sha
            and "-" not in full_sha
            and head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT"
        ):
            try:
                announced.append({"sha256": base64.b64decode(full_sha, validate=True).hex()})
            except (binascii.Error, ValueError):
                pass
        if re.fullmatch(r"[0-9a-f]{32}", etag) and head.get("ServerSideEncryption") != "aws:kms":
            announced.append({"md5": etag})
        configured = self.configured_checksums()
        if self.configuration.get("sha256"):
            configured = merge_checksums(
                label,
                configured,
                {"sha256": parse_checksum(f"sha256:{self.configuration['sha256']}")[1]},
            )
        checksums = merge_checksums(label, configured, *announced)
        if not checksums:
            raise ImageError(
                f"{label} has no checksum (no sha256 metadata or checksum, multipart ETag): "
                "refusing an image that cannot be verified; configure its 'sha256'"
            )
        modified = head.get("LastModified")
        return RemoteVersion(
            version=str(head.get("VersionId") or etag),
            checksums=checksums,
            order=modified.timestamp() if modified is not None else 0.0,
            label=f"{label} (image {self.name!r})",
            size=int(head["ContentLength"]) if "ContentLength" in head else None,
            details={"etag": head.get("ETag", "")},
        )

    @contextmanager
    def open(self, version: RemoteVersion) -> Iterator[Iterator[bytes]]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=self.key, IfMatch=str(version.details.get("etag", "*"))
            )
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status == 412:
                raise ImageError(f"{version.label} changed while it was being fetched") from exc
            raise ImageError(f"download of {version.label} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise RemoteUnavailable(f"cannot reach {version.label}: {exc}") from exc
        body = response["Body"]
        try:
            yield _chunks(body.iter_chunks(CHUNK), version.label)
        finally:
            body.close()


def _chunks(chunks: Iterator[bytes], label: str) -> Iterator[bytes]:
    from botocore.exceptions import BotoCoreError

    try:
        yield from chunks
    except BotoCoreError as exc:
        raise ImageError(f"download of {label} interrupted: {exc}") from exc
