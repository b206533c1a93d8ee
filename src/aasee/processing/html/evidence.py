"""Turning a signature's evidence reference (a JSON Pointer into the report) into a short
description of the fact it names and a link to the row that shows it."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from .. import models as m
from ..static import models as s
from .context import PageContext
from .pointers import PointerError, anchor, parse_pointer, resolve
from .textfmt import display

__all__ = ["ResolvedEvidence", "describe", "resolve_evidence"]


@dataclass(frozen=True)
class ResolvedEvidence:
    description: str
    href: str | None
    broken: bool = False


def _endpoint(ip: str, port: int | None) -> str:
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def describe(value: object) -> str:
    """A one-line description of a report value, whatever part of the report it is."""
    match value:
        case m.FileAccess():
            return f"{value.path} ({value.flags})"
        case m.FileCreate() | m.FileMkdir():
            return f"{value.path}" + (f" mode {value.mode}" if value.mode else "")
        case m.FileDelete():
            return f"{value.op} {value.path}"
        case m.FileRename():
            return f"{value.src} → {value.dst}"
        case m.FileChmod():
            target = value.path if value.path is not None else f"fd {value.fd}"
            return f"{value.op} {target} {value.mode}"
        case m.FileLink():
            return f"{value.kind} {value.path} → {value.target}"
        case m.DirectoryOpen():
            return value.path
        case m.Connection():
            return f"{value.proto} {_endpoint(value.dst_ip, value.dst_port)} {value.result or ''}"
        case m.Bind():
            return f"bind {value.proto} {_endpoint(value.ip, value.port)}"
        case m.UdpSend():
            return f"udp {_endpoint(value.dst_ip, value.dst_port)} {value.bytes} bytes"
        case m.DnsQuery():
            return f"dns query to {_endpoint(value.server, value.port)} {value.query or ''}"
        case m.UnixSocket():
            return f"unix socket {value.path}"
        case m.Flow():
            return (
                f"{value.proto} {_endpoint(value.src_ip, value.src_port)} → "
                f"{_endpoint(value.dst_ip, value.dst_port)}"
            )
        case m.DnsRecord():
            return f"dns {value.name} {value.type}"
        case m.HttpRequest():
            return f"http {value.method} {value.url}"
        case m.TlsClientHello():
            return f"tls sni {value.sni or '-'} to {_endpoint(value.dst_ip, value.dst_port)}"
        case m.PtraceCall():
            return f"ptrace {value.request_name or value.request}"
        case m.Process():
            return f"pid {value.pid} {value.image or value.comm} {' '.join(value.argv[:16])}"
        case m.ProcessTreeNode():
            return f"pid {value.pid} {value.image or value.comm}"
        case m.DroppedFile():
            return f"dropped {value.path} sha256 {value.sha256 or '-'}"
        case s.YaraMatch():
            return f"YARA rule {value.rule}"
        case s.ScriptIndicator():
            return f"line {value.line}: {value.description}"
        case str() | int() | float() | bool():
            return str(value)
        case BaseModel():
            return type(value).__name__
        case list():
            return f"{len(value)} items"
        case dict():
            return f"{len(value)} entries"
    return type(value).__name__


def _label(tokens: list[str]) -> str:
    words = [t for t in tokens if not t.isdigit()][:4]
    return " ".join(w.replace("_", " ") for w in words) or "report"


def resolve_evidence(ctx: PageContext, ref: str) -> ResolvedEvidence:
    """What ``ref`` names in the report and the nearest shown row to link to."""
    try:
        tokens = parse_pointer(ref)
        value = resolve(ctx.report, tokens)
    except PointerError as exc:
        return ResolvedEvidence(
            description=display(f"unresolved reference {ref}: {exc}", 200),
            href=None,
            broken=True,
        )
    href = None
    if isinstance(value, m.Process | m.ProcessTreeNode):
        name = ctx.process_anchor(value.key)
        if name is not None and name in ctx.placed:
            href = f"#{name}"
    for length in range(len(tokens), 0, -1):
        if href is not None:
            break
        name = anchor(*tokens[:length])
        if name in ctx.placed:
            href = f"#{name}"
    text = f"{_label(tokens)}: {display(describe(value), 240)}"
    return ResolvedEvidence(description=display(text, 300), href=href)
