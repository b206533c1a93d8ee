"""S3Provider against moto's S3 (in process): the checksums an object can carry, updates,
objects replaced mid-download, and the cache logic it shares with the other providers."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aasee.images.providers import S3Provider, provider_from_config
from aasee.images.store import ImageError

from .test_providers_helpers import archive_of, sha256

BUCKET = "images"
WAIT = 30


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def s3_provider(cache: Path, key: str = "guest.tar", **options: Any) -> S3Provider:
    return S3Provider(
        "guest",
        {
            "bucket": BUCKET,
            "key": key,
            "region_name": "us-east-1",
            "cache_dir": str(cache),
            **options,
        },
    )


def versions(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob("*/versions/*") if not p.name.startswith("."))


def test_single_part_object_is_verified_by_its_etag(s3: Any, tmp_path: Path) -> None:
    data = archive_of(tmp_path)
    s3.put_object(Bucket=BUCKET, Key="guest.tar", Body=data)
    provider = s3_provider(tmp_path / "cache")
    assert provider.resolve().checksums == {"md5": hashlib.md5(data).hexdigest()}  # noqa: S324
    image = provider.image
    assert image.inputs_key == "key-v1" and image.disk.is_file()


def test_metadata_and_object_checksums_are_verified(s3: Any, tmp_path: Path) -> None:
    data = archive_of(tmp_path)
    digest = hashlib.sha256(data).digest()
    s3.put_object(
        Bucket=BUCKET,
        Key="guest.tar",
        Body=data,
        Metadata={"sha256": digest.hex()},
        ChecksumSHA256=base64.b64encode(digest).decode(),
    )
    checksums = s3_provider(tmp_path / "cache").resolve().checksums
    assert checksums["sha256"] == digest.hex()
    assert s3_provider(tmp_path / "cache").image.name == "guest"


def test_wrong_metadata_checksum_is_refused(s3: Any, tmp_path: Path) -> None:
    data = archive_of(tmp_path)
    s3.put_object(Bucket=BUCKET, Key="guest.tar", Body=data, Metadata={"sha256": "a" * 64})
    with pytest.raises(ImageError, match="checksum mismatch"):
        _ = s3_provider(tmp_path / "cache").image
    assert not list((tmp_path / "cache").rglob("*.part")) and versions(tmp_path / "cache") == []


def _multipart(s3: Any, key: str, data: bytes) -> None:
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    half = max(5 << 20, len(data) // 2)
    parts = []
    for number, offset in enumerate(range(0, len(data), half), start=1):
        part = s3.upload_part(
            Bucket=BUCKET,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=data[offset : offset + half],
        )
        parts.append({"ETag": part["ETag"], "PartNumber": number})
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )


def test_multipart_object_without_checksum_is_refused_unless_configured(
    s3: Any, tmp_path: Path
) -> None:
    data = archive_of(tmp_path) + b"\0" * (6 << 20)  # two parts; tar ignores the padding
    _multipart(s3, "guest.tar", data)
    with pytest.raises(ImageError, match="has no checksum"):
        _ = s3_provider(tmp_path / "cache").image
    image = s3_provider(tmp_path / "cache", sha256=sha256(data)).image
    assert image.name == "guest"


def test_newer_object_downloads_in_the_background(s3: Any, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    old, new = archive_of(tmp_path, tag="v1"), archive_of(tmp_path, tag="v2")
    s3.put_object(Bucket=BUCKET, Key="guest.tar", Body=old)
    assert s3_provider(cache).image.inputs_key == "key-v1"
    s3.put_object(Bucket=BUCKET, Key="guest.tar", Body=new)
    updating = s3_provider(cache)
    assert updating.image.inputs_key == "key-v1"  # served while v2 downloads
    assert updating.wait_for_downloads(WAIT)
    assert updating.cache.last_error is None
    assert s3_provider(cache).image.inputs_key == "key-v2"
    assert len(versions(cache)) == 2


def test_an_object_replaced_mid_download_is_refused(s3: Any, tmp_path: Path) -> None:
    old, new = archive_of(tmp_path, tag="v1"), archive_of(tmp_path, tag="v2")
    s3.put_object(Bucket=BUCKET, Key="guest.tar", Body=old)
    provider = s3_provider(tmp_path / "cache")
    version = provider.resolve()
    s3.put_object(Bucket=BUCKET, Key="guest.tar", Body=new)
    with pytest.raises(ImageError, match="changed while it was being fetched"):
        with provider.open(version) as chunks:
            b"".join(chunks)


def test_a_missing_object_is_an_error(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="does not exist"):
        _ = s3_provider(tmp_path / "cache", key="nope.tar").image


def test_see_style_configuration(s3: Any, tmp_path: Path) -> None:
    data = archive_of(tmp_path)
    s3.put_object(Bucket=BUCKET, Key="guest", Body=data)
    provider = provider_from_config(
        {
            "uri": "guest",
            "provider": "aasee.images.providers.S3Provider",
            "provider_configuration": {
                "bucket_name": BUCKET,
                "auth": {"region_name": "us-east-1"},
                "cache_dir": str(tmp_path / "cache"),
            },
        }
    )
    assert isinstance(provider, S3Provider) and provider.key == "guest"
    assert provider.image.name == "guest"


def test_a_bucket_is_required() -> None:
    with pytest.raises(ImageError, match="needs the 'bucket'"):
        S3Provider("guest", {})
