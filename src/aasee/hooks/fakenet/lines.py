"""Shared plumbing of the line-based services (SMTP, FTP, IRC): commands and their record."""

from __future__ import annotations

from typing import Any

from aasee.hooks.fakenet.conn import Conn

MAX_COMMAND_CHARS = 512


class CommandLog:
    """The commands of one session: all counted, the first few hundred kept."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.count = 0
        self.kept: list[str] = []

    def add(self, line: bytes) -> None:
        self.count += 1
        if len(self.kept) < self.conn.limits.max_commands_recorded:
            self.kept.append(self.conn.text(line, MAX_COMMAND_CHARS))

    def fields(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(plain, bulky) fields for the session record."""
        return {"command_count": self.count}, {"commands": self.kept}


async def read_command(conn: Conn) -> bytes | None:
    """The next command line without its line ending; None at end of stream.

    Raises LineTooLong, which each service answers in its own dialect before closing.
    """
    line = await conn.readline(conn.limits.max_line_bytes)
    if not line:
        return None
    return line.rstrip(b"\r\n")


def split_verb(line: bytes) -> tuple[str, bytes]:
    """("MAIL", b"FROM:<a@b>") from b"mail FROM:<a@b>"; the verb is upper-cased ASCII."""
    verb, _, rest = line.strip().partition(b" ")
    return verb.decode("ascii", "replace").upper()[:32], rest.strip()
