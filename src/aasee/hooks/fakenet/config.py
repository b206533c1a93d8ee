"""Configuration of the fake internet: addresses, ports, canned answers and resource limits."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Port = int | None

DEFAULT_PAGE = (
    "<!DOCTYPE html>\n<html>\n<head><title>Welcome</title></head>\n"
    "<body>\n<h1>It works!</h1>\n<p>This page is served by the default web server.</p>\n"
    "</body>\n</html>\n"
)


def _check_port(value: int | None) -> int | None:
    # 0 asks the kernel for a free port (tests); the bound port is reported by FakeInternet.ports
    if value is not None and not 0 <= value <= 65535:
        raise ValueError(f"port out of range: {value}")
    return value


def _check_hostname(value: str) -> str:
    labels = value.rstrip(".").split(".")
    if not value or len(value) > 253 or any(not 0 < len(label) <= 63 for label in labels):
        raise ValueError(f"not a valid DNS name: {value!r}")
    if not value.isascii():
        raise ValueError(f"DNS name must be ASCII: {value!r}")
    return value.rstrip(".")


class HttpResponse(BaseModel):
    """What every HTTP(S) request is answered with, unless a canned body matches its path."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: int = Field(default=200, ge=100, le=599)
    content_type: str = "text/html; charset=UTF-8"
    body: str = DEFAULT_PAGE
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("content_type")
    @classmethod
    def _no_crlf(cls, value: str) -> str:
        if "\r" in value or "\n" in value:
            raise ValueError("content_type must not contain line breaks")
        return value

    @field_validator("headers")
    @classmethod
    def _headers_clean(cls, value: dict[str, str]) -> dict[str, str]:
        for name, item in value.items():
            if any(c in name + item for c in "\r\n") or ":" in name or not name:
                raise ValueError(f"invalid extra header {name!r}")
        return value


class FakeNetLimits(BaseModel):
    """Caps that keep a hostile guest from exhausting host memory, disk or file descriptors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_connections: int = Field(default=64, ge=1)
    """Concurrent connections per listener; excess ones are accepted and closed at once."""
    connection_timeout: float = Field(default=300.0, gt=0)
    """Lifetime of any one TCP connection."""
    idle_timeout: float = Field(default=30.0, gt=0)
    """Longest wait for a read or a write to make progress."""
    tls_handshake_timeout: float = Field(default=10.0, gt=0)
    keepalive_timeout: float = Field(default=15.0, gt=0)
    """HTTP: how long an idle keep-alive connection waits for its next request."""
    max_requests_per_connection: int = Field(default=100, ge=1)
    """HTTP requests or DNS-over-TCP queries served on one connection."""
    max_line_bytes: int = Field(default=8192, ge=512)
    """One SMTP/FTP/IRC command line."""
    max_header_bytes: int = Field(default=65536, ge=1024)
    """HTTP request line plus headers (also the longest SMTP DATA line)."""
    max_headers: int = Field(default=100, ge=1)
    max_body_bytes: int = Field(default=64 << 20, ge=0)
    """HTTP body, SMTP message or FTP upload consumed before the transfer is cut off."""
    max_stored_body: int = Field(default=4096, ge=0)
    """Leading bytes of a body, message or upload kept in the log."""
    max_field_chars: int = Field(default=2048, ge=16)
    """Any other client-supplied string in the log."""
    max_commands_recorded: int = Field(default=200, ge=0)
    """Commands kept in an SMTP/FTP/IRC session record (the total is always counted)."""
    catchall_capture_bytes: int = Field(default=4096, ge=1)
    catchall_timeout: float = Field(default=5.0, gt=0)
    log_full_bytes: int = Field(default=32 << 20, ge=0)
    """Beyond this log size, records lose their bulky fields (headers, previews, commands)."""
    log_max_bytes: int = Field(default=64 << 20, ge=0)
    """Beyond this log size, records are only counted."""

    @model_validator(mode="after")
    def _ordered(self) -> FakeNetLimits:
        if self.log_full_bytes > self.log_max_bytes:
            raise ValueError("log_full_bytes must not exceed log_max_bytes")
        return self


class FakeNetConfig(BaseModel):
    """Where the fake services listen and what they answer. ``None`` disables a listener."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dns_address: IPv4Address | IPv6Address
    service_address: IPv4Address | IPv6Address
    cert_dir: Path

    dns_port: Port = 53
    http_port: Port = 80
    https_port: Port = 443
    smtp_ports: tuple[int, ...] = (25, 587)
    smtps_ports: tuple[int, ...] = (465,)
    ftp_port: Port = 21
    irc_port: Port = 6667
    ircs_port: Port = 6697
    catchall_tcp_port: Port = 9999
    catchall_udp_port: Port = 9998

    sinkhole_ipv4: IPv4Address | None = None
    """Answer to every A query; defaults to ``service_address`` when that is IPv4."""
    sinkhole_ipv6: IPv6Address | None = None
    """Answer to every AAAA query; ``None`` answers AAAA with an empty NOERROR."""
    dns_ttl: int = Field(default=300, ge=0, le=2**31 - 1)
    dns_txt: str = Field(default="v=spf1 -all", max_length=255)
    ptr_domain: str = "dyn.example.net"
    """PTR answers are ``host-a-b-c-d.<ptr_domain>``."""

    http_response: HttpResponse = Field(default_factory=HttpResponse)
    http_server_header: str = "nginx"
    http_canned_bodies: bool = True
    """Answer paths ending in .exe/.sh/.png/... with a small body of the matching kind."""

    smtp_hostname: str = "mail.example.net"
    irc_server_name: str = "irc.example.net"
    ftp_banner: str = "(vsFTPd 3.0.5)"
    ftp_pasv_address: IPv4Address | IPv6Address | None = None
    """Address announced in PASV/EPSV replies; defaults to ``service_address``."""
    ftp_pasv_ports: tuple[int, int] | None = None
    """Inclusive range for passive data ports (so DNAT rules can exempt it); None = any."""

    catchall_banner: str | None = None
    """Sent (UTF-8) as soon as a catch-all TCP connection opens; None sends nothing."""

    tls_ca_name: str = "Secure Server Root CA"
    tls_common_name: str = "localhost"

    limits: FakeNetLimits = Field(default_factory=FakeNetLimits)

    @field_validator(
        "dns_port",
        "http_port",
        "https_port",
        "ftp_port",
        "irc_port",
        "ircs_port",
        "catchall_tcp_port",
        "catchall_udp_port",
    )
    @classmethod
    def _port(cls, value: int | None) -> int | None:
        return _check_port(value)

    @field_validator("smtp_ports", "smtps_ports")
    @classmethod
    def _ports(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for port in value:
            _check_port(port)
        return value

    @field_validator("ptr_domain", "smtp_hostname", "irc_server_name")
    @classmethod
    def _hostname(cls, value: str) -> str:
        return _check_hostname(value)

    @field_validator("ftp_banner", "http_server_header", "tls_ca_name", "tls_common_name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\r" in value or "\n" in value:
            raise ValueError("must be a single line")
        return value

    @field_validator("tls_ca_name", "tls_common_name")
    @classmethod
    def _subject_safe(cls, value: str) -> str:
        # these go into an openssl -subj argument, where '/' and '=' are separators
        if not value or any(c in value for c in "/=\\+,") or len(value) > 64:
            raise ValueError("must be 1-64 characters without / = \\ + ,")
        return value

    @field_validator("ftp_pasv_ports")
    @classmethod
    def _range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 1 <= value[0] <= value[1] <= 65535:
            raise ValueError("ftp_pasv_ports must be (low, high) with 1 <= low <= high <= 65535")
        return value

    @model_validator(mode="after")
    def _sinkhole(self) -> FakeNetConfig:
        if self.sinkhole_ipv4 is None and not isinstance(self.service_address, IPv4Address):
            raise ValueError("sinkhole_ipv4 is required when service_address is IPv6")
        return self

    @property
    def a_answer(self) -> IPv4Address:
        if self.sinkhole_ipv4 is not None:
            return self.sinkhole_ipv4
        assert isinstance(self.service_address, IPv4Address)
        return self.service_address

    @property
    def pasv_address(self) -> IPv4Address | IPv6Address:
        return self.ftp_pasv_address or self.service_address
