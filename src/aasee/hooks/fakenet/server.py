"""FakeInternet: starts, runs and stops every fake service, in the caller's loop or a thread."""

from __future__ import annotations

import asyncio
import errno
import functools
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from aasee.hooks.fakenet import catchall, ftpd, ircd, smtpd
from aasee.hooks.fakenet.config import FakeNetConfig
from aasee.hooks.fakenet.conn import Conn
from aasee.hooks.fakenet.dnsd import DnsService
from aasee.hooks.fakenet.eventlog import EventLog, Stats
from aasee.hooks.fakenet.httpd import HttpService
from aasee.hooks.fakenet.runtime import Runtime
from aasee.hooks.fakenet.tcp import Handler, TcpListener
from aasee.hooks.fakenet.tls import TlsFiles, ensure_certificates, server_context
from aasee.hooks.fakenet.udp import UdpListener

DNS_PORT_TRIES = 20


class FakeInternet:
    """The fake services of one analysis network, bound to the configured addresses.

    Use ``await start()`` / ``await stop()`` inside an event loop, or ``start_in_thread()``
    / ``stop_in_thread()`` from synchronous code (the services then get their own loop).
    """

    def __init__(self, config: FakeNetConfig, log_path: Path) -> None:
        self.config = config
        self.log_path = Path(log_path)
        self._stats = Stats()
        limits = config.limits
        self._log = EventLog(
            self.log_path, self._stats, limits.log_full_bytes, limits.log_max_bytes
        )
        self._tcp: list[TcpListener] = []
        self._udp: list[UdpListener] = []
        self._ports: dict[str, list[int]] = {}
        self._tls_files: TlsFiles | None = None
        self._running = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- inspection -------------------------------------------------------------------

    @property
    def ports(self) -> dict[str, list[int]]:
        """Bound ports per service (useful when the configuration asked for port 0)."""
        return {service: list(ports) for service, ports in self._ports.items()}

    @property
    def tls_files(self) -> TlsFiles | None:
        """The CA and server certificate in use, once started with a TLS service."""
        return self._tls_files

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per service (connections, active, rejected, bytes, errors...) and log."""
        return self._stats.snapshot()

    def errors(self) -> list[dict[str, str]]:
        """The most recent handler errors (bounded)."""
        return self._stats.errors()

    # -- asyncio interface ------------------------------------------------------------

    def _needs_tls(self) -> bool:
        config = self.config
        # plain SMTP needs the context too, for STARTTLS
        tls_ports = (config.https_port, config.ircs_port, *config.smtps_ports, *config.smtp_ports)
        return any(port is not None for port in tls_ports)

    async def start(self) -> None:
        if self._running:
            raise RuntimeError("FakeInternet is already running")
        config = self.config
        tls = None
        if self._needs_tls():
            self._tls_files = await asyncio.to_thread(
                ensure_certificates, config.cert_dir, config.tls_ca_name, config.tls_common_name
            )
            tls = server_context(self._tls_files)
        self._log.open()
        self._ports = {}
        runtime = Runtime(config, self._log, self._stats, tls)
        try:
            self._bind(runtime)
        except BaseException:
            await self._close_listeners()
            self._log.close()
            raise
        for tcp in self._tcp:
            tcp.start()
        for udp in self._udp:
            udp.start()
        self._running = True
        self._log.record(
            "fakenet",
            "started",
            {
                "dns_address": str(config.dns_address),
                "service_address": str(config.service_address),
                "ports": self.ports,
            },
        )

    async def stop(self) -> None:
        """Close every listener and connection; returns once their sockets are closed."""
        if not self._running:
            return
        self._running = False
        await self._close_listeners()
        # let transports run their connection_lost callbacks, which close the sockets
        for _ in range(3):
            await asyncio.sleep(0)
        self._log.record("fakenet", "stopped", {"stats": self._stats.snapshot()})
        self._log.close()

    async def __aenter__(self) -> FakeInternet:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- thread interface -------------------------------------------------------------

    def start_in_thread(self, timeout: float = 60.0) -> None:
        """Run the services on a new event loop in a daemon thread; returns once bound."""
        if self._thread is not None:
            raise RuntimeError("FakeInternet is already running in a thread")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(self._loop_exception)

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=run, name="fakenet", daemon=True)
        self._thread, self._loop = thread, loop
        thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("the fake internet did not start in time")
        if failure:
            thread.join()
            self._thread = self._loop = None
            raise failure[0]

    def stop_in_thread(self, timeout: float = 30.0) -> None:
        """Stop what ``start_in_thread`` started; returns once all sockets are closed."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self._thread = self._loop = None

    def __enter__(self) -> FakeInternet:
        self.start_in_thread()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_in_thread()

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # anything that escapes to the loop is counted, not printed over the caller's output
        exc = context.get("exception")
        self._stats.error("loop", str(context.get("message", ""))[:200], exc or Exception("?"))

    # -- listeners --------------------------------------------------------------------

    def _tcp_listener(
        self, runtime: Runtime, service: str, port: int, handler: Handler, tls: bool = False
    ) -> None:
        listener = TcpListener(runtime, service, handler, runtime.tls if tls else None)
        self._tcp.append(listener)
        self._ports.setdefault(service, []).append(
            listener.bind(str(self.config.service_address), port)
        )

    def _bind(self, runtime: Runtime) -> None:
        config = self.config
        if config.dns_port is not None:
            self._bind_dns(runtime, config.dns_port)

        def bound(function: Callable[[Runtime, Conn], Awaitable[None]]) -> Handler:
            return functools.partial(function, runtime)

        http = HttpService(runtime, "http").handle
        https = HttpService(runtime, "https").handle
        tcp: list[tuple[str, int | None, Handler, bool]] = [
            ("http", config.http_port, http, False),
            ("https", config.https_port, https, True),
            *(("smtp", port, bound(smtpd.handle), False) for port in config.smtp_ports),
            *(("smtps", port, bound(smtpd.handle), True) for port in config.smtps_ports),
            ("ftp", config.ftp_port, bound(ftpd.handle), False),
            ("irc", config.irc_port, bound(ircd.handle), False),
            ("ircs", config.ircs_port, bound(ircd.handle), True),
            ("catchall_tcp", config.catchall_tcp_port, bound(catchall.handle_tcp), False),
        ]
        for service, port, handler, tls in tcp:
            if port is not None:
                self._tcp_listener(runtime, service, port, handler, tls)
        if config.catchall_udp_port is not None:
            udp = UdpListener(
                runtime, "catchall_udp", functools.partial(catchall.handle_udp, runtime)
            )
            self._udp.append(udp)
            port = udp.bind(
                str(config.service_address), config.catchall_udp_port, original_dst=True
            )
            self._ports["catchall_udp"] = [port]

    def _bind_dns(self, runtime: Runtime, wanted: int) -> None:
        """UDP and TCP on one port, which with port 0 may take a few tries to find."""
        service = DnsService(runtime)
        address = str(self.config.dns_address)
        for attempt in range(DNS_PORT_TRIES):
            udp = UdpListener(runtime, "dns", service.datagram)
            port = udp.bind(address, wanted)
            tcp = TcpListener(runtime, "dns", service.stream)
            try:
                tcp.bind(address, port)
            except OSError as exc:
                udp.close()
                if wanted != 0 or exc.errno != errno.EADDRINUSE or attempt + 1 == DNS_PORT_TRIES:
                    raise
                continue
            self._udp.append(udp)
            self._tcp.append(tcp)
            self._ports["dns"] = [port]
            return

    async def _close_listeners(self) -> None:
        await asyncio.gather(*(tcp.close() for tcp in self._tcp), return_exceptions=True)
        for udp in self._udp:
            udp.close()
        self._tcp, self._udp = [], []
