"""The fake FTP server: a vsftpd-like dialogue with real passive-mode data connections.

Any login works; the directory holds one small file; downloads get fake bytes, uploads are
consumed into a hash with a bounded preview. Active mode (PORT/EPRT) is refused because it
would make the host connect out to an address the guest chose.
"""

from __future__ import annotations

import asyncio
import posixpath
import random
import socket
from typing import Any

from aasee.hooks.fakenet.conn import BodySink, Conn, LineTooLong, open_accepted
from aasee.hooks.fakenet.content import fake_file
from aasee.hooks.fakenet.lines import CommandLog, read_command, split_verb
from aasee.hooks.fakenet.runtime import Runtime
from aasee.hooks.fakenet.tcp import bind_socket

FAKE_FILES = ("readme.txt",)
LISTING_DATE = "Jan 15  2024"
MAX_PATH = 1024
MAX_PORT_TRIES = 200
MAX_STRAY_CONNECTS = 10
PRE_LOGIN = {"USER", "PASS", "QUIT", "SYST", "FEAT", "AUTH", "OPTS", "NOOP", "HELP"}


class Passive:
    """One listening data port, for one data connection from the control connection's peer."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._sock: socket.socket | None = None

    def open(self, address: str, ports: tuple[int, int] | None) -> int:
        if ports is None:
            self._sock = bind_socket(socket.SOCK_STREAM, address, 0)
        else:
            low, high = ports
            candidates = list(range(low, high + 1))
            random.shuffle(candidates)
            for port in candidates[:MAX_PORT_TRIES]:
                try:
                    self._sock = bind_socket(socket.SOCK_STREAM, address, port)
                    break
                except OSError:
                    continue
            else:
                raise OSError("no free passive port")
        return int(self._sock.getsockname()[1])

    async def accept(self) -> Conn | None:
        """The data connection, or None if the client does not make one in time."""
        if self._sock is None:
            return None
        loop = asyncio.get_running_loop()
        accepted: socket.socket | None = None
        try:
            async with asyncio.timeout(self.conn.idle):
                for _ in range(MAX_STRAY_CONNECTS):
                    sock, peer = await loop.sock_accept(self._sock)
                    if peer[0] == self.conn.info.client_ip:
                        accepted = sock
                        break
                    sock.close()  # someone else racing for the port: not our client
        except TimeoutError:
            pass
        finally:
            self.close()
        if accepted is None:
            return None
        try:
            reader, writer = await open_accepted(
                accepted, self.conn.limits.max_header_bytes, None, 0
            )
        except OSError:
            accepted.close()
            return None
        return Conn(self.conn.runtime, self.conn.info, reader, writer)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class FtpSession:
    def __init__(self, runtime: Runtime, conn: Conn) -> None:
        self.runtime = runtime
        self.conn = conn
        self.commands = CommandLog(conn)
        self.user: str | None = None
        self.logged_in = False
        self.cwd = "/"
        self.passive: Passive | None = None
        self.transfers = 0

    async def reply(self, *lines: str) -> None:
        await self.conn.write("".join(line + "\r\n" for line in lines).encode())

    async def run(self) -> None:
        await self.reply(f"220 {self.runtime.config.ftp_banner}")
        while True:
            try:
                line = await read_command(self.conn)
            except LineTooLong:
                await self.reply("500 Input line too long.")
                return
            if line is None:
                return
            verb, argument = split_verb(line)
            # the password is recorded in the login event, not in the command list
            self.commands.add(b"PASS ***" if verb == "PASS" else line)
            if not self.logged_in and verb not in PRE_LOGIN:
                await self.reply("530 Please login with USER and PASS.")
                continue
            if not await self.dispatch(verb, argument):
                return

    def _path(self, argument: bytes) -> str:
        name = self.conn.text(argument, MAX_PATH) or "."
        return posixpath.normpath(posixpath.join(self.cwd, name))[:MAX_PATH]

    async def dispatch(self, verb: str, argument: bytes) -> bool:
        text = self.conn.text(argument)
        simple = {
            "SYST": "215 UNIX Type: L8",
            "NOOP": "200 NOOP ok.",
            "MODE": "200 Mode set to S.",
            "STRU": "200 Structure set to F.",
            "ALLO": "202 ALLO command ignored.",
            "ABOR": "225 No transfer to ABOR.",
            "MDTM": "213 20240115093000",
            "DELE": "250 Delete operation successful.",
            "RMD": "250 Remove directory operation successful.",
            "RNFR": "350 Ready for RNTO.",
            "RNTO": "250 Rename successful.",
            "AUTH": "530 Please login with USER and PASS.",
            "PORT": "500 Illegal PORT command.",
            "EPRT": "500 Illegal EPRT command.",
            "HELP": "214 Help OK.",
            "SITE": "500 Unknown SITE command.",
        }
        if verb in simple:
            await self.reply(simple[verb])
        elif verb == "USER":
            self.user, self.logged_in = text, False
            await self.reply("331 Please specify the password.")
        elif verb == "PASS":
            if self.user is None:
                await self.reply("503 Login with USER first.")
            else:
                self.logged_in = True
                self.conn.record("login", {"username": self.user, "password": text})
                await self.reply("230 Login successful.")
        elif verb == "FEAT":
            features = ["EPSV", "MDTM", "PASV", "REST STREAM", "SIZE", "TVFS", "UTF8"]
            await self.reply("211-Features:", *(f" {item}" for item in features), "211 End")
        elif verb == "OPTS":
            ok = argument.upper().startswith(b"UTF8")
            await self.reply("200 Always in UTF8 mode." if ok else "501 Option not understood.")
        elif verb in ("PWD", "XPWD"):
            await self.reply(f'257 "{self.cwd}" is the current directory')
        elif verb in ("CWD", "XCWD", "CDUP", "XCUP"):
            self.cwd = self._path(b".." if verb in ("CDUP", "XCUP") else argument)
            await self.reply("250 Directory successfully changed.")
        elif verb in ("MKD", "XMKD"):
            await self.reply(f'257 "{self._path(argument)}" created')
        elif verb == "TYPE":
            kind = argument[:1].upper()
            if kind == b"A":
                await self.reply("200 Switching to ASCII mode.")
            elif kind in (b"I", b"L"):
                await self.reply("200 Switching to Binary mode.")
            else:
                await self.reply("500 Unrecognised TYPE command.")
        elif verb == "REST":
            await self.reply(f"350 Restart position accepted ({text[:20]}).")
        elif verb == "SIZE":
            await self.reply(f"213 {len(fake_file(posixpath.basename(self._path(argument))))}")
        elif verb in ("PASV", "EPSV"):
            await self.open_passive(verb)
        elif verb in ("LIST", "NLST", "MLSD"):
            await self.listing(verb)
        elif verb == "RETR":
            await self.retrieve(argument)
        elif verb in ("STOR", "APPE", "STOU"):
            await self.store(verb, argument)
        elif verb == "QUIT":
            await self.reply("221 Goodbye.")
            return False
        else:
            await self.reply("500 Unknown command.")
        return True

    async def open_passive(self, verb: str) -> None:
        if self.passive is not None:
            self.passive.close()
        config = self.runtime.config
        address = str(config.pasv_address)
        if verb == "PASV" and ":" in address:
            await self.reply("425 Use EPSV with IPv6.")
            return
        self.passive = Passive(self.conn)
        try:
            # listen where the control connection was accepted; announce the configured address
            port = self.passive.open(self.conn.info.server_ip, config.ftp_pasv_ports)
        except OSError:
            self.passive = None
            await self.reply("425 Could not open passive connection.")
            return
        if verb == "EPSV":
            await self.reply(f"229 Entering Extended Passive Mode (|||{port}|)")
        else:
            numbers = address.replace(".", ",")
            await self.reply(f"227 Entering Passive Mode ({numbers},{port >> 8},{port & 0xFF}).")

    async def _data_connection(self) -> Conn | None:
        passive, self.passive = self.passive, None
        if passive is None:
            await self.reply("425 Use PORT or PASV first.")
            return None
        data = await passive.accept()
        if data is None:
            await self.reply("425 Failed to establish connection.")
        return data

    async def _finish(self, data: Conn) -> None:
        data.writer.close()
        try:
            async with asyncio.timeout(2.0):
                await data.writer.wait_closed()
        except asyncio.CancelledError:
            data.writer.transport.abort()
            raise
        except Exception:
            data.writer.transport.abort()

    async def listing(self, verb: str) -> None:
        data = await self._data_connection()
        if data is None:
            return
        try:
            await self.reply("150 Here comes the directory listing.")
            if verb == "NLST":
                lines = [*FAKE_FILES]
            elif verb == "MLSD":
                lines = [f"type=file;size={len(fake_file(n))}; {n}" for n in FAKE_FILES]
            else:
                lines = [
                    f"-rw-r--r--    1 0        0        {len(fake_file(n)):>8} {LISTING_DATE} {n}"
                    for n in FAKE_FILES
                ]
            await data.write("".join(line + "\r\n" for line in lines).encode())
        finally:
            await self._finish(data)
        await self.reply("226 Directory send OK.")

    async def retrieve(self, argument: bytes) -> None:
        path = self._path(argument)
        body = fake_file(posixpath.basename(path))
        data = await self._data_connection()
        if data is None:
            return
        try:
            await self.reply(
                f"150 Opening BINARY mode data connection for {path} ({len(body)} bytes)."
            )
            await data.write(body)
        finally:
            await self._finish(data)
        self._record_transfer("download", path, len(body), None, True)
        await self.reply("226 Transfer complete.")

    async def store(self, verb: str, argument: bytes) -> None:
        path = self._path(argument if verb != "STOU" else b"upload.bin")
        data = await self._data_connection()
        if data is None:
            return
        limits = self.conn.limits
        sink = BodySink(limits.max_stored_body)
        complete = False
        try:
            await self.reply("150 Ok to send data.")
            while sink.size <= limits.max_body_bytes:
                chunk = await data.read(65536)
                if not chunk:
                    complete = True
                    break
                sink.feed(chunk)
        finally:
            data.writer.transport.abort()
            self._record_transfer("upload", path, sink.size, sink, complete)
        await self.reply(
            "226 Transfer complete." if complete else "552 Exceeded storage allocation."
        )

    def _record_transfer(
        self, direction: str, path: str, size: int, sink: BodySink | None, complete: bool
    ) -> None:
        self.transfers += 1
        fields: dict[str, Any] = {
            "direction": direction,
            "user": self.user,
            "path": path,
            "size": size,
            "complete": complete,
        }
        bulky: dict[str, Any] = {}
        if sink is not None:
            fields["sha256"] = sink.sha256
            bulky["data_preview"] = self.conn.text(sink.head, self.conn.limits.max_stored_body * 4)
        self.conn.record("transfer", fields, bulky)

    def record_session(self) -> None:
        if self.passive is not None:
            self.passive.close()
        plain, bulky = self.commands.fields()
        fields = {"user": self.user, "logged_in": self.logged_in, "transfers": self.transfers}
        self.conn.record("session", {**fields, **plain}, bulky)


async def handle(runtime: Runtime, conn: Conn) -> None:
    session = FtpSession(runtime, conn)
    try:
        await session.run()
    finally:
        session.record_session()
