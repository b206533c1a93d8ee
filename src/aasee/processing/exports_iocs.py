"""The indicators of one report that are worth sharing: file hashes and network observables.

Owns what becomes an indicator and what does not, for every export format (MISP, STIX):

* the sandbox's own network (10.0.2.0/24: the guest, its gateway and fake DNS, and the
  sinkhole every name resolves to) is never an indicator, nor are loopback, link-local,
  multicast or unspecified addresses; DNS *answers* are the fake internet's, so only the
  names asked for count;
* names must look like host names and URLs like http(s) URLs, otherwise they are dropped:
  the guest's traffic is hostile and may carry anything in a DNS name or Host header;
* ``detect`` (MISP ``to_ids``) is true for facts seen in behaviour (trace or capture) that
  identify the sample or its infrastructure: hashes, globally routable addresses, names and
  URLs. Strings found statically in a file, private addresses, user agents and hashes of
  cut copies are shared as context only. A report whose verdict is ``benign`` detects on
  nothing, nor does one whose sample was not executed (``not executed``: the run observed
  nothing of it, so it is evidence neither way).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from .models import Report
from .static.models import StaticAnalysis
from .text import printable

__all__ = [
    "MAX_OBSERVABLES",
    "SANDBOX_NETWORK",
    "FileHashes",
    "Indicators",
    "Observable",
    "collect_indicators",
    "host_name",
    "ip_address",
]

SANDBOX_NETWORK = ipaddress.ip_network("10.0.2.0/24")
"""The per-analysis network (aasee.contexts.network): guest, gateway, DNS, sinkhole."""

MAX_OBSERVABLES = 5000
MAX_DROPPED = 1000
_MAX_URL = 2048
_MAX_USER_AGENT = 512
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_TLD = re.compile(r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})")
_UNPRINTABLE = re.compile(r"[\x00-\x20\x7f-\x9f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_HEX = {
    32: re.compile(r"[0-9a-f]{32}"),
    40: re.compile(r"[0-9a-f]{40}"),
    64: re.compile(r"[0-9a-f]{64}"),
}
_SSDEEP = re.compile(r"[0-9]{1,10}:[A-Za-z0-9/+]{0,128}:[A-Za-z0-9/+]{0,128}")
_NOT_INDICATORS = frozenset({"localhost", "localdomain"})
_LOCAL_SUFFIXES = (".in-addr.arpa", ".ip6.arpa", ".local", ".localdomain", ".home.arpa")

Kind = Literal["domain", "hostname", "ip", "url", "user-agent"]


@dataclass(frozen=True)
class Observable:
    kind: Kind
    value: str
    detect: bool
    comment: str
    static: bool = False
    """Found in a file's strings, not seen in the run's behaviour."""


@dataclass(frozen=True)
class FileHashes:
    role: Literal["sample", "dropped"]
    path: str
    size: int
    md5: str
    sha1: str
    sha256: str
    ssdeep: str | None
    mime: str | None
    detect: bool
    comment: str


@dataclass
class Indicators:
    files: list[FileHashes] = field(default_factory=list)
    observables: list[Observable] = field(default_factory=list)
    actionable: bool = True
    """False when the verdict is benign or the sample was not executed: nothing here should
    raise an alert."""


def ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address if ``text`` is one that can be an indicator (not the sandbox's own)."""
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if (
        address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or (isinstance(address, ipaddress.IPv4Address) and address in SANDBOX_NETWORK)
    ):
        return None
    return address


def host_name(text: str | None) -> str | None:
    """``text`` as a lower-case DNS host name, or None when it is not one worth sharing."""
    if not text or len(text) > 254:
        return None
    name = text.strip().lower().rstrip(".")
    if name in _NOT_INDICATORS or name.endswith(_LOCAL_SUFFIXES) or len(name) > 253:
        return None
    labels = name.split(".")
    if len(labels) < 2 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None
    if not _TLD.fullmatch(labels[-1]):
        return None  # also rejects dotted IP addresses
    return name


def _host_of(host_header: str | None) -> str | None:
    if not host_header:
        return None
    try:
        parts = urlsplit("//" + host_header.strip())
        return parts.hostname
    except ValueError:
        return None


def _url(text: str) -> str | None:
    if len(text) > _MAX_URL or _UNPRINTABLE.search(text):
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    if ip_address(host) is None and host_name(host) is None:
        return None
    return text


class _Collector:
    def __init__(self, actionable: bool) -> None:
        self.found = Indicators(actionable=actionable)
        self._seen: set[tuple[str, str]] = set()
        self.static = False
        """Whether what is added now comes from a file's strings (never detected on)."""

    def add(self, kind: Kind, value: str, detect: bool, comment: str) -> None:
        key = (kind, value)
        if key in self._seen or len(self.found.observables) >= MAX_OBSERVABLES:
            return
        self._seen.add(key)
        self.found.observables.append(
            Observable(
                kind,
                value,
                detect and self.found.actionable and not self.static,
                printable(comment, 200),
                self.static,
            )
        )

    def ip(self, text: str, comment: str, detect: bool = True) -> None:
        address = ip_address(text)
        if address is not None:
            self.add("ip", str(address), detect and address.is_global, comment)

    def name(self, kind: Kind, text: str | None, comment: str, detect: bool = True) -> None:
        if text is None:
            return
        if ip_address(text) is not None:
            self.ip(text, comment, detect)
            return
        name = host_name(text)
        if name is not None:
            self.add(kind, name, detect, comment)

    def url(self, text: str, comment: str) -> None:
        url = _url(text)
        if url is not None:
            self.add("url", url, True, comment)


def _hashes_ok(md5: str | None, sha1: str | None, sha256: str | None) -> bool:
    return all(
        value is not None and _HEX[size].fullmatch(value.lower()) is not None
        for value, size in ((md5, 32), (sha1, 40), (sha256, 64))
    )


def _ssdeep(static: StaticAnalysis | None) -> str | None:
    if static is None or static.ssdeep is None or not _SSDEEP.fullmatch(static.ssdeep):
        return None
    return static.ssdeep


def _by(pid: int | None) -> str:
    return f" by pid {pid}" if pid is not None else ""


def _behaviour(report: Report, out: _Collector) -> None:
    net = report.network
    for d in net.dns_traffic:
        out.name("domain", d.name, f"DNS {d.type} query{_by(d.pid)}")
    for q in net.dns:
        out.name("domain", q.query, f"DNS query{_by(q.pid)}")
        out.ip(q.server, f"DNS server queried directly{_by(q.pid)}", detect=False)
    for h in net.http:
        out.url(h.url, f"HTTP {h.method}{_by(h.pid)}")
        out.name("hostname", _host_of(h.host), f"HTTP Host{_by(h.pid)}")
        agent = h.user_agent
        if agent and agent.strip() and len(agent) <= _MAX_USER_AGENT and not _CONTROL.search(agent):
            # Context, not detection: most agents are a stock library's or browser's.
            out.add("user-agent", agent, False, f"HTTP User-Agent{_by(h.pid)}")
    for t in net.tls:
        out.name("hostname", t.sni, f"TLS server name{_by(t.pid)}")
    for c in net.connections:
        out.ip(c.dst_ip, f"{c.proto} connect to port {c.dst_port}{_by(c.pid)} ({c.result or '?'})")
    for u in net.udp:
        out.ip(u.dst_ip, f"UDP to port {u.dst_port}{_by(u.pid)}")
    for f in net.flows:
        if f.direction == "outbound":
            port = f" port {f.dst_port}" if f.dst_port is not None else ""
            out.ip(f.dst_ip, f"{f.proto} flow to{port}{_by(f.pid)} (capture)")


def _strings(static: StaticAnalysis | None, where: str, out: _Collector) -> None:
    if static is None:
        return
    comment = f"in the strings of {where}"
    out.static = True
    for url in static.strings.urls:
        out.url(url, comment)
    for ip in static.strings.ips:
        out.ip(ip, comment)
    for domain in static.strings.domains:
        out.name("domain", domain, comment)
    out.static = False


def collect_indicators(report: Report) -> Indicators:
    """Everything of ``report`` an export may share, each flagged whether to detect on it."""
    out = _Collector(
        actionable=report.verdict not in ("benign", "not executed") and report.analysis.executed
    )
    sample = report.sample
    static = report.static
    if _hashes_ok(sample.md5, sample.sha1, sample.sha256):
        out.found.files.append(
            FileHashes(
                role="sample",
                path=sample.name,
                size=sample.size,
                md5=sample.md5.lower(),
                sha1=sample.sha1.lower(),
                sha256=sample.sha256.lower(),
                ssdeep=_ssdeep(static),
                mime=static.mime if static is not None else None,
                detect=out.found.actionable,
                comment="the analysed sample",
            )
        )
    for dropped in report.dropped[:MAX_DROPPED]:
        if not _hashes_ok(dropped.md5, dropped.sha1, dropped.sha256) or dropped.collected == 0:
            continue  # not collected, or empty: the hash of nothing identifies nothing
        cut = dropped.truncated
        out.found.files.append(
            FileHashes(
                role="dropped",
                path=dropped.path,
                size=dropped.size,
                md5=str(dropped.md5).lower(),
                sha1=str(dropped.sha1).lower(),
                sha256=str(dropped.sha256).lower(),
                ssdeep=_ssdeep(dropped.static),
                mime=dropped.static.mime if dropped.static is not None else None,
                detect=out.found.actionable and not cut,
                comment=printable(
                    f"dropped as {posixpath.basename(dropped.path) or dropped.path}"
                    + (f" (hash of the first {dropped.collected} bytes only)" if cut else ""),
                    200,
                ),
            )
        )
    _behaviour(report, out)
    _strings(static, "the sample", out)
    for dropped in report.dropped[:MAX_DROPPED]:
        _strings(dropped.static, "a dropped file", out)
    return out.found
