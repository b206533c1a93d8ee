"""Signed session cookies and CSRF tokens for the web UI.

A session is a small JSON payload (token name, issue and expiry time, CSRF secret) signed
with HMAC-SHA256 under a per-install secret kept in ``<home>/service/web.secret`` (created
0600 on first use). Nothing secret is inside the payload: the API token itself never leaves
the login request. Revoking the token ends its sessions, because every request re-checks
that the token name is still active.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

SESSION_COOKIE = "aasee_session"
LOGIN_CSRF_COOKIE = "aasee_login_csrf"
SESSION_SECONDS = 12 * 3600
SECRET_BYTES = 32


class SecretError(Exception):
    """The per-install secret cannot be read or created; the message names the file."""


def load_or_create_secret(path: Path) -> bytes:
    """The install's signing secret, created atomically (mode 0600) when missing."""
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        secret = b""
    except OSError as exc:
        raise SecretError(f"cannot read the web secret {path}: {exc}") from exc
    if len(secret) >= SECRET_BYTES:
        return secret
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = secrets.token_bytes(SECRET_BYTES)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(fresh)
        # link() fails if another process created the secret first; then use theirs.
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return path.read_bytes()
    except OSError as exc:
        raise SecretError(f"cannot create the web secret {path}: {exc}") from exc


@dataclass(frozen=True)
class Session:
    name: str
    stamp: str
    """When the token was created: a token revoked and re-created under the same name is
    another token, and must not inherit the old one's sessions."""
    issued: float
    expires: float
    csrf: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and checks values under one secret, each use kept apart by a purpose label."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, purpose: str, payload: bytes) -> str:
        mac = hmac.new(self._secret, purpose.encode() + b"\0" + payload, hashlib.sha256)
        return f"{_b64(payload)}.{_b64(mac.digest())}"

    def unsign(self, purpose: str, value: str) -> bytes | None:
        body, sep, mac_text = value.partition(".")
        if not sep or len(value) > 4096:
            return None
        try:
            payload, mac = _unb64(body), _unb64(mac_text)
        except (ValueError, binascii.Error):
            return None
        expected = hmac.new(self._secret, purpose.encode() + b"\0" + payload, hashlib.sha256)
        return payload if hmac.compare_digest(mac, expected.digest()) else None

    def new_session(self, name: str, stamp: str, now: float | None = None) -> tuple[Session, str]:
        issued = time.time() if now is None else now
        session = Session(name, stamp, issued, issued + SESSION_SECONDS, secrets.token_urlsafe(24))
        payload = json.dumps(
            {"n": name, "s": stamp, "i": issued, "e": session.expires, "c": session.csrf},
            separators=(",", ":"),
        ).encode()
        return session, self.sign("session", payload)

    def read_session(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session in a cookie, or None if it is missing, forged, malformed or expired."""
        if not cookie:
            return None
        payload = self.unsign("session", cookie)
        if payload is None:
            return None
        try:
            data = json.loads(payload)
            session = Session(
                str(data["n"]), str(data["s"]), float(data["i"]), float(data["e"]), str(data["c"])
            )
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < (time.time() if now is None else now):
            return None
        return session

    def new_login_csrf(self) -> tuple[str, str]:
        """A CSRF value for the login form and the signed cookie that vouches for it."""
        value = secrets.token_urlsafe(24)
        return value, self.sign("login-csrf", value.encode())

    def check_login_csrf(self, cookie: str | None, submitted: str | None) -> bool:
        if not cookie or not submitted:
            return False
        payload = self.unsign("login-csrf", cookie)
        return payload is not None and hmac.compare_digest(payload, submitted.encode())


def csrf_matches(session: Session, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(session.csrf, submitted)
