"""The fake mail server: a Postfix-like SMTP dialogue that accepts every message and login.

Spam bots and stealers that mail their loot get as far as DATA and QUIT; the envelope,
credentials and a bounded copy of each message are recorded. STARTTLS is offered when a
TLS context exists, since many clients refuse to authenticate without it.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any

from aasee.hooks.fakenet.conn import BodySink, Conn, LineTooLong
from aasee.hooks.fakenet.lines import CommandLog, read_command, split_verb
from aasee.hooks.fakenet.runtime import Runtime

MAX_RECIPIENTS = 100
MAX_ERRORS = 20
MAX_MESSAGES = 50


class SmtpSession:
    def __init__(self, runtime: Runtime, conn: Conn) -> None:
        self.runtime = runtime
        self.conn = conn
        self.host = runtime.config.smtp_hostname
        self.commands = CommandLog(conn)
        self.helo: str | None = None
        self.auth_user: str | None = None
        self.mail_from: str | None = None
        self.rcpt_to: list[str] = []
        self.messages = 0
        self.errors = 0

    async def reply(self, *lines: str) -> None:
        await self.conn.write("".join(line + "\r\n" for line in lines).encode())

    def reset(self) -> None:
        self.mail_from = None
        self.rcpt_to = []

    def _ehlo_lines(self) -> list[str]:
        features = [self.host, "PIPELINING", f"SIZE {self.conn.limits.max_body_bytes}"]
        if self.runtime.tls is not None and not self.conn.info.tls:
            features.append("STARTTLS")
        features += ["AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN", "ENHANCEDSTATUSCODES", "8BITMIME"]
        return [f"250-{item}" for item in features[:-1]] + [f"250 {features[-1]}"]

    async def run(self) -> None:
        await self.reply(f"220 {self.host} ESMTP Postfix")
        while True:
            try:
                line = await read_command(self.conn)
            except LineTooLong:
                await self.reply("500 5.5.0 Error: line too long")
                return
            if line is None:
                return
            self.commands.add(line)
            verb, argument = split_verb(line)
            if not await self.dispatch(verb, argument):
                return
            if self.errors >= MAX_ERRORS:
                await self.reply("421 4.7.0 Error: too many errors")
                return

    async def dispatch(self, verb: str, argument: bytes) -> bool:
        """Handle one command; False ends the session."""
        text = self.conn.text(argument)
        if verb == "EHLO":
            self.helo = text
            self.reset()
            await self.reply(*self._ehlo_lines())
        elif verb == "HELO":
            self.helo = text
            self.reset()
            await self.reply(f"250 {self.host}")
        elif verb == "STARTTLS":
            return await self.starttls()
        elif verb == "AUTH":
            await self.auth(argument)
        elif verb == "MAIL":
            if self.mail_from is not None:
                await self.reply("503 5.5.1 Error: nested MAIL command")
            else:
                self.mail_from = _address(self.conn, argument, b"FROM:")
                await self.reply("250 2.1.0 Ok")
        elif verb == "RCPT":
            if self.mail_from is None:
                await self.reply("503 5.5.1 Error: need MAIL command")
            elif len(self.rcpt_to) >= MAX_RECIPIENTS:
                await self.reply("452 4.5.3 Error: too many recipients")
            else:
                self.rcpt_to.append(_address(self.conn, argument, b"TO:"))
                await self.reply("250 2.1.5 Ok")
        elif verb == "DATA":
            if not self.rcpt_to:
                await self.reply("503 5.5.1 Error: need RCPT command")
            else:
                return await self.data()
        elif verb == "RSET":
            self.reset()
            await self.reply("250 2.0.0 Ok")
        elif verb == "NOOP":
            await self.reply("250 2.0.0 Ok")
        elif verb == "VRFY":
            await self.reply(f"252 2.0.0 {text[:200]}")
        elif verb == "HELP":
            await self.reply("214 2.0.0 Ok")
        elif verb == "QUIT":
            await self.reply("221 2.0.0 Bye")
            return False
        else:
            self.errors += 1
            await self.reply("502 5.5.2 Error: command not recognized")
        return True

    async def starttls(self) -> bool:
        if self.runtime.tls is None:
            await self.reply("454 4.7.0 TLS not available due to local problem")
            return True
        if self.conn.info.tls:
            await self.reply("554 5.5.1 Error: TLS already active")
            return True
        await self.reply("220 2.0.0 Ready to start TLS")
        await self.conn.start_tls(self.runtime.tls)
        # RFC 3207: the client must start over after the upgrade
        self.helo = None
        self.reset()
        return True

    async def _challenge(self, prompt: str) -> bytes | None:
        await self.reply(f"334 {prompt}")
        try:
            line = await read_command(self.conn)
        except LineTooLong:
            return None
        return None if line is None or line.strip() == b"*" else line.strip()

    async def auth(self, argument: bytes) -> None:
        mechanism, _, initial = argument.partition(b" ")
        mech = mechanism.decode("ascii", "replace").upper()[:20]
        user: bytes | None = None
        password: bytes | None = None
        if mech == "PLAIN":
            token = initial.strip() or await self._challenge("")
            decoded = _b64(token)
            if decoded is not None:
                parts = decoded.split(b"\0")
                if len(parts) >= 3:
                    user, password = parts[1], parts[2]
        elif mech == "LOGIN":
            first = initial.strip() or await self._challenge("VXNlcm5hbWU6")  # "Username:"
            user = _b64(first)
            if user is not None:
                password = _b64(await self._challenge("UGFzc3dvcmQ6"))  # "Password:"
        else:
            await self.reply("535 5.7.8 Error: authentication failed: unsupported mechanism")
            return
        if user is None or password is None:
            await self.reply("501 5.7.0 Error: authentication aborted")
            return
        self.auth_user = self.conn.text(user)
        self.conn.record(
            "auth",
            {"mechanism": mech, "username": self.auth_user, "password": self.conn.text(password)},
        )
        await self.reply("235 2.7.0 Authentication successful")

    async def data(self) -> bool:
        await self.reply("354 End data with <CR><LF>.<CR><LF>")
        limits = self.conn.limits
        sink = BodySink(limits.max_stored_body)
        complete = False
        too_big = False
        try:
            while True:
                line = await self.conn.readline(limits.max_header_bytes)
                if not line:
                    break
                if line in (b".\r\n", b".\n"):
                    complete = True
                    break
                if line.startswith(b".."):
                    line = line[1:]
                sink.feed(line)
                if sink.size > limits.max_body_bytes:
                    too_big = True
                    break
        except LineTooLong:
            self._record_message(sink, complete=False)
            await self.reply("500 5.5.0 Error: line too long")
            return False
        self._record_message(sink, complete)
        if too_big:
            await self.reply("552 5.3.4 Error: message file too big")
            return False
        if not complete:
            return False
        self.messages += 1
        self.reset()
        await self.reply(f"250 2.0.0 Ok: queued as {secrets.token_hex(5).upper()}")
        return self.messages < MAX_MESSAGES

    def _record_message(self, sink: BodySink, complete: bool) -> None:
        head = sink.head
        self.conn.record(
            "message",
            {
                "helo": self.helo,
                "auth_user": self.auth_user,
                "mail_from": self.mail_from,
                "rcpt_to": self.rcpt_to,
                "subject": _header(self.conn, head, b"subject"),
                "size": sink.size,
                "sha256": sink.sha256,
                "complete": complete,
            },
            {"message_preview": self.conn.text(head, self.conn.limits.max_stored_body * 4)},
        )

    def record_session(self) -> None:
        plain, bulky = self.commands.fields()
        fields: dict[str, Any] = {
            "helo": self.helo,
            "auth_user": self.auth_user,
            "messages": self.messages,
            **plain,
        }
        self.conn.record("session", fields, bulky)


def _address(conn: Conn, argument: bytes, keyword: bytes) -> str:
    """The address from ``FROM:<a@b> SIZE=1`` (brackets removed, parameters dropped)."""
    value = argument
    if value.upper().startswith(keyword):
        value = value[len(keyword) :].strip()
    if value.startswith(b"<") and b">" in value:
        value = value[1 : value.index(b">")]
    else:
        value = value.split(b" ", 1)[0]
    return conn.text(value, 512)


def _b64(token: bytes | None) -> bytes | None:
    if token is None:
        return None
    try:
        return base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return None


def _header(conn: Conn, message: bytes, name: bytes) -> str | None:
    for line in message.split(b"\n"):
        if not line.strip():
            return None  # end of the header block
        key, colon, value = line.partition(b":")
        if colon and key.strip().lower() == name:
            return conn.text(value.strip(), 512)
    return None


async def handle(runtime: Runtime, conn: Conn) -> None:
    session = SmtpSession(runtime, conn)
    try:
        await session.run()
    finally:
        session.record_session()
