"""Fake internet hook: runs the fake services inside the analysis's network namespace.

The services start before the VM does (the guest may talk the moment it runs) and stop
after it is off; their event log becomes ``fakenet.jsonl`` in the results.
"""

from __future__ import annotations

import asyncio
import threading
from ipaddress import IPv4Address
from pathlib import Path

from aasee.contexts.network import DNS_ADDRESS, GATEWAY, enter
from aasee.core import Event, Hook, HookParameters
from aasee.hooks._util import results_dir
from aasee.hooks.fakenet.config import FakeNetConfig
from aasee.hooks.fakenet.server import FakeInternet

PASSIVE_FTP_PORTS = (50000, 50099)


class _ServiceThread(threading.Thread):
    """An event loop on a thread that has entered the namespace before opening sockets."""

    def __init__(self, netns: Path, fake: FakeInternet) -> None:
        super().__init__(name="fakenet", daemon=True)
        self.netns = netns
        self.fake = fake
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None

    def run(self) -> None:
        try:
            enter(self.netns)  # per thread: the rest of the process stays where it was
            self.loop = asyncio.new_event_loop()
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to the starting thread, not lost
            self.failure = exc
            self.ready.set()
        finally:
            if self.loop is not None:
                self.loop.close()

    async def _serve(self) -> None:
        self._stop_event = asyncio.Event()
        await self.fake.start()
        self.ready.set()
        try:
            await self._stop_event.wait()
        finally:
            await self.fake.stop()

    def stop(self, timeout: float = 30) -> None:
        if self.loop is not None and self._stop_event is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stop_event.set)
        self.join(timeout)


class FakeNetHook(Hook):
    """configuration: ``results_dir``; ``fakenet`` (dict of FakeNetConfig fields to override);
    ``fakenet_cert_dir`` (where the per-install TLS certificate lives)."""

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.thread: _ServiceThread | None = None
        self.log_path: Path | None = None
        self.context.subscribe("pre_poweron", self._start)
        self.context.subscribe("post_poweroff", self._stop)

    def _config(self) -> FakeNetConfig:
        overrides = dict(self.configuration.get("fakenet", {}))
        cert_dir = self.configuration.get("fakenet_cert_dir", "/var/lib/aasee/fakenet-tls")
        return FakeNetConfig.model_validate(
            {
                "dns_address": IPv4Address(DNS_ADDRESS),
                "service_address": IPv4Address(GATEWAY),
                "sinkhole_ipv4": IPv4Address(GATEWAY),
                "cert_dir": Path(str(cert_dir)),
                "ftp_pasv_ports": PASSIVE_FTP_PORTS,
                **overrides,
            }
        )

    def _start(self, event: Event) -> None:
        netns = getattr(self.context, "netns_path", None)
        if netns is None:
            self.logger.info("no sandbox network namespace: fake internet not started")
            return
        mode = getattr(getattr(self.context, "config", None), "network", "fake")
        if mode != "fake":
            self.logger.info("network mode %s: fake internet not started", mode)
            return
        self.log_path = results_dir(self) / "fakenet.jsonl"
        thread = _ServiceThread(Path(netns), FakeInternet(self._config(), self.log_path))
        thread.start()
        if not thread.ready.wait(30):
            raise TimeoutError("the fake internet did not start within 30 s")
        if thread.failure is not None:
            raise RuntimeError(f"the fake internet failed to start: {thread.failure}")
        self.thread = thread
        self.context.trigger("fakenet_started", ports=thread.fake.ports)

    def _stop(self, event: Event | None = None) -> None:
        thread, self.thread = self.thread, None
        if thread is None:
            return
        thread.stop()
        self.context.trigger(
            "fakenet_stopped", stats=thread.fake.stats(), errors=thread.fake.errors()
        )

    def cleanup(self) -> None:
        self._stop()
