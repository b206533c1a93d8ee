"""Host-side packet capture of the guest NIC, where the sample cannot forge or erase it.

QEMU's ``filter-dump`` object writes every frame of the guest's netdev to a pcap file.
It is added over QMP once the VM runs and removed before power-off so the file is flushed.
A context without QEMU that captures itself (``packet_capture``: a container's veth, captured
in the run's network namespace) is asked to start and stop instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from aasee.core import Event, Hook, HookParameters
from aasee.hooks._util import context_attr, copy_bounded, results_dir

FILTER_ID = "aasee-pcap"


class PcapHook(Hook):
    """configuration: ``results_dir``; ``netdev`` (default ``aenet0``); ``pcap_limit`` bytes."""

    requires: ClassVar[frozenset[str]] = frozenset({"run_dir"})

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.netdev = str(self.configuration.get("netdev", "aenet0"))
        self.limit = int(self.configuration.get("pcap_limit", 1 << 30))
        self.active = False
        self.own_capture = False
        self.context.subscribe("post_poweron", self._start)
        self.context.subscribe("pre_poweroff", self._stop)
        self.context.subscribe("post_poweroff", self._collect)

    def _capture_path(self) -> Path:
        return Path(context_attr(self, "run_dir")) / "network.pcap"

    def _start(self, event: Event) -> None:
        if context_attr(self, "config").network == "none":
            self.logger.info("the VM has no NIC: no capture")
            return
        capabilities = getattr(self.context, "capabilities", None) or ()
        if "packet_capture" in capabilities:
            start = context_attr(self, "start_packet_capture")
            self.active = bool(start(self._capture_path(), self.limit))
            self.own_capture = self.active
            return
        if "qmp" not in capabilities:
            self.logger.warning("this sandbox can neither capture nor run QMP: no pcap")
            return
        qmp = context_attr(self, "qmp")
        qmp(
            "object-add",
            **{
                "qom-type": "filter-dump",
                "id": FILTER_ID,
                "netdev": self.netdev,
                "file": str(self._capture_path()),
            },
        )
        self.active = True

    def _stop(self, event: Event) -> None:
        if self.active and self.own_capture:
            context_attr(self, "stop_packet_capture")()
            self.active = False
        elif self.active:
            context_attr(self, "qmp")("object-del", id=FILTER_ID)
            self.active = False

    def _collect(self, event: Event) -> None:
        source = self._capture_path()
        if not source.exists():
            return
        size, truncated = copy_bounded(source, results_dir(self) / "network.pcap", self.limit)
        self.context.trigger("artifact", name="network.pcap", size=size, truncated=truncated)
