"""Password guessing against one service: many connection attempts to one login port."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import Endpoint, Found, ReportIndex

LOGIN_PORTS = (21, 22, 23, 110, 143, 1433, 2222, 2323, 3306, 3389, 5432, 5900, 6379)
ATTEMPTS = 10


class BruteForce(Signature):
    id = "credential_brute_force"
    name = "Makes many connection attempts to one login service"
    description = (
        f"{ATTEMPTS} or more connections to the same address on a login port (SSH, telnet, "
        "FTP, databases, RDP, VNC, Redis): password guessing."
    )
    severity = "medium"
    category = "credential-access"
    techniques = ("T1110.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        traced: dict[tuple[str, int], int] = {}
        captured: dict[tuple[str, int], int] = {}
        records: dict[tuple[str, int], list[Found[Endpoint]]] = {}
        for found in ctx.endpoints(LOGIN_PORTS):
            point = found.item
            key = (point.ip, point.port)
            records.setdefault(key, []).append(found)
            counts = captured if point.source == "flow" else traced
            counts[key] = counts.get(key, 0) + point.count
        for (ip, port), found_list in records.items():
            # The trace and the capture see the same attempts: the larger count is the truth.
            attempts = max(traced.get((ip, port), 0), captured.get((ip, port), 0))
            if attempts >= ATTEMPTS:
                for found in found_list:
                    yield found.evidence(f"{attempts} connection attempts to {ip} port {port}")
