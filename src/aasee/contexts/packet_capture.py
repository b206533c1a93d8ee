"""Packet capture on one interface of a network namespace, written as a pcap file.

A VM's frames are captured by QEMU itself (``filter-dump``); a container's NIC is a veth whose
host end sits in the run's namespace, so the host captures there with a raw packet socket,
where the sample cannot forge or erase what it sent. Bounded: frames beyond ``limit`` bytes of
file are counted, not written.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import dpkt

from aasee.contexts.network import enter

log = logging.getLogger(__name__)

ETH_P_ALL = 0x0003
SNAPLEN = 65535


class NamespaceCapture(threading.Thread):
    """Captures every frame of ``interface`` in ``netns`` into ``path`` until stopped."""

    def __init__(self, netns: Path, interface: str, path: Path, limit: int = 1 << 30) -> None:
        super().__init__(name=f"capture-{interface}", daemon=True)
        self.netns = netns
        self.interface = interface
        self.path = path
        self.limit = limit
        self.frames = 0
        self.dropped = 0
        self.failure: BaseException | None = None
        self.ready = threading.Event()
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            # setns moves only this thread: the socket belongs to the run's namespace.
            enter(self.netns)
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except BaseException as exc:
            self.failure = exc
            self.ready.set()
            return
        try:
            sock.bind((self.interface, ETH_P_ALL))
            sock.settimeout(0.2)
            with self.path.open("wb") as handle:
                writer = dpkt.pcap.Writer(handle, snaplen=SNAPLEN, linktype=dpkt.pcap.DLT_EN10MB)
                self.ready.set()
                written = 24
                while not self._stopping.is_set():
                    try:
                        frame = sock.recv(SNAPLEN)
                    except TimeoutError:
                        continue
                    if written + 16 + len(frame) > self.limit:
                        self.dropped += 1
                        continue
                    writer.writepkt(frame, ts=time.time())
                    written += 16 + len(frame)
                    self.frames += 1
                handle.flush()
        except BaseException as exc:
            self.failure = exc
            self.ready.set()
        finally:
            sock.close()

    def stop(self, timeout: float = 5) -> None:
        self._stopping.set()
        self.join(timeout)
        if self.is_alive():
            log.warning("the capture on %s did not stop within %.0f s", self.interface, timeout)
