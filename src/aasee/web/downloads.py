"""Headers for artefact downloads: always an attachment, never rendered by the browser.

The stored name of an artefact may echo sample-controlled text, so the ``filename`` offered
to the browser is reduced to a safe ASCII form, with the exact name in RFC 6266's
``filename*``; the media type is never ``text/html`` whatever the name says.
"""

from __future__ import annotations

import re
from urllib.parse import quote

MEDIA_TYPES = {
    ".pcap": "application/vnd.tcpdump.pcap",
    ".zip": "application/zip",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".gz": "application/gzip",
    ".png": "image/png",
    ".log": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 120


def safe_ascii_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = UNSAFE.sub("_", base).strip("._") or "download"
    return cleaned[:MAX_NAME]


def attachment_headers(name: str) -> dict[str, str]:
    ascii_name = safe_ascii_name(name)
    exact = quote(name.replace("\\", "/").rsplit("/", 1)[-1][:MAX_NAME], safe="")
    return {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{exact}"
    }


def media_type_for(name: str) -> str:
    for suffix, media_type in MEDIA_TYPES.items():
        if name.lower().endswith(suffix):
            return media_type
    return "application/octet-stream"
