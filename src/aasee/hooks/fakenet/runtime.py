"""What every listener shares: configuration, event log, counters, TLS context, conn ids."""

from __future__ import annotations

import itertools
import ssl
from dataclasses import dataclass, field

from aasee.hooks.fakenet.config import FakeNetConfig, FakeNetLimits
from aasee.hooks.fakenet.eventlog import EventLog, Stats


@dataclass
class Runtime:
    config: FakeNetConfig
    log: EventLog
    stats: Stats
    tls: ssl.SSLContext | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def limits(self) -> FakeNetLimits:
        return self.config.limits

    def next_id(self) -> int:
        return next(self._ids)
