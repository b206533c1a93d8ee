"""The fake IRC server: registration, MOTD, PING/PONG, channels that always let you in.

IRC bots wait for the welcome burst and end of MOTD, join their control channel and talk
there; every join and message is recorded so the C2 channel and its traffic show up.
"""

from __future__ import annotations

from typing import Any

from aasee.hooks.fakenet.conn import Conn, LineTooLong
from aasee.hooks.fakenet.lines import CommandLog, read_command
from aasee.hooks.fakenet.runtime import Runtime

VERSION = "UnrealIRCd-6.1.2"
CREATED = "Mon Jan 15 2024 at 09:30:00 UTC"
MAX_CHANNELS = 50
MAX_NICK = 30
UNREGISTERED_OK = {"NICK", "USER", "PASS", "CAP", "PING", "PONG", "QUIT"}


def parse(line: bytes) -> tuple[str, list[bytes]]:
    """(COMMAND, params) of one IRC line; a ``:trailing`` parameter keeps its spaces."""
    rest = line.strip(b" ")
    if rest.startswith(b":"):  # a prefix, which clients should not send anyway
        rest = rest.partition(b" ")[2].lstrip(b" ")
    head, colon, trailing = rest.partition(b" :")
    words = head.split()
    if not words:
        return "", []
    params = words[1:] + ([trailing] if colon else [])
    return words[0].decode("ascii", "replace").upper()[:32], params


class IrcSession:
    def __init__(self, runtime: Runtime, conn: Conn) -> None:
        self.runtime = runtime
        self.conn = conn
        self.server = runtime.config.irc_server_name
        self.commands = CommandLog(conn)
        self.nick: str | None = None
        self.user: str | None = None
        self.realname: str | None = None
        self.password: str | None = None
        self.registered = False
        self.channels: list[str] = []

    @property
    def mask(self) -> str:
        return f"{self.nick}!{self.user or 'user'}@{self.conn.info.client_ip}"

    async def send(self, *lines: str) -> None:
        # client text is echoed back (nicks, channels): never let it break the framing
        safe = (line.replace("\r", "").replace("\n", "") for line in lines)
        await self.conn.write("".join(line + "\r\n" for line in safe).encode("utf-8", "replace"))

    async def numeric(self, code: str, *params: str) -> None:
        await self.send(f":{self.server} {code} {self.nick or '*'} {' '.join(params)}")

    async def run(self) -> None:
        await self.send(
            f":{self.server} NOTICE * :*** Looking up your hostname...",
            f":{self.server} NOTICE * :*** Couldn't resolve your hostname; using your IP address",
        )
        while True:
            try:
                line = await read_command(self.conn)
            except LineTooLong:
                await self.send("ERROR :Closing Link: Excess Flood")
                return
            if line is None:
                return
            self.commands.add(line)
            command, params = parse(line)
            if not command:
                continue
            if not self.registered and command not in UNREGISTERED_OK:
                await self.numeric("451", command, ":You have not registered")
                continue
            if not await self.dispatch(command, [self.conn.text(p) for p in params]):
                return

    async def welcome(self) -> None:
        self.registered = True
        await self.numeric("001", f":Welcome to the Internet Relay Network {self.mask}")
        await self.numeric("002", f":Your host is {self.server}, running version {VERSION}")
        await self.numeric("003", f":This server was created {CREATED}")
        await self.numeric(
            "004",
            self.server,
            VERSION,
            "iowrsxzdHtIDRqpWGTSB",
            "lvhopsmntikrRcaqOALQbSeIKVfMCuzNTGj",
        )
        await self.numeric("375", f":- {self.server} Message of the Day -")
        await self.numeric("372", ":- Welcome! Please be nice.")
        await self.numeric("376", ":End of /MOTD command.")

    async def dispatch(self, command: str, params: list[str]) -> bool:
        first = params[0] if params else ""
        if command == "NICK":
            if not first:
                await self.numeric("431", ":No nickname given")
                return True
            old, self.nick = self.mask, first[:MAX_NICK]
            if self.registered:
                await self.send(f":{old} NICK :{self.nick}")
            elif self.user is not None:
                await self.welcome()
        elif command == "USER":
            self.user = first[:MAX_NICK] or "user"
            self.realname = params[-1] if len(params) > 1 else None
            if self.nick is not None and not self.registered:
                await self.welcome()
        elif command == "PASS":
            self.password = first
        elif command == "CAP":
            sub = first.upper()
            if sub == "LS":
                await self.send(f":{self.server} CAP * LS :")
            elif sub == "REQ":
                await self.send(
                    f":{self.server} CAP * NAK :{params[-1] if len(params) > 1 else ''}"
                )
        elif command == "PING":
            await self.send(f":{self.server} PONG {self.server} :{params[-1] if params else ''}")
        elif command == "PONG":
            pass
        elif command == "JOIN":
            await self.join(first)
        elif command == "PART":
            for channel in first.split(","):
                if channel in self.channels:
                    self.channels.remove(channel)
                await self.send(f":{self.mask} PART {channel}")
        elif command in ("PRIVMSG", "NOTICE"):
            text = params[-1] if len(params) > 1 else ""
            self.conn.record(
                "message", {"nick": self.nick, "command": command, "target": first, "text": text}
            )
        elif command == "MODE":
            if first == self.nick:
                await self.send(
                    f":{self.nick} MODE {self.nick} :{params[1] if len(params) > 1 else '+i'}"
                )
            elif len(params) == 1:
                await self.numeric("324", first, "+nt")
        elif command == "TOPIC":
            await self.numeric("331", first, ":No topic is set.")
        elif command == "NAMES":
            await self.numeric("366", first, ":End of /NAMES list.")
        elif command == "WHO":
            await self.numeric("315", first, ":End of /WHO list.")
        elif command == "WHOIS":
            await self.numeric("318", first, ":End of /WHOIS list.")
        elif command == "USERHOST":
            await self.numeric("302", f":{first}=+{self.user or 'user'}@{self.conn.info.client_ip}")
        elif command == "ISON":
            await self.numeric("303", ":")
        elif command == "LIST":
            await self.numeric("323", ":End of /LIST")
        elif command == "QUIT":
            reason = params[-1] if params else ""
            await self.send(f"ERROR :Closing Link: {self.conn.info.client_ip} (Quit: {reason})")
            return False
        else:
            await self.numeric("421", command, ":Unknown command")
        return True

    async def join(self, argument: str) -> None:
        if argument == "0":
            for channel in self.channels:
                await self.send(f":{self.mask} PART {channel}")
            self.channels = []
            return
        for channel in argument.split(",")[:MAX_CHANNELS]:
            if not channel:
                continue
            self.conn.record("join", {"nick": self.nick, "channel": channel})
            if channel not in self.channels and len(self.channels) < MAX_CHANNELS:
                self.channels.append(channel)
            await self.send(f":{self.mask} JOIN :{channel}")
            await self.numeric("331", channel, ":No topic is set.")
            await self.numeric("353", "=", channel, f":@{self.nick}")
            await self.numeric("366", channel, ":End of /NAMES list.")

    def record_session(self) -> None:
        plain, bulky = self.commands.fields()
        fields: dict[str, Any] = {
            "nick": self.nick,
            "user": self.user,
            "realname": self.realname,
            "password": self.password,
            "registered": self.registered,
            "channels": self.channels,
            **plain,
        }
        self.conn.record("session", fields, bulky)


async def handle(runtime: Runtime, conn: Conn) -> None:
    session = IrcSession(runtime, conn)
    try:
        await session.run()
    finally:
        session.record_session()
