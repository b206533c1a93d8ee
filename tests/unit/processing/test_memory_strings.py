"""URLs, domains and IPv4 addresses out of memory dumps, streamed."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from aasee.processing.memory_strings import (
    MAX_RUN,
    PAGE,
    extract,
    indicators_in,
    printable_runs,
    scan_dump,
)


class TestExtract:
    def test_urls_and_their_hosts(self) -> None:
        found = extract("GET http://c2.evil-domain.example:8080/gate.php?id=7), and more")
        assert set(found.urls) == {"http://c2.evil-domain.example:8080/gate.php?id=7"}
        assert set(found.domains) == {"c2.evil-domain.example"}
        found = extract("HTTPS://198.51.100.23/x.sh")
        assert set(found.urls) == {"https://198.51.100.23/x.sh"}
        assert set(found.ips) == {"198.51.100.23"}

    @pytest.mark.parametrize(
        ("text", "domains"),
        [
            ("connect to evil.com now", {"evil.com"}),
            ("update.server.ru;", {"update.server.ru"}),
            ("www.anything.so", {"www.anything.so"}),
            ("user@mail.example.com", {"mail.example.com"}),
            # file names and code under TLDs that are not a domain's outside a URL
            ("libc.so.6 ld-linux.so /bin/busybox.sh main.py runtime.name reflect.value.int", set()),
            ("archive.tar.gz image.png config.yaml", set()),
            ("a.b.c.d.e.f.123 version 1.2", set()),
        ],
    )
    def test_domains_outside_urls(self, text: str, domains: set[str]) -> None:
        assert set(extract(text).domains) == domains

    @pytest.mark.parametrize(
        ("text", "ips"),
        [
            ("dst=203.0.113.9:4444", {"203.0.113.9"}),
            ("10.0.2.15 and 192.168.1.254", {"10.0.2.15", "192.168.1.254"}),
            ("version 1.2.3.4 of 2.6.32.1.5", set()),  # single digits; five parts
            ("0.0.0.0 127.0.0.1 255.255.255.255 224.0.0.1 0.1.2.33", set()),
            ("256.1.1.1 1.1.1.256", set()),
        ],
    )
    def test_ipv4(self, text: str, ips: set[str]) -> None:
        assert set(extract(text).ips) == ips

    def test_counts(self) -> None:
        found = extract("evil.com evil.com EVIL.COM")
        assert found.domains["evil.com"] == 3


class TestRuns:
    def test_runs_split_by_nul_and_spaces(self) -> None:
        data = b"\0\0abc\0defghij klmnopq\x01rstuvw\0"
        assert list(printable_runs(io.BytesIO(data))) == [b"defghij", b"klmnopq", b"rstuvw"]

    @pytest.mark.parametrize("offset", [PAGE - 10, PAGE - 1, PAGE, 2 * PAGE - 5])
    def test_a_run_across_chunks_is_whole(self, offset: int) -> None:
        text = b"http://across.example/boundary"
        data = bytearray(4 * PAGE)
        data[offset : offset + len(text)] = text
        runs = list(printable_runs(io.BytesIO(bytes(data)), chunk_size=PAGE))
        assert runs == [text]

    def test_zero_pages_between_runs(self) -> None:
        data = b"first-run" + bytes(3 * PAGE) + b"second-run" + bytes(PAGE) + b"third-run"
        for chunk_size in (PAGE, 2 * PAGE, 1 << 20):
            runs = list(printable_runs(io.BytesIO(data), chunk_size=chunk_size))
            assert runs == [b"first-run", b"second-run", b"third-run"]

    def test_long_runs_are_cut(self) -> None:
        runs = list(printable_runs(io.BytesIO(b"A" * (MAX_RUN * 2 + 10))))
        assert sum(len(r) for r in runs) == MAX_RUN * 2 + 10
        assert max(len(r) for r in runs) == MAX_RUN


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "raw"])
def test_scan_dump(tmp_path: Path, compressed: bool) -> None:
    memory = bytearray(64 * PAGE)
    url = b"http://in-memory.example/only\0"
    memory[5 * PAGE + 100 : 5 * PAGE + 100 + len(url)] = url
    across = b"10.13.37.1 evil-c2.net"  # across a page and a chunk boundary
    memory[40 * PAGE - 8 : 40 * PAGE - 8 + len(across)] = across
    path = tmp_path / ("dump.elf.gz" if compressed else "dump.elf")
    path.write_bytes(gzip.compress(bytes(memory)) if compressed else bytes(memory))
    found, scanned = scan_dump(path, chunk_size=8 * PAGE)
    assert scanned == len(memory)
    assert set(found.urls) == {"http://in-memory.example/only"}
    assert set(found.domains) == {"in-memory.example", "evil-c2.net"}
    assert set(found.ips) == {"10.13.37.1"}


def test_what_the_trace_showed() -> None:
    shown = indicators_in(
        ["/usr/bin/wget http://seen.example/a", "seen-by-dns.net", "198.51.100.7", "/tmp/x"]
    )
    assert set(shown.urls) == {"http://seen.example/a"}
    assert set(shown.domains) == {"seen.example", "seen-by-dns.net"}
    assert set(shown.ips) == {"198.51.100.7"}
