"""Data encoded into what is sent: DNS names and URLs carrying base64, base32 or hex text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from ..base import Signature
from ..facts import command_summary, decoded_text
from ..models import Evidence
from ..query import Found, ReportIndex, pointer

TOKEN = re.compile(r"[A-Za-z0-9+/_=-]{10,}")
FETCHERS = ("curl", "wget", "nslookup", "dig", "host", "drill")


def encoded_parts(text: str) -> list[str]:
    """The pieces of a host label, path or query that decode (base64, base32, hex) to
    readable text."""
    found = []
    for piece in re.split(r"[/?&;.:]", unquote(text))[:64]:
        name, sep, value = piece.partition("=")
        candidate = value if sep and value and not value.strip("=") == "" else piece
        for token in TOKEN.findall(candidate)[:4]:
            decoded = decoded_text(token)
            if decoded is not None:
                found.append(f"{token} = {decoded[:60]!r}")
    return found


def _host(arg: str) -> str:
    """The host of a URL or host name argument, its case kept (urlsplit lowers it)."""
    if "://" in arg:
        arg = arg.split("://", 1)[1].split("/", 1)[0]
    return arg.rsplit("@", 1)[-1].split(":", 1)[0]


class DataEncoding(Signature):
    id = "c2_data_encoding"
    name = "Sends encoded data in names or URLs"
    description = (
        "A DNS name looked up, an HTTP request's path or query, or a URL or host name given "
        "to curl, wget, dig or nslookup holds base64, base32 or hex text that decodes to "
        "readable data (echo -n data | base64, then curl -XPOST <that>.example.com): "
        "commands or stolen data carried in an encoding that hides it from a quick look."
    )
    severity = "medium"
    category = "command-and-control"
    techniques = ("T1132.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        network = ctx.report.network
        seen: set[str] = set()
        for i, record in enumerate(network.dns_traffic):
            name = record.name.rstrip(".")
            labels = name.split(".")[:-2]
            parts = [p for label in labels for p in encoded_parts(label)]
            if parts and name not in seen:
                seen.add(name)
                found = Found(
                    record, pointer("network", "dns_traffic", i), record.process, record.pid
                )
                yield found.evidence(f"looked up {name}: {parts[0]}")
        for request in ctx.http():
            split = urlsplit(request.item.url)
            parts = encoded_parts(split.path + "?" + split.query)
            if parts:
                yield request.evidence(f"{request.item.method} {request.item.url}: {parts[0]}")
        for run in ctx.commands(*FETCHERS):
            for arg in run.item.args:
                if arg.startswith("-"):
                    continue
                host = _host(arg)
                labels = host.split(".")[:-2] if host.count(".") >= 2 else []
                in_host = any(encoded_parts(label) for label in labels)
                in_path = "://" in arg and bool(encoded_parts(urlsplit(arg).path))
                if in_host or in_path:
                    yield run.evidence(command_summary(run))
                    break
