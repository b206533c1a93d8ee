"""Streaming, bounded parsing of a ``multipart/form-data`` sample upload.

Starlette's own form parser spools a whole file before a handler sees it, so it cannot refuse
an oversized upload early. This module feeds the request body chunk by chunk into
python-multipart's streaming parser and stops reading the moment the file part passes the
limit (413), a field or the header block gets too large, or the body is not well-formed
multipart (400). Exactly one file part, named ``file``, is accepted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MAX_FIELDS = 64
MAX_FIELD_BYTES = 8 << 10
MAX_HEADER_BYTES = 8 << 10
# Room for boundaries, part headers and the small option fields around the file.
ENVELOPE_BYTES = 256 << 10


class UploadError(Exception):
    """The upload was refused; ``status`` is the HTTP status that says why (400, 413, 415)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Upload:
    """A parsed upload: the file's bytes and its client-given name, plus the text fields."""

    data: bytes
    filename: str
    fields: dict[str, list[str]] = field(default_factory=dict)

    def first(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)


class _Collector:
    """Receives python-multipart's callbacks and enforces every limit as data arrives."""

    def __init__(self, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.part = _Part()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.header_bytes = 0
        self.file: _Part | None = None
        self.fields: dict[str, list[str]] = {}
        self.field_count = 0
        self.ended = False

    def on_part_begin(self) -> None:
        self.part = _Part()
        self.header_bytes = 0

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_grow(end - start)
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_grow(end - start)
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers.append((bytes(self.header_field).lower(), bytes(self.header_value)))
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        disposition = next((v for k, v in self.part.headers if k == b"content-disposition"), None)
        if disposition is None:
            raise UploadError(400, "a multipart part has no Content-Disposition header")
        kind, options = parse_options_header(disposition)
        if kind != b"form-data" or b"name" not in options:
            raise UploadError(400, "a multipart part is not a named form-data field")
        self.part.name = _text(options[b"name"])
        if b"filename" in options:
            self.part.filename = _text(options[b"filename"])
            if self.part.name != "file":
                raise UploadError(400, f"unexpected file field {self.part.name!r}: send 'file'")
            if self.file is not None:
                raise UploadError(400, "send exactly one file per submission")
            self.file = self.part
        else:
            self.field_count += 1
            if self.field_count > MAX_FIELDS:
                raise UploadError(400, f"too many form fields (at most {MAX_FIELDS})")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        part.data += data[start:end]
        if part is self.file:
            if len(part.data) > self.max_file_bytes:
                raise UploadError(413, _too_large(self.max_file_bytes))
        elif len(part.data) > MAX_FIELD_BYTES:
            raise UploadError(400, f"form field {part.name!r} is longer than {MAX_FIELD_BYTES}")

    def on_part_end(self) -> None:
        part = self.part
        if part is not self.file:
            try:
                value = part.data.decode("utf-8")
            except UnicodeDecodeError:
                raise UploadError(400, f"form field {part.name!r} is not UTF-8 text") from None
            self.fields.setdefault(part.name, []).append(value)

    def on_end(self) -> None:
        self.ended = True

    def _header_grow(self, size: int) -> None:
        self.header_bytes += size
        if self.header_bytes > MAX_HEADER_BYTES:
            raise UploadError(400, f"multipart part headers exceed {MAX_HEADER_BYTES} bytes")


def _text(raw: bytes) -> str:
    # parse_options_header decodes headers as latin-1; clients send UTF-8 file names.
    return raw.decode("utf-8", errors="replace")


def _too_large(limit: int) -> str:
    return f"the sample is larger than the upload limit of {limit} bytes"


async def parse_upload(
    content_type: str | None,
    content_length: str | None,
    body: AsyncIterator[bytes],
    max_file_bytes: int,
) -> Upload:
    """Read a sample submission from ``body``; raises ``UploadError`` on any refusal."""
    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        raise UploadError(415, "send the sample as multipart/form-data with a 'file' field")
    boundary = options.get(b"boundary")
    if not boundary:
        raise UploadError(400, "the multipart Content-Type has no boundary")
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise UploadError(400, "the Content-Length header is not a number") from None
        if declared > max_file_bytes + ENVELOPE_BYTES:
            raise UploadError(413, _too_large(max_file_bytes))
    collector = _Collector(max_file_bytes)
    callbacks = {
        name: getattr(collector, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
            "on_end",
        )
    }
    try:
        parser = MultipartParser(
            boundary, cast("MultipartCallbacks", callbacks), max_header_size=MAX_HEADER_BYTES
        )
        received = 0
        async for chunk in body:
            received += len(chunk)
            if received > max_file_bytes + ENVELOPE_BYTES:
                raise UploadError(413, _too_large(max_file_bytes))
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise UploadError(400, f"malformed multipart body: {exc}") from None
    if not collector.ended:
        raise UploadError(400, "malformed multipart body: it ends before its closing boundary")
    if collector.file is None:
        raise UploadError(400, "no file in the submission: send the sample in a 'file' field")
    if not collector.file.data:
        raise UploadError(400, "the sample is empty: there is nothing to analyse")
    return Upload(
        data=bytes(collector.file.data),
        filename=collector.file.filename or "",
        fields=collector.fields,
    )
