"""HttpProvider and the remote image cache it shares with Glance and S3, against a local
HTTP server: verified downloads, hostile servers and archives, concurrent callers, updates."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from aasee.images.providers import HttpProvider, provider_from_config, wait_for_downloads
from aasee.images.store import GuestImage, ImageError

from .test_providers_helpers import (
    archive_of,
    file_member,
    http_server,
    metadata,
    sha256,
    tar_of,
)

WAIT = 30


def provider(url: str, digest: str, cache: Path, **options: Any) -> HttpProvider:
    return HttpProvider("guest", {"url": url, "sha256": digest, "cache_dir": str(cache), **options})


def leftovers(cache: Path) -> list[str]:
    """Partial downloads and staging folders: none may survive a finished call."""
    return sorted(
        str(p.relative_to(cache))
        for p in cache.rglob("*")
        if p.name.endswith(".part") or (p.parent.name == "versions" and p.name.startswith("."))
    )


def versions(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob("*/versions/*") if not p.name.startswith("."))


def test_download_verify_and_serve_from_the_cache(tmp_path: Path) -> None:
    data = archive_of(tmp_path / "src")
    cache = tmp_path / "cache"
    with http_server() as server:
        server.serve_bytes("/guest.tar", data)
        first = provider(f"{server.url}/guest.tar", sha256(data), cache).image
        again = provider(f"{server.url}/guest.tar", sha256(data), cache).image
        assert server.gets["/guest.tar"] == 1  # the second call never asked the server
    assert first == again
    assert first.name == "guest" and first.inputs_key == "key-v1"
    for path in (first.disk, first.kernel, first.initrd):
        assert path.is_file() and path.is_relative_to(cache)
    assert first.disk.read_bytes().startswith(b"QFI\xfbv1")
    # The metadata beside the files names them where they are now.
    stored = json.loads(first.disk.with_suffix(".json").read_text())
    assert stored["disk"] == str(first.disk)
    assert leftovers(cache) == []


def test_gzip_archives_are_accepted(tmp_path: Path) -> None:
    data = archive_of(tmp_path / "src", compress=True)
    with http_server() as server:
        server.serve_bytes("/guest.tar.gz", data)
        image = provider(f"{server.url}/guest.tar.gz", sha256(data), tmp_path / "c").image
    assert image.kernel.read_bytes() == b"kernel-v1"


def test_provider_from_config_in_see_shape(tmp_path: Path) -> None:
    data = archive_of(tmp_path / "src")
    with http_server() as server:
        server.serve_bytes("/guest.tar", data)
        configured = provider_from_config(
            {
                "uri": "guest",  # SEE's key for the name
                "provider": "aasee.images.providers.HttpProvider",
                "provider_configuration": {
                    "url": f"{server.url}/guest.tar",
                    "sha256": sha256(data),
                    "cache_dir": str(tmp_path / "cache"),
                },
            }
        )
        assert isinstance(configured, HttpProvider)
        assert configured.image.name == "guest"


def test_wrong_checksum_is_refused_and_the_partial_file_removed(tmp_path: Path) -> None:
    data = archive_of(tmp_path / "src")
    cache = tmp_path / "cache"
    with http_server() as server:
        server.serve_bytes("/guest.tar", data)
        with pytest.raises(ImageError, match="checksum mismatch .* sha256") as raised:
            provider(f"{server.url}/guest.tar", "0" * 64, cache).image  # noqa: B018
    assert "discarded" in str(raised.value)
    assert leftovers(cache) == [] and versions(cache) == []


def test_truncated_body_is_refused(tmp_path: Path) -> None:
    data = archive_of(tmp_path / "src")
    cache = tmp_path / "cache"

    def truncated(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data[: len(data) // 2])
        handler.wfile.flush()
        handler.close_connection = True

    with http_server() as server:
        server.routes["/guest.tar"] = truncated
        with pytest.raises(ImageError, match="interrupted|failed"):
            provider(f"{server.url}/guest.tar", sha256(data), cache).image  # noqa: B018
    assert leftovers(cache) == [] and versions(cache) == []


def test_body_beyond_the_limit_is_cut_off(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    chunk = b"x" * 65536
    total = 64 << 20  # the server would send 64 MiB

    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(total))
        handler.end_headers()
        for _ in range(total // len(chunk)):
            handler.wfile.write(chunk)
            server.sent["/huge"] += len(chunk)

    with http_server() as server:
        server.routes["/huge"] = endless
        started = time.monotonic()
        with pytest.raises(ImageError, match="larger than the limit of 1048576"):
            provider(f"{server.url}/huge", "0" * 64, cache, max_bytes=1 << 20).image  # noqa: B018
        assert time.monotonic() - started < WAIT
    assert server.sent["/huge"] < total  # stopped reading long before the end
    assert leftovers(cache) == [] and versions(cache) == []


def test_error_status_is_refused(tmp_path: Path) -> None:
    with http_server() as server:
        with pytest.raises(ImageError, match="answered 404"):
            provider(f"{server.url}/missing.tar", "0" * 64, tmp_path / "c").image  # noqa: B018


@pytest.mark.parametrize(
    ("configuration", "message"),
    [
        ({"url": "http://h/x.tar"}, "needs the 'sha256'"),
        ({"url": "ftp://h/x.tar", "sha256": "0" * 64}, "http\\(s\\) 'url'"),
        ({"sha256": "0" * 64}, "http\\(s\\) 'url'"),
        ({"url": "http://h/x.tar", "sha256": "xyz"}, "not hexadecimal"),
        ({"url": "http://h/x.tar", "sha256": "ab"}, "wrong length"),
    ],
)
def test_bad_configuration(configuration: dict[str, Any], message: str) -> None:
    with pytest.raises(ImageError, match=message):
        HttpProvider("guest", configuration)


def test_concurrent_callers_share_one_download(tmp_path: Path) -> None:
    data = archive_of(tmp_path / "src")
    cache = tmp_path / "cache"
    gate = threading.Event()
    results: list[GuestImage | BaseException] = []

    def call() -> None:
        try:
            results.append(provider(f"{server.url}/guest.tar", sha256(data), cache).image)
        except BaseException as exc:
            results.append(exc)

    with http_server() as server:
        server.serve_bytes("/guest.tar", data, gate=gate)
        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        while server.gets["/guest.tar"] == 0:
            time.sleep(0.01)
        time.sleep(0.2)  # the other callers are now waiting for the lock
        gate.set()
        for thread in threads:
            thread.join(WAIT)
        assert server.gets["/guest.tar"] == 1
    assert all(isinstance(r, GuestImage) for r in results), results
    assert len({r.disk for r in results if isinstance(r, GuestImage)}) == 1
    assert leftovers(cache) == []


def test_a_second_process_waits_for_and_reuses_the_first_download(tmp_path: Path) -> None:
    data = archive_of(tmp_path / "src")
    cache = tmp_path / "cache"
    gate = threading.Event()
    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
        "from aasee.images.providers import HttpProvider\n"
        "p = HttpProvider('guest', {'url': sys.argv[1], 'sha256': sys.argv[2],"
        " 'cache_dir': sys.argv[3]})\n"
        "print(p.image.disk)\n"
    )
    with http_server() as server:
        server.serve_bytes("/guest.tar", data, gate=gate)
        url = f"{server.url}/guest.tar"
        first: list[GuestImage] = []
        downloader = threading.Thread(
            target=lambda: first.append(provider(url, sha256(data), cache).image)
        )
        downloader.start()
        while server.gets["/guest.tar"] == 0:
            time.sleep(0.01)
        other = subprocess.Popen(
            [sys.executable, "-c", script, url, sha256(data), str(cache)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert other.stderr is not None
        said = ""
        while "waiting for another download" not in said:  # blocked on the download lock
            line = other.stderr.readline()
            assert line, f"the other process ended early: {said}"
            said += line
        gate.set()
        downloader.join(WAIT)
        out, _ = other.communicate(timeout=WAIT)
        assert other.returncode == 0
        assert server.gets["/guest.tar"] == 1
    assert Path(out.strip()) == first[0].disk


def test_newer_version_downloads_in_the_background_while_the_cached_one_is_served(
    tmp_path: Path,
) -> None:
    old = archive_of(tmp_path / "src", tag="v1")
    new = archive_of(tmp_path / "src", tag="v2")
    cache = tmp_path / "cache"
    gate = threading.Event()
    with http_server() as server:
        server.serve_bytes("/v1.tar", old)
        url = f"{server.url}/guest.tar"
        server.serve_bytes("/guest.tar", old)
        assert provider(url, sha256(old), cache).image.inputs_key == "key-v1"
        server.serve_bytes("/guest.tar", new, gate=gate)
        updating = provider(url, sha256(new), cache)
        served = updating.image  # returns at once, the download is still held at the gate
        assert served.inputs_key == "key-v1"
        # Asked again meanwhile (another caller): still the complete cached one.
        assert provider(url, sha256(new), cache).image.inputs_key == "key-v1"
        gate.set()
        assert updating.wait_for_downloads(WAIT)
        assert updating.cache.last_error is None
        assert provider(url, sha256(new), cache).image.inputs_key == "key-v2"
        assert server.gets["/guest.tar"] == 2
    assert len(versions(cache)) == 2 and leftovers(cache) == []


def test_a_failed_background_download_keeps_serving_the_cached_version(tmp_path: Path) -> None:
    old = archive_of(tmp_path / "src", tag="v1")
    new = archive_of(tmp_path / "src", tag="v2")
    cache = tmp_path / "cache"
    with http_server() as server:
        url = f"{server.url}/guest.tar"
        server.serve_bytes("/guest.tar", old)
        provider(url, sha256(old), cache).image  # noqa: B018
        server.serve_bytes("/guest.tar", new)
        bad = provider(url, "f" * 64, cache)  # pinned to a checksum the server never has
        assert bad.image.inputs_key == "key-v1"
        assert bad.wait_for_downloads(WAIT)
        assert isinstance(bad.cache.last_error, ImageError)
        assert "checksum mismatch" in str(bad.cache.last_error)
    assert leftovers(cache) == [] and len(versions(cache)) == 1


def test_foreground_download_when_background_is_off(tmp_path: Path) -> None:
    old = archive_of(tmp_path / "src", tag="v1")
    new = archive_of(tmp_path / "src", tag="v2")
    cache = tmp_path / "cache"
    with http_server() as server:
        url = f"{server.url}/guest.tar"
        server.serve_bytes("/guest.tar", old)
        provider(url, sha256(old), cache).image  # noqa: B018
        server.serve_bytes("/guest.tar", new)
        image = provider(url, sha256(new), cache, background=False).image
    assert image.inputs_key == "key-v2"
    assert wait_for_downloads(WAIT)


def test_damaged_cache_is_discarded_and_downloaded_again(tmp_path: Path) -> None:
    data = archive_of(tmp_path / "src")
    cache = tmp_path / "cache"
    with http_server() as server:
        url = f"{server.url}/guest.tar"
        server.serve_bytes("/guest.tar", data)
        image = provider(url, sha256(data), cache).image
        image.disk.write_bytes(b"tampered")  # another size: always noticed
        again = provider(url, sha256(data), cache).image
        assert server.gets["/guest.tar"] == 2
        assert again.disk.read_bytes().startswith(b"QFI\xfbv1")
        # Same size, other bytes: noticed when the cache is verified on use.
        original = again.kernel.read_bytes()
        again.kernel.write_bytes(b"X" * len(original))
        assert provider(url, sha256(data), cache).image.kernel.read_bytes() != original
        assert server.gets["/guest.tar"] == 2
        healed = provider(url, sha256(data), cache, verify_cache=True).image
        assert healed.kernel.read_bytes() == original
        assert server.gets["/guest.tar"] == 3


def _hostile(name: str) -> bytes:
    meta = metadata()
    files = {
        "guest.qcow2": b"QFI\xfbdisk",
        "guest.vmlinuz": b"kernel",
        "guest.initrd": b"initrd",
    }
    good = [file_member("guest.json", meta), *(file_member(n, d) for n, d in files.items())]
    if name == "symlink":
        link = tarfile.TarInfo("guest.vmlinuz")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/shadow"
        return tar_of([good[0], good[1], (link, None), good[3]])
    if name == "traversal":
        return tar_of([*good[:3], file_member("../guest.initrd", b"x")])
    if name == "subdirectory":
        return tar_of([*good[:3], file_member("sub/guest.initrd", b"x")])
    if name == "hidden":
        return tar_of([*good, file_member(".profile", b"x")][:3] + [file_member(".x", b"x")])
    if name == "extra":
        return tar_of([*good, file_member("evil.sh", b"x")])
    if name == "missing":
        return tar_of(good[:3])
    if name == "duplicate":
        return tar_of([*good[:3], good[1]])
    if name == "two-json":
        return tar_of([*good[:3], file_member("other.json", meta)])
    if name == "bad-json":
        return tar_of([file_member("guest.json", b"{not json"), *good[1:]])
    if name == "invalid-metadata":
        return tar_of([file_member("guest.json", metadata(arch=None)), *good[1:]])
    if name == "not-a-tar":
        return b"this is not an archive" * 100
    if name == "device":
        device = tarfile.TarInfo("guest.initrd")
        device.type = tarfile.CHRTYPE
        return tar_of([*good[:3], (device, None)])
    raise AssertionError(name)


@pytest.mark.parametrize(
    "name",
    [
        "symlink",
        "traversal",
        "subdirectory",
        "hidden",
        "extra",
        "missing",
        "duplicate",
        "two-json",
        "bad-json",
        "invalid-metadata",
        "not-a-tar",
        "device",
    ],
)
def test_hostile_archives_are_refused(tmp_path: Path, name: str) -> None:
    data = _hostile(name)
    cache = tmp_path / "cache"
    with http_server() as server:
        server.serve_bytes("/guest.tar", data)
        with pytest.raises(ImageError):
            provider(f"{server.url}/guest.tar", sha256(data), cache).image  # noqa: B018
    assert leftovers(cache) == [] and versions(cache) == []
    assert not (tmp_path / "etc").exists()
    assert not any(p.name == "guest.initrd" for p in tmp_path.glob("*"))


def test_an_archive_that_unpacks_beyond_the_limit_is_refused(tmp_path: Path) -> None:
    meta = metadata()
    big = b"\0" * (2 << 20)  # compresses to almost nothing
    data = tar_of(
        [
            file_member("guest.json", meta),
            file_member("guest.qcow2", big),
            file_member("guest.vmlinuz", b"k"),
            file_member("guest.initrd", b"i"),
        ]
    )
    packed = gzip.compress(data)
    assert len(packed) < 1 << 20
    with http_server() as server:
        server.serve_bytes("/guest.tar.gz", packed)
        with pytest.raises(ImageError, match="unpacked image larger"):
            _ = provider(
                f"{server.url}/guest.tar.gz", sha256(packed), tmp_path / "c", max_bytes=1 << 20
            ).image
    assert leftovers(tmp_path / "c") == [] and versions(tmp_path / "c") == []
