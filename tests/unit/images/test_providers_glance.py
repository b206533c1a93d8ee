"""GlanceProvider against a stand-in for the Glance v2 API (tests/e2e/test_glance_vm.py runs
it against a real glance-api): lookup by name and id, checksums, Keystone, outages."""

from __future__ import annotations

import hashlib
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from aasee.images.providers import GlanceProvider, provider_from_config
from aasee.images.store import ImageError

from .test_providers_helpers import Server, archive_of, http_server

ID1 = "d0ca0c3f-e721-430c-b03f-8938cf984773"
ID2 = "5b1f3a2e-0000-4c3e-9d7b-111111111111"


def record(image_id: str, data: bytes, updated: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": image_id,
        "name": "guest",
        "status": "active",
        "size": len(data),
        "checksum": hashlib.md5(data).hexdigest(),  # noqa: S324 (Glance's own choice)
        "os_hash_algo": "sha512",
        "os_hash_value": hashlib.sha512(data).hexdigest(),
        "created_at": updated,
        "updated_at": updated,
    }
    document.update(changes)
    return document


def publish(server: Server, images: list[tuple[dict[str, Any], bytes]]) -> None:
    server.serve_json("/v2/images", {"images": [meta for meta, _ in images]})
    for meta, data in images:
        server.serve_json(f"/v2/images/{meta['id']}", meta)
        server.serve_bytes(f"/v2/images/{meta['id']}/file", data)


def glance(server: Server, cache: Path, name: str = "guest", **options: Any) -> GlanceProvider:
    return GlanceProvider(name, {"glance_url": server.url, "cache_dir": str(cache), **options})


def test_newest_image_of_the_name_is_fetched_and_verified(tmp_path: Path) -> None:
    old, new = archive_of(tmp_path, tag="v1"), archive_of(tmp_path, tag="v2")
    with http_server() as server:
        publish(
            server,
            [
                (record(ID2, new, "2026-12-07T10:00:05Z"), new),
                (record(ID1, old, "2026-12-07T10:00:00Z"), old),
            ],
        )
        image = glance(server, tmp_path / "cache").image
        assert image.inputs_key == "key-v2"
        assert server.gets[f"/v2/images/{ID1}/file"] == 0


def test_an_image_id_is_looked_up_directly(tmp_path: Path) -> None:
    old = archive_of(tmp_path, tag="v1")
    with http_server() as server:
        publish(server, [(record(ID1, old, "2026-12-07T10:00:00Z"), old)])
        assert glance(server, tmp_path / "cache", ID1).image.inputs_key == "key-v1"
        assert server.gets["/v2/images"] == 0


def test_an_unknown_image_is_an_error(tmp_path: Path) -> None:
    with http_server() as server:
        server.serve_json("/v2/images", {"images": []})
        with pytest.raises(ImageError, match="no active image named or with the id 'guest'"):
            _ = glance(server, tmp_path / "cache").image


def test_an_image_without_checksum_is_refused(tmp_path: Path) -> None:
    data = archive_of(tmp_path)
    meta = record(ID1, data, "2026-12-07T10:00:00Z", checksum=None, os_hash_value=None)
    with http_server() as server:
        publish(server, [(meta, data)])
        with pytest.raises(ImageError, match="has no checksum"):
            _ = glance(server, tmp_path / "cache").image
        assert server.gets[f"/v2/images/{ID1}/file"] == 0


def test_bytes_that_do_not_match_glance_s_checksum_are_refused(tmp_path: Path) -> None:
    data = archive_of(tmp_path)
    with http_server() as server:
        publish(server, [(record(ID1, data, "2026-12-07T10:00:00Z"), data)])
        server.serve_bytes(f"/v2/images/{ID1}/file", data[:-1] + b"\1")  # same size
        with pytest.raises(ImageError, match="checksum mismatch for Glance image"):
            _ = glance(server, tmp_path / "cache").image
    assert not list((tmp_path / "cache").rglob("*.part"))


def test_a_configured_checksum_that_contradicts_glance_is_refused_before_download(
    tmp_path: Path,
) -> None:
    data = archive_of(tmp_path)
    with http_server() as server:
        publish(server, [(record(ID1, data, "2026-12-07T10:00:00Z"), data)])
        with pytest.raises(ImageError, match="checksum mismatch .* md5"):
            _ = glance(server, tmp_path / "cache", checksum="md5:" + "0" * 32).image
        assert server.gets[f"/v2/images/{ID1}/file"] == 0


def test_an_unreachable_glance_serves_the_cached_image(tmp_path: Path) -> None:
    data = archive_of(tmp_path)
    cache = tmp_path / "cache"
    with http_server() as server:
        publish(server, [(record(ID1, data, "2026-12-07T10:00:00Z"), data)])
        url = server.url
        first = glance(server, cache).image
    offline = GlanceProvider("guest", {"glance_url": url, "cache_dir": str(cache), "timeout": 2})
    assert offline.image == first
    with pytest.raises(ImageError, match="cannot reach Glance"):
        _ = GlanceProvider(
            "guest", {"glance_url": url, "cache_dir": str(tmp_path / "empty"), "timeout": 2}
        ).image


def test_a_glance_failure_serves_the_cached_image(tmp_path: Path) -> None:
    data = archive_of(tmp_path)
    cache = tmp_path / "cache"
    with http_server() as server:
        publish(server, [(record(ID1, data, "2026-12-07T10:00:00Z"), data)])
        first = glance(server, cache).image
        server.serve_json("/v2/images", {"error": "database gone"}, status=503)
        assert glance(server, cache).image == first


def test_keystone_token_is_obtained_and_sent(tmp_path: Path) -> None:
    data = archive_of(tmp_path)
    tokens: list[str | None] = []
    with http_server() as server:
        publish(server, [(record(ID1, data, "2026-12-07T10:00:00Z"), data)])
        listing = server.routes["/v2/images"]

        def keystone(handler: BaseHTTPRequestHandler) -> None:
            length = int(handler.headers["Content-Length"])
            body = json.loads(handler.rfile.read(length))
            password = body["auth"]["identity"]["password"]["user"]["password"]
            handler.send_response(201 if password == "secret" else 401)
            handler.send_header("X-Subject-Token", "tok-123")
            handler.send_header("Content-Length", "2")
            handler.end_headers()
            handler.wfile.write(b"{}")

        def checked_listing(handler: BaseHTTPRequestHandler) -> None:
            tokens.append(handler.headers.get("X-Auth-Token"))
            listing(handler)

        server.routes["/v3/auth/tokens"] = keystone
        server.routes["/v2/images"] = checked_listing
        auth = {"auth_url": server.url, "username": "u", "password": "secret", "project_name": "p"}
        assert glance(server, tmp_path / "c1", os_auth=auth).image.name == "guest"
        assert tokens == ["tok-123"]
        with pytest.raises(ImageError, match="refused the credentials"):
            _ = glance(server, tmp_path / "c2", os_auth={**auth, "password": "wrong"}).image
        assert glance(server, tmp_path / "c3", token="static").image.name == "guest"
        assert tokens[-1] == "static"


def test_configuration_errors() -> None:
    with pytest.raises(ImageError, match="glance_url"):
        GlanceProvider("guest", {})
    provider = provider_from_config(
        {
            "name": "guest",
            "provider": "aasee.images.providers.GlanceProvider",
            "provider_configuration": {"glance_url": "http://127.0.0.1:9"},
        }
    )
    assert isinstance(provider, GlanceProvider)
