"""``GlanceProvider``: image archives stored in OpenStack Glance (image API v2).

    {"name": "debian-bookworm-amd64",
     "provider": "aasee.images.providers.GlanceProvider",
     "provider_configuration": {"glance_url": "http://glance.example.org:9292"}}

``name`` is an image id or an image name; for a name, the newest active image of that name
(by ``updated_at``, then ``created_at``) is the current version, so uploading a new image
under the same name updates every sandbox using it. The Glance image holds the archive of
``providers_remote`` (upload it with ``disk_format`` raw and ``container_format`` bare).
Every download is verified against the image's ``checksum`` (md5) and
``os_hash_algo``/``os_hash_value`` (sha512 by default), plus the ``checksum`` of the
configuration if given ("ALGO:HEX"); an image with no checksum at all is refused.

Authentication: none (a Glance without Keystone), ``token`` (sent as ``X-Auth-Token``), or
SEE's ``os_auth`` (``auth_url`` of Keystone v3, ``username``, ``password``,
``project_name``; ``user_domain_name`` and ``project_domain_name`` default to
``Default``) for a token made at each use. Optional: ``timeout``, ``verify_tls`` and the
options of every remote provider.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote, urljoin

import httpx

from aasee.images.providers_http import http_client, http_stream
from aasee.images.providers_remote import (
    HASH_ALGORITHMS,
    RemoteImageProvider,
    RemoteUnavailable,
    RemoteVersion,
    merge_checksums,
)
from aasee.images.store import ImageError

__all__ = ["GlanceProvider"]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
MAX_PAGES = 20


class GlanceProvider(RemoteImageProvider):
    kind: ClassVar[str] = "glance"

    def __init__(self, name: str, configuration: dict[str, Any]) -> None:
        url = str(configuration.get("glance_url") or configuration.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise ImageError(
                f"GlanceProvider needs the 'glance_url' of the Glance service for image "
                f"{name!r}, got {url!r}"
            )
        self.glance_url = url.rstrip("/")
        super().__init__(name, configuration)

    def source_key(self) -> str:
        return f"{self.glance_url}\0{self.name}"

    # --- talking to Glance ----------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        token = self.configuration.get("token")
        if token:
            return {"X-Auth-Token": str(token)}
        if self.configuration.get("os_auth"):
            return {"X-Auth-Token": self._keystone_token(dict(self.configuration["os_auth"]))}
        return {}

    def _keystone_token(self, auth: dict[str, Any]) -> str:
        try:
            url = str(auth["auth_url"]).rstrip("/")
            body = {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {
                                "name": auth["username"],
                                "password": auth["password"],
                                "domain": {"name": auth.get("user_domain_name", "Default")},
                            }
                        },
                    },
                    "scope": {
                        "project": {
                            "name": auth["project_name"],
                            "domain": {"name": auth.get("project_domain_name", "Default")},
                        }
                    },
                }
            }
        except KeyError as exc:
            raise ImageError(f"os_auth of GlanceProvider lacks {exc}") from exc
        if not url.endswith("/v3"):
            url += "/v3"
        try:
            with http_client(self.configuration, redirects=False) as client:
                response = client.post(f"{url}/auth/tokens", json=body)
        except httpx.HTTPError as exc:
            raise RemoteUnavailable(f"cannot reach Keystone at {url}: {exc}") from exc
        token = response.headers.get("X-Subject-Token")
        if response.status_code != 201 or not token:
            raise ImageError(f"Keystone at {url} refused the credentials ({response.status_code})")
        return str(token)

    def _get_json(self, client: httpx.Client, path: str) -> Any:
        url = urljoin(self.glance_url + "/", path.lstrip("/"))
        try:
            response = client.get(url)
        except httpx.HTTPError as exc:
            raise RemoteUnavailable(f"cannot reach Glance at {self.glance_url}: {exc}") from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 500:
            raise RemoteUnavailable(f"Glance at {self.glance_url} answered {response.status_code}")
        if response.status_code != 200:
            raise ImageError(
                f"Glance at {self.glance_url} answered {response.status_code} to GET {path}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise ImageError(f"Glance at {self.glance_url} sent invalid JSON: {exc}") from exc

    def _candidates(self, client: httpx.Client) -> list[dict[str, Any]]:
        if _UUID.match(self.name):
            found = self._get_json(client, f"/v2/images/{quote(self.name)}")
            if isinstance(found, dict) and found.get("status") == "active":
                return [found]
        images: list[dict[str, Any]] = []
        path: str | None = f"/v2/images?name={quote(self.name)}&status=active&limit=100"
        for _ in range(MAX_PAGES):
            if path is None:
                break
            page = self._get_json(client, path)
            if not isinstance(page, dict):
                break
            images += [i for i in page.get("images", []) if isinstance(i, dict)]
            next_page = page.get("next")
            # Only relative links: the token must never go to another host.
            path = str(next_page) if str(next_page or "").startswith("/v2/images") else None
        return [i for i in images if i.get("name") == self.name and i.get("status") == "active"]

    def resolve(self) -> RemoteVersion:
        with http_client(self.configuration, self._headers(), redirects=False) as client:
            candidates = self._candidates(client)
        if not candidates:
            raise ImageError(
                f"no active image named or with the id {self.name!r} in Glance at {self.glance_url}"
            )
        newest = max(
            candidates,
            key=lambda i: (
                str(i.get("updated_at", "")),
                str(i.get("created_at", "")),
                str(i["id"]),
            ),
        )
        image_id = str(newest["id"])
        label = f"Glance image {image_id} ({self.name!r} at {self.glance_url})"
        announced: dict[str, str] = {}
        if newest.get("checksum"):
            announced["md5"] = str(newest["checksum"]).lower()
        algo = str(newest.get("os_hash_algo") or "").lower()
        if algo and newest.get("os_hash_value"):
            if algo not in HASH_ALGORITHMS:
                raise ImageError(f"{label}: unsupported os_hash_algo {algo!r}")
            announced[algo] = str(newest["os_hash_value"]).lower()
        if not announced:
            raise ImageError(f"{label} has no checksum: refusing an image that cannot be verified")
        checksums = merge_checksums(label, announced, self.configured_checksums())
        size = newest.get("size")
        return RemoteVersion(
            version=image_id,
            checksums=checksums,
            order=_timestamp(newest.get("updated_at")) or _timestamp(newest.get("created_at")),
            label=label,
            size=int(size) if isinstance(size, int) else None,
        )

    @contextmanager
    def open(self, version: RemoteVersion) -> Iterator[Iterator[bytes]]:
        url = f"{self.glance_url}/v2/images/{quote(version.version)}/file"
        with http_client(self.configuration, self._headers(), redirects=False) as client:
            with http_stream(client, url, version.label) as chunks:
                yield chunks


def _timestamp(value: Any) -> float:
    if not value:
        return 0.0
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
