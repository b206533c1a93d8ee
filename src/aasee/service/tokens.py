"""API tokens: random secrets handed out once; the database keeps only their SHA-256.

A token is 32 random bytes, so an unsalted hash is enough (there is nothing to guess a
dictionary from); the stored digest is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from aasee.service.db import Database
from aasee.service.models import Token, utcnow

PREFIX = "aasee_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
MAX_TOKEN_LENGTH = 200
# last_used is a hint for the operator: writing it on every request would serialise readers.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ValueError(
            f"token name {name!r} is not allowed: 1-100 characters, letters, digits and . _ @ -"
        )
    return name


def create_token(db: Database, name: str) -> str:
    check_name(name)
    token = PREFIX + secrets.token_urlsafe(32)
    with db.write() as session:
        if session.scalar(select(Token).where(Token.name == name)) is not None:
            raise ValueError(f"a token named {name!r} exists; revoke it first or pick another name")
        session.add(Token(name=name, digest=_digest(token), created=utcnow()))
    return token


def verify_token(db: Database, token: str) -> str | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    digest = _digest(token)
    with db.read() as session:
        # Columns, not an ORM object: this runs on every API request.
        row = session.execute(
            select(Token.name, Token.digest, Token.last_used).where(Token.digest == digest)
        ).first()
        if row is None:
            return None
        name, stored, last_used = row
        if not hmac.compare_digest(stored, digest):
            return None
    now = utcnow()
    if last_used is None or now - last_used > LAST_USED_RESOLUTION:
        with db.write() as session:
            fresh = session.scalar(select(Token).where(Token.digest == digest))
            if fresh is not None:
                fresh.last_used = now
    return name


def revoke_token(db: Database, name: str) -> bool:
    with db.write() as session:
        row = session.scalar(select(Token).where(Token.name == name))
        if row is None:
            return False
        session.delete(row)
    return True


def token_created(db: Database, name: str) -> datetime | None:
    """When the token called ``name`` was made, or None if there is none (UI sessions check
    this on every request, so it reads one indexed row)."""
    with db.read() as session:
        return session.scalar(select(Token.created).where(Token.name == name))


def list_tokens(db: Database) -> list[dict[str, Any]]:
    with db.read() as session:
        rows = session.scalars(select(Token).order_by(Token.name)).all()
        return [{"name": r.name, "created": r.created, "last_used": r.last_used} for r in rows]
