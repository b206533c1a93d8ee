"""Data uploaded: large HTTP POST/PUT bodies, curl/wget uploading files, one-sided transfers."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import Found, ReportIndex, pointer

LARGE_BODY = 64 * 1024
LARGE_FLOW = 1024 * 1024
ONE_SIDED = 4
CURL_UPLOAD = frozenset({"-T", "--upload-file"})
CURL_FORM = frozenset({"-F", "--form"})
CURL_DATA = frozenset({"-d", "--data", "--data-binary", "--data-urlencode"})


class HttpUpload(Signature):
    id = "exfil_http_upload"
    name = "Uploads data"
    description = (
        f"An HTTP POST or PUT with a body of {LARGE_BODY // 1024} KiB or more, curl or wget "
        "sending a file (-T, -F name=@file, --data-binary @file, --post-file), or an outbound "
        f"connection that sent {LARGE_FLOW // (1024 * 1024)} MiB or more and {ONE_SIDED} times "
        "what it received."
    )
    severity = "medium"
    category = "exfiltration"
    techniques = ("T1041",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.http():
            request = found.item
            if request.method in ("POST", "PUT") and (
                request.body_size >= LARGE_BODY or request.body_truncated
            ):
                yield found.evidence(
                    f"{request.method} {request.url} with a {request.body_size}-byte body"
                )
        for run in ctx.commands("curl"):
            args = run.item.args
            for i, arg in enumerate(args):
                value = args[i + 1] if i + 1 < len(args) else ""
                form_file = arg in CURL_FORM and ("=@" in value or "=<" in value)
                if arg in CURL_UPLOAD or form_file or (arg in CURL_DATA and value.startswith("@")):
                    yield run.evidence(command_summary(run))
                    break
        for run in ctx.commands("wget"):
            if any(a.split("=", 1)[0] in ("--post-file", "--body-file") for a in run.item.args):
                yield run.evidence(command_summary(run))
        for i, flow in enumerate(ctx.report.network.flows):
            sent, received = flow.src_payload, flow.dst_payload
            if flow.direction == "outbound" and sent >= LARGE_FLOW and sent >= ONE_SIDED * received:
                found_flow = Found(flow, pointer("network", "flows", i), flow.process, flow.pid)
                yield found_flow.evidence(
                    f"sent {sent} bytes to {flow.dst_ip} port {flow.dst_port}, received {received}"
                )
