"""GlanceProvider against a real OpenStack Glance (Debian's ``glance-api``), no VM involved.

The fixture runs ``glance-api`` with no authentication (no Keystone, no RabbitMQ), an SQLite
database and a local file store, on 127.0.0.1 and a free port, in a temporary folder; it
stops it again and checks that no process of it is left. Images are the archives of
``providers_remote``, uploaded through Glance's v2 API.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aasee.images.providers import GlanceProvider, pack_image
from aasee.images.store import ImageError
from tests.unit.images.test_providers_helpers import make_image

pytestmark = pytest.mark.servers

START_TIMEOUT = 90
WAIT = 60

CONFIG = """\
[DEFAULT]
bind_host = 127.0.0.1
bind_port = {port}
workers = 0
node_staging_uri = file://{dir}/staging
log_file = {dir}/glance-api.log

[database]
connection = sqlite:///{dir}/glance.sqlite

[paste_deploy]
flavor =
config_file = /etc/glance/glance-api-paste.ini

[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = {dir}/images

[oslo_concurrency]
lock_path = {dir}/locks

[oslo_policy]
enforce_scope = false
enforce_new_defaults = false
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    pgid = process.pid  # the leader of the session it was started in
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        if not _group_alive(pgid):
            break
        os.killpg(pgid, sig)
        deadline = time.monotonic() + grace
        while _group_alive(pgid) and time.monotonic() < deadline:
            process.poll()  # reap the leader so the group can empty
            time.sleep(0.1)
    process.wait(10)


@pytest.fixture(scope="module")
def glance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a glance-api this fixture started, stopped again afterwards."""
    for program in ("glance-api", "glance-manage"):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is missing: run `make install` (Debian package glance-api)")
    directory = tmp_path_factory.mktemp("glance")
    for sub in ("staging", "images", "locks"):
        (directory / sub).mkdir()
    port = _free_port()
    config = directory / "glance-api.conf"
    config.write_text(CONFIG.format(port=port, dir=directory))
    subprocess.run(
        ["glance-manage", "--config-file", str(config), "db_sync"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    log = (directory / "stdout.log").open("wb")
    process = subprocess.Popen(
        ["glance-api", "--config-file", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"glance-api exited ({process.returncode}): "
                    f"{(directory / 'glance-api.log').read_text(errors='replace')[-2000:]}"
                )
            try:
                if httpx.get(f"{url}/healthcheck", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"glance-api did not answer within {START_TIMEOUT} s")
            time.sleep(0.2)
        yield url
    finally:
        _stop(process)
        log.close()
        assert not _group_alive(process.pid), "glance-api left processes behind"


def upload(url: str, name: str, archive: Path) -> dict[str, Any]:
    """Create an image and upload its data (v2 API); returns Glance's record of it."""
    with httpx.Client(base_url=url, timeout=60) as client:
        created = client.post(
            "/v2/images", json={"name": name, "disk_format": "raw", "container_format": "bare"}
        )
        assert created.status_code == 201, created.text
        image_id = created.json()["id"]
        stored = client.put(
            f"/v2/images/{image_id}/file",
            content=archive.read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert stored.status_code == 204, stored.text
        record = client.get(f"/v2/images/{image_id}").json()
    assert record["status"] == "active"
    return dict(record)


def archive(directory: Path, name: str, tag: str) -> Path:
    image = make_image(directory / tag, name, tag)
    return pack_image(image, directory / f"{name}-{tag}.tar")


def provider(url: str, name: str, cache: Path, **options: Any) -> GlanceProvider:
    return GlanceProvider(name, {"glance_url": url, "cache_dir": str(cache), **options})


def leftovers(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.name.endswith(".part")]


def test_uploaded_image_is_fetched_and_verified(glance: str, tmp_path: Path) -> None:
    record = upload(glance, "fetch-me", archive(tmp_path, "fetch-me", "v1"))
    cache = tmp_path / "cache"
    image = provider(glance, "fetch-me", cache).image
    assert image.name == "fetch-me" and image.inputs_key == "key-v1"
    assert image.disk.read_bytes() == (tmp_path / "v1" / "fetch-me.qcow2").read_bytes()
    assert image.kernel.read_bytes() == b"kernel-v1"
    # Verified against both of Glance's checksums, and fetched by id just as well.
    manifest = image.disk.parent / "manifest.json"
    assert record["checksum"] in manifest.read_text()
    assert record["os_hash_value"] in manifest.read_text()
    assert provider(glance, record["id"], tmp_path / "by-id").image.inputs_key == "key-v1"
    assert leftovers(cache) == []


def test_checksum_mismatch_is_refused(glance: str, tmp_path: Path) -> None:
    upload(glance, "pinned", archive(tmp_path, "pinned", "v1"))
    cache = tmp_path / "cache"
    # The configuration expects other bytes than Glance holds: downloaded, then refused.
    with pytest.raises(ImageError, match="checksum mismatch .* sha256 .* discarded"):
        _ = provider(glance, "pinned", cache, checksum="sha256:" + "0" * 64).image
    assert leftovers(cache) == []
    assert not list(cache.glob("*/versions/*"))
    # An expectation contradicting Glance's own md5 is refused before any download.
    with pytest.raises(ImageError, match="checksum mismatch .* md5"):
        _ = provider(glance, "pinned", cache, checksum="md5:" + "0" * 32).image
    # A cached file tampered with afterwards is noticed and fetched again.
    image = provider(glance, "pinned", cache).image
    image.kernel.write_bytes(b"X" * len(image.kernel.read_bytes()))
    healed = provider(glance, "pinned", cache, verify_cache=True).image
    assert healed.kernel.read_bytes() == b"kernel-v1"


def test_image_update_serves_the_cached_one_while_the_new_one_downloads(
    glance: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = upload(glance, "rolling", archive(tmp_path, "rolling", "v1"))
    assert provider(glance, "rolling", cache).image.inputs_key == "key-v1"
    time.sleep(1.1)  # Glance's timestamps have one-second resolution
    second = upload(glance, "rolling", archive(tmp_path, "rolling", "v2"))
    assert second["id"] != first["id"] and second["updated_at"] > first["updated_at"]
    updating = provider(glance, "rolling", cache)
    assert updating.resolve().version == second["id"]
    served = updating.image  # at once: the cached version, the new one in the background
    assert served.inputs_key == "key-v1"
    assert updating.wait_for_downloads(WAIT)
    assert updating.cache.last_error is None
    assert provider(glance, "rolling", cache).image.inputs_key == "key-v2"
    assert leftovers(cache) == []
