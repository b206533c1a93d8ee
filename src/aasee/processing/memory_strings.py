"""URLs, domain names and IPv4 addresses in a guest memory dump, as a stream.

A dump is as large as the guest's memory (1 GiB by default) and mostly zeros: it is read in
chunks (decompressed on the fly when gzipped), all-zero pages are skipped, and only runs of
printable ASCII are searched, so a 1 GiB dump takes a few seconds and little memory. What is
found is compared with what the trace and the capture showed (:func:`indicators_in`), so
that what the sample only ever held in memory (a decrypted C2 address, a URL it has not
fetched yet) stands out.

Memory is full of text that only looks like a domain (``libc.so``, ``runtime.name``): a name
outside a URL counts as a domain only under a top-level domain of :data:`TLDS` or with a
``www.`` in front. IPv4 addresses whose four parts are single digits (``1.2.3.4``, mostly
version numbers) are left out, as are 0/8, loopback, multicast and broadcast.
"""

from __future__ import annotations

import gzip
import io
import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = [
    "CHUNK",
    "MAX_DISTINCT",
    "TLDS",
    "Indicators",
    "extract",
    "indicators_in",
    "open_dump",
    "printable_runs",
    "scan_dump",
]

CHUNK = 8 << 20
PAGE = 4096
ZERO_PAGE = bytes(PAGE)
MIN_RUN = 6
MAX_RUN = 4096
MAX_DISTINCT = 50_000
"""Distinct values kept per kind; past this a scan counts what it drops."""

_RUN = re.compile(rb"[\x21-\x7e]{%d,}" % MIN_RUN)
_URL = re.compile(
    r"(?<![A-Za-z0-9+.-])(?:https?|ftps?|wss?)://"
    r"(?:[A-Za-z0-9._~%!$&'*+,;=-]+@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)"
    r"(?::\d{1,5})?"
    r"(?:[/?#][A-Za-z0-9._~%!$&'()*+,;=:@/?#-]*)?",
    re.IGNORECASE,
)
_IPV4 = re.compile(
    r"(?<![0-9.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![0-9.])"
)
_DOMAIN = re.compile(
    r"(?<![A-Za-z0-9._-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,10}"
    r"[A-Za-z]{2,24}(?![A-Za-z0-9_-])(?!\.[A-Za-z0-9])"
)
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_URL_TRAILER = ".,;:!?'\")]}"

# Top-level domains accepted for a name found outside a URL: the generic ones malware and the
# web use most, and the country codes seen most; names under any other TLD (many are also file
# extensions or words: ``.so``, ``.sh``, ``.py``, ``.name``, ``.int``...) count only with
# ``www.`` in front, or inside a URL.
TLDS = frozenset(
    """
    com net org info biz pro mobi asia edu gov mil onion io co me tv cc ws pw su xyz top
    online site club shop store app dev cloud tech space website live life world today click
    work email host press news blog page icu win bid loan vip fun buzz cam rest monster cyou
    sbs lol fit ink tokyo moe wiki tk ml ga cf gq
    au br ca cn cz de dk eu fr hk hu ir jp kr kz nl nz pk ru se tw ua uk vn za
    """.split()
)
_GENERIC_NAMES = frozenset({"io", "co", "me", "tv", "cc", "ws", "ml", "de", "se"})
"""TLDs of :data:`TLDS` that are also common file extensions or words: ``www.`` needed."""


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def open_dump(path: Path) -> io.BufferedIOBase:
    """The dump's bytes: gunzipped on the fly when the file is gzip (whatever its name)."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return path.open("rb")


def _segments(chunk: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of the runs of pages in ``chunk`` that are not all zeros."""
    view = memoryview(chunk)
    start: int | None = None
    size = len(chunk)
    for offset in range(0, size, PAGE):
        page = view[offset : offset + PAGE]
        zero = page == ZERO_PAGE if len(page) == PAGE else not any(page)
        if zero:
            if start is not None:
                yield start, offset
                start = None
        elif start is None:
            start = offset
    if start is not None:
        yield start, size


def printable_runs(stream: Readable, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """Every run of at least ``MIN_RUN`` printable, non-space ASCII bytes in ``stream``
    (longer runs cut at ``MAX_RUN``), read ``chunk_size`` bytes at a time."""
    carry = b""  # printable bytes that reached the end of the last chunk: they may go on
    while chunk := stream.read(chunk_size):
        size = len(chunk)
        segments = list(_segments(chunk))
        if carry and (not segments or segments[0][0] != 0):
            yield from _cut(carry)
            carry = b""
        following = b""
        for start, end in segments:
            data = chunk[start:end]
            if carry:
                data, carry = carry + data, b""
            if end == size:
                tail = _printable_tail(data)
                data, following = data[:tail], data[tail:]
            for match in _RUN.finditer(data):
                yield from _cut(match.group())
        carry = following
    yield from _cut(carry)


def _printable_tail(data: bytes) -> int:
    """Where the printable bytes ending ``data`` start (at most ``MAX_RUN`` of them)."""
    position = len(data)
    floor = max(0, position - MAX_RUN)
    while position > floor and 0x21 <= data[position - 1] <= 0x7E:
        position -= 1
    return position


def _cut(run: bytes) -> Iterator[bytes]:
    if len(run) < MIN_RUN:
        return
    for offset in range(0, len(run), MAX_RUN):
        yield run[offset : offset + MAX_RUN]


@dataclass
class Indicators:
    """URLs, domains and IPv4 addresses with the number of times each was seen."""

    urls: Counter[str] = field(default_factory=Counter)
    domains: Counter[str] = field(default_factory=Counter)
    ips: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    """Distinct values not kept once a kind held ``MAX_DISTINCT``."""

    def add(self, kind: str, value: str, limit: int = MAX_DISTINCT) -> None:
        counter: Counter[str] = getattr(self, kind)
        if value in counter or len(counter) < limit:
            counter[value] += 1
        else:
            self.dropped += 1


def _host_ok(host: str) -> bool:
    if host.startswith("["):
        return True
    if _IPV4.fullmatch(host):
        return True
    labels = host.split(".")
    return (
        len(labels) >= 2
        and len(host) <= 253
        and all(_LABEL.match(label) for label in labels)
        and labels[-1].isalpha()
        and len(labels[-1]) >= 2
    )


def _domain_ok(name: str, in_url: bool) -> bool:
    labels = name.split(".")
    if len(labels) < 2 or len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        return False
    tld = labels[-1]
    if in_url or (labels[0] == "www" and len(labels) >= 3):
        return tld.isalpha() and len(tld) >= 2
    if tld not in TLDS or tld in _GENERIC_NAMES:
        return False
    # One-letter names under a generic TLD are mostly code (``s.com`` in "x.s.com"...).
    return len(labels[-2]) >= 2 or len(labels) >= 3


def _ip_ok(text: str) -> bool:
    parts = text.split(".")
    if all(len(part) == 1 for part in parts):
        return False
    address = ipaddress.IPv4Address(text)
    return not (
        address.is_unspecified
        or address.is_loopback
        or address.is_multicast
        or address.is_reserved
        or int(parts[0]) == 0
    )


def extract(text: str, into: Indicators | None = None) -> Indicators:
    """The URLs, domains and IPv4 addresses in ``text``."""
    found = into if into is not None else Indicators()
    covered: list[tuple[int, int]] = []
    for match in _URL.finditer(text):
        url = match.group().rstrip(_URL_TRAILER)
        host = match.group("host").lower().rstrip(".")
        if not _host_ok(host):
            continue
        scheme, rest = url.split("://", 1)
        found.add("urls", f"{scheme.lower()}://{rest}")
        covered.append(match.span())
        if _IPV4.fullmatch(host):
            found.add("ips", host)
        elif _domain_ok(host, in_url=True):
            found.add("domains", host)
    for match in _DOMAIN.finditer(text):
        if any(start <= match.start() < end for start, end in covered):
            continue
        name = match.group().lower()
        if _domain_ok(name, in_url=False):
            found.add("domains", name)
    for match in _IPV4.finditer(text):
        if any(start <= match.start() < end for start, end in covered):
            continue
        if _ip_ok(match.group()):
            found.add("ips", match.group())
    return found


def scan_dump(path: Path, chunk_size: int = CHUNK) -> tuple[Indicators, int]:
    """The indicators of one dump and the number of bytes read (uncompressed)."""
    found = Indicators()
    with open_dump(path) as stream:
        counted = _Counting(stream)
        for run in printable_runs(counted, chunk_size):
            if b"." in run:  # every URL, domain and address has one
                extract(run.decode("ascii"), found)
    return found, counted.bytes


def indicators_in(texts: Iterable[str]) -> Indicators:
    """The indicators of what the trace and the capture showed (command lines, paths, DNS
    names, URLs, addresses), to tell what was in memory only."""
    found = Indicators()
    for text in texts:
        extract(text, found)
        # Names and addresses recorded as such (a DNS query, a connection's address) count
        # even where the patterns for free text would not take them.
        value = text.strip().lower().rstrip(".")
        if _IPV4.fullmatch(value):
            found.add("ips", value)
        elif _DOMAIN.fullmatch(value):
            found.add("domains", value)
    return found


class _Counting:
    def __init__(self, stream: Readable) -> None:
        self.stream = stream
        self.bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.bytes += len(data)
        return data
