"""``HttpProvider``: an image archive at an HTTP(S) URL, pinned by its sha256.

    {"name": "debian-bookworm-amd64",
     "provider": "aasee.images.providers.HttpProvider",
     "provider_configuration": {"url": "https://images.example.org/debian.tar",
                                "sha256": "<64 hex digits of the archive>"}}

The sha256 is required: it is the only thing that makes bytes from a URL trustworthy, and it
names the version (a new sha256 in the configuration is a new version, downloaded in the
background while the previous one is served). Optional: ``headers`` (e.g. an
``Authorization``), ``timeout`` (seconds of network silence, default 60) and the options
of every remote provider (``providers_remote``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from aasee.images.providers_remote import (
    CHUNK,
    RemoteImageProvider,
    RemoteUnavailable,
    RemoteVersion,
    merge_checksums,
    parse_checksum,
)
from aasee.images.store import ImageError

__all__ = ["HttpProvider", "http_client", "http_stream"]

DEFAULT_TIMEOUT = 60.0


def http_client(
    configuration: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    redirects: bool = True,
) -> httpx.Client:
    """An HTTP client with the provider's timeout, TLS verification and headers.

    ``redirects`` False for a client carrying a token a redirect could hand to another host
    (httpx drops ``Authorization`` across origins, not other headers).
    """
    timeout = float(configuration.get("timeout", DEFAULT_TIMEOUT))
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        follow_redirects=redirects,
        verify=bool(configuration.get("verify_tls", True)),
        headers=dict(headers or {}),
    )


@contextmanager
def http_stream(client: httpx.Client, url: str, label: str) -> Iterator[Iterator[bytes]]:
    """The body of ``GET url`` in chunks; errors become ImageError (RemoteUnavailable when
    the server cannot be reached or fails), a short body included."""
    try:
        with client.stream("GET", url) as response:
            if response.status_code >= 500:
                raise RemoteUnavailable(f"{label}: the server answered {response.status_code}")
            if response.status_code != 200:
                raise ImageError(
                    f"{label}: the server answered {response.status_code} to GET {url}"
                )
            yield _chunks(response, label)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise RemoteUnavailable(f"{label}: cannot reach {url}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise ImageError(f"download of {label} failed: {type(exc).__name__}: {exc}") from exc


def _chunks(response: httpx.Response, label: str) -> Iterator[bytes]:
    try:
        yield from response.iter_bytes(CHUNK)
    except httpx.HTTPError as exc:
        raise ImageError(f"download of {label} interrupted: {type(exc).__name__}: {exc}") from exc


class HttpProvider(RemoteImageProvider):
    kind: ClassVar[str] = "http"

    def __init__(self, name: str, configuration: dict[str, Any]) -> None:
        url = str(configuration.get("url", ""))
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ImageError(f"HttpProvider needs an http(s) 'url' for image {name!r}, got {url!r}")
        if not configuration.get("sha256"):
            raise ImageError(
                f"HttpProvider needs the 'sha256' of the archive at {url} (image {name!r}): "
                "bytes from a URL are only trusted against a pinned checksum"
            )
        self.url = url
        algo, digest = parse_checksum(f"sha256:{configuration['sha256']}")
        self.sha256 = digest
        super().__init__(name, configuration)

    def source_key(self) -> str:
        return self.url

    def resolve(self) -> RemoteVersion:
        checksums = merge_checksums(
            f"image {self.name!r} at {self.url}",
            {"sha256": self.sha256},
            self.configured_checksums(),
        )
        # Nothing to ask the server: the configuration names the version. The newest
        # configuration is the newest version.
        return RemoteVersion(
            version=self.sha256,
            checksums=checksums,
            order=time.time(),
            label=f"image {self.name!r} from {self.url}",
        )

    @contextmanager
    def open(self, version: RemoteVersion) -> Iterator[Iterator[bytes]]:
        headers = {str(k): str(v) for k, v in dict(self.configuration.get("headers", {})).items()}
        with http_client(self.configuration, headers) as client:
            with http_stream(client, self.url, version.label) as chunks:
                yield chunks
