"""String extraction and the URL, IP, domain and e-mail indicators taken from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from aasee.processing.static.strings import (
    MAX_INDICATORS,
    MAX_STRINGS,
    analyse_strings,
    extract_strings,
)

from .builders import gcc, string_table_program
from .conftest import Programs


def strings_of(*texts: str) -> bytes:
    return b"\0\x01".join(t.encode() for t in texts)


def test_ascii_and_utf16_runs() -> None:
    data = (
        b"\x00short\x00" + b"long enough\x00\xff" + "wide string".encode("utf-16-le") + b"\x00\x00"
    )
    found, truncated = extract_strings(data)
    assert found == ["long enough", "wide string"] and not truncated
    # UTF-16 at an odd offset is found too.
    odd = b"\x01" + "odd aligned".encode("utf-16-le")
    assert extract_strings(odd)[0] == ["odd aligned"]


def test_urls() -> None:
    info = analyse_strings(
        strings_of(
            "GET http://203.0.113.7:8080/bins/x86 now",
            "see https://evil-c2.example.com/gate.php?id=1).",
            "tftp://files.example.net/m",
            "stratum+tcp://pool.minexmr.com:4444",
            "http://%s/bins/%s",  # a template, not a URL
            "http://localhost/",
        )
    )
    assert info.urls == [
        "http://203.0.113.7:8080/bins/x86",
        "https://evil-c2.example.com/gate.php?id=1",
        "tftp://files.example.net/m",
        "stratum+tcp://pool.minexmr.com:4444",
    ]


def test_ipv4_addresses() -> None:
    info = analyse_strings(
        strings_of(
            "connect 198.51.100.23 port 23",
            "lan 192.168.1.10 ok",
            "dns 8.8.8.8.",
            "route via dev 198.51.100.1 ok",
            "bad 999.1.1.1 octet",
            "zero 01.2.3.4 padded",
            "version 1.2.3.4",
            "build v2.0.1.7",
            "GCC: (Debian 12.2.0-14) 12.2.0",
            "oid 1.3.6.1.4.1.311 longer",
            "cn 2.5.4.3 attribute",
            "loopback 127.0.0.1 here",
            "mask 255.255.255.0 here",
            "any 0.0.0.0 here",
            "mcast 224.0.0.251 here",
            "RFC 4880, Section 5.2.3.5 text",
        )
    )
    assert info.ips == ["198.51.100.23", "192.168.1.10", "8.8.8.8", "198.51.100.1"]


def test_domains_and_emails() -> None:
    info = analyse_strings(
        strings_of(
            "beacon to update.evil-c2.com every hour",
            "c2.example.ru backup",
            "libc.so.6 and ld-linux-x86-64.so.2",
            "python setup.py install",
            "self.stream and io.open and collections.abc",
            "System.Net.Sockets and System.Net",
            "/etc/nsswitch.conf /etc/host.conf",
            "cdn.payload.so alone",
            "fetch http://cdn.payload.so/x",
            "mail admin@evil-c2.com now",
            "www.example.xyz",
        )
    )
    assert info.domains == [
        "update.evil-c2.com",
        "c2.example.ru",
        "cdn.payload.so",  # believed: the same name is a URL's host
        "www.example.xyz",
        "evil-c2.com",
    ]
    assert info.emails == ["admin@evil-c2.com"]


def test_interesting_strings() -> None:
    info = analyse_strings(
        strings_of("open /dev/watchdog", "ordinary text", "echo x >> /etc/ld.so.preload")
    )
    assert info.interesting == ["open /dev/watchdog", "echo x >> /etc/ld.so.preload"]


def test_bounds() -> None:
    data = b"abcdefg\0" * (MAX_STRINGS + 10)
    info = analyse_strings(data)
    assert info.count == MAX_STRINGS and info.truncated
    many = strings_of(*(f"http://host{i}.example.com/" for i in range(MAX_INDICATORS + 50)))
    info = analyse_strings(many)
    assert len(info.urls) == MAX_INDICATORS and info.truncated


# Programs the test builds with gcc -> the addresses really written in them. The static one
# carries the whole of the C library's strings; the last one also an address in ordinary text
# (as CPython's frozen standard library has one).
ADDRESS_TEXT = [
    "usage: %s [-v] [-c count] host",
    "example: ipaddress.ip_address('123.45.67.89')",
    "GCC: (Debian 12.2.0-14) 12.2.0",
    "version 1.2.3.4",
    "libc.so.6",
    "/etc/nsswitch.conf",
]
ORDINARY = {
    "dynamic": (set(), 20),
    "shared": (set(), 20),
    "static": (set(), 1000),
    "static-with-address": ({"123.45.67.89"}, 1000),
}


def _ordinary_program(kind: str, programs: Programs, folder: Path) -> Path:
    if kind == "static-with-address":
        return gcc(string_table_program(ADDRESS_TEXT), folder / "with-address", "-static")
    path: Path = getattr(programs, kind)
    return path


@pytest.mark.parametrize("kind", ORDINARY)
def test_ordinary_programs_have_no_false_indicators(
    kind: str, programs: Programs, tmp_path: Path
) -> None:
    expected_ips, least_strings = ORDINARY[kind]
    info = analyse_strings(_ordinary_program(kind, programs, tmp_path).read_bytes())
    assert info.count > least_strings
    assert set(info.ips) == expected_ips
    for domain in info.domains:
        assert not domain.endswith((".so", ".py", ".sh", ".c", ".h", ".o")), domain
        assert domain.rsplit(".", 1)[1] in {
            "org",
            "com",
            "net",
            "io",
            "uk",
            "edu",
            "dk",  # the C library's locale data credits an address at dkuug.dk
        } or domain.startswith("www."), domain
