"""The fake web server (HTTP and HTTPS): one canned answer for everything, everything logged.

Requests are served with bounded keep-alive; malformed ones get a 4xx and the connection is
closed after a short lingering drain so the client sees the answer.
"""

from __future__ import annotations

import email.utils
import http
from typing import Any
from urllib.parse import urlsplit

from aasee.hooks.fakenet.conn import BodySink, Conn
from aasee.hooks.fakenet.content import canned_for
from aasee.hooks.fakenet.httpwire import (
    BodyTooLarge,
    ClientGone,
    HttpError,
    Request,
    body_framing,
    read_body,
    read_request,
)
from aasee.hooks.fakenet.runtime import Runtime

ERROR_PAGE = (
    "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>{server}</center>\r\n"
    "</body>\r\n</html>\r\n"
)
MAX_RECORDED_HEADERS = 100


def phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class HttpService:
    """Serves one scheme ("http" or "https"); an instance's ``handle`` is a TCP handler."""

    def __init__(self, runtime: Runtime, scheme: str) -> None:
        self.runtime = runtime
        self.scheme = scheme
        self.config = runtime.config
        self.limits = runtime.limits

    def _head(self, status: int, content_type: str, length: int, keep_alive: bool) -> bytes:
        lines = [
            f"HTTP/1.1 {status} {phrase(status)}",
            f"Server: {self.config.http_server_header}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            f"Content-Type: {content_type}",
            f"Content-Length: {length}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        return ("\r\n".join(lines) + "\r\n").encode("latin-1", "replace")

    def _answer(self, request: Request) -> tuple[int, str, bytes, dict[str, str]]:
        default = self.config.http_response
        if self.config.http_canned_bodies:
            canned = canned_for(request.target)
            if canned is not None:
                return 200, canned[0], canned[1], {}
        return default.status, default.content_type, default.body.encode("utf-8"), default.headers

    async def _send(
        self,
        conn: Conn,
        status: int,
        content_type: str,
        body: bytes,
        keep_alive: bool,
        head_only: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        head = self._head(status, content_type, len(body), keep_alive)
        for name, value in (extra or {}).items():
            head += f"{name}: {value}\r\n".encode("latin-1", "replace")
        await conn.write(head + b"\r\n" + (b"" if head_only else body))

    async def _refuse(self, conn: Conn, status: int) -> None:
        page = ERROR_PAGE.format(
            code=status, phrase=phrase(status), server=self.config.http_server_header
        )
        await self._send(conn, status, "text/html", page.encode(), keep_alive=False)
        await conn.linger()

    def _url(self, conn: Conn, request: Request, host: str | None) -> str:
        target = request.target
        if target.lower().startswith(("http://", "https://")) or request.method == "CONNECT":
            return target
        if not host:
            info = conn.info
            host = info.original_dst[0] if info.original_dst else (info.sni or info.server_ip)
        return f"{self.scheme}://{host}{target if target.startswith('/') else '/' + target}"

    def _record(
        self,
        conn: Conn,
        index: int,
        request: Request,
        sink: BodySink,
        complete: bool,
        status: int,
        framing: str,
    ) -> None:
        host = request.get("host")
        try:
            path = urlsplit(request.target).path
        except ValueError:
            path = request.target
        text = conn.text
        fields: dict[str, Any] = {
            "request_index": index,
            "method": text(request.method),
            "target": _client_text(conn, request.target),
            "url": _client_text(conn, self._url(conn, request, host)),
            "path": _client_text(conn, path),
            "version": request.version,
            "host": _optional(conn, host),
            "user_agent": _optional(conn, request.get("user-agent")),
            "content_type": _optional(conn, request.get("content-type")),
            "header_count": len(request.headers),
            "body_framing": framing,
            "body_size": sink.size,
            "body_sha256": sink.sha256,
            "body_complete": complete,
            "status": status,
        }
        bulky = {
            "headers": [
                [text(name), text(value)] for name, value in request.headers[:MAX_RECORDED_HEADERS]
            ],
            "body_preview": text(sink.head, conn.limits.max_stored_body * 4),
        }
        conn.record("request", fields, bulky)

    async def handle(self, conn: Conn) -> None:
        limits = self.limits
        for index in range(limits.max_requests_per_connection):
            wait = limits.idle_timeout if index == 0 else limits.keepalive_timeout
            try:
                request = await read_request(conn, wait)
            except HttpError as exc:
                conn.record(
                    "bad_request",
                    {"request_index": index, "status": exc.status, "reason": exc.reason},
                    {"raw_preview": conn.text(exc.raw, 512)},
                )
                await self._refuse(conn, exc.status)
                return
            except TimeoutError:
                if index == 0:
                    raise
                return  # an idle keep-alive connection simply ends
            except ClientGone:
                return
            if request is None:
                return
            try:
                if not await self._serve_one(conn, index, request):
                    return
            except ClientGone:
                return

    async def _serve_one(self, conn: Conn, index: int, request: Request) -> bool:
        """Answer one request; False when the connection must close afterwards."""
        sink = BodySink(self.limits.max_stored_body)
        status, content_type, body, extra = self._answer(request)
        try:
            chunked, length = body_framing(request)
        except HttpError as exc:
            self._record(conn, index, request, sink, False, exc.status, "invalid")
            await self._refuse(conn, exc.status)
            return False
        framing = "chunked" if chunked else ("length" if length else "none")
        expect = (request.get("expect") or "").strip().lower()
        if expect == "100-continue" and (chunked or length) and request.version != "HTTP/1.0":
            await conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            await read_body(conn, chunked, length, sink, self.limits.max_body_bytes)
        except BodyTooLarge:
            self._record(conn, index, request, sink, False, 413, framing)
            await self._refuse(conn, 413)
            return False
        except HttpError as exc:
            self._record(conn, index, request, sink, False, exc.status, framing)
            await self._refuse(conn, exc.status)
            return False
        except (ClientGone, TimeoutError):
            self._record(conn, index, request, sink, False, 0, framing)
            raise
        self._record(conn, index, request, sink, True, status, framing)
        keep_alive = request.keep_alive and index + 1 < self.limits.max_requests_per_connection
        await self._send(
            conn,
            status,
            content_type,
            body,
            keep_alive,
            head_only=request.method == "HEAD",
            extra=extra,
        )
        return keep_alive


def _client_text(conn: Conn, value: str) -> str:
    # request text was decoded as latin-1; re-encoding restores the client's exact bytes,
    # which the log then shows as UTF-8 with invalid sequences escaped
    return conn.text(value.encode("latin-1", "replace"))


def _optional(conn: Conn, value: str | None) -> str | None:
    return None if value is None else _client_text(conn, value)
