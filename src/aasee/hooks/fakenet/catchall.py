"""Catch-all listeners for traffic to ports no fake service speaks: record and hang up.

The DNAT rules send every other TCP port to one port and every other UDP port to another;
what the client says first (and where it meant to go, when the kernel can tell) is logged.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from aasee.hooks.fakenet.conn import Conn
from aasee.hooks.fakenet.runtime import Runtime


async def handle_tcp(runtime: Runtime, conn: Conn) -> None:
    limits = runtime.limits
    banner = runtime.config.catchall_banner
    data = bytearray()
    ended = "timeout"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.catchall_timeout
    try:
        if banner:
            await conn.write(banner.encode("utf-8"))
        while len(data) < limits.catchall_capture_bytes:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            chunk = await conn.read(limits.catchall_capture_bytes - len(data), timeout=remaining)
            if not chunk:
                ended = "closed"
                break
            data += chunk
        else:
            ended = "limit"
    except TimeoutError:
        pass
    except (ConnectionError, OSError):
        ended = "reset"
    finally:
        conn.record(
            "connection",
            {"captured": len(data), "sha256": hashlib.sha256(data).hexdigest(), "ended": ended},
            {"data": conn.text(bytes(data), limits.catchall_capture_bytes * 4)},
        )


def handle_udp(
    runtime: Runtime,
    data: bytes,
    client: tuple[str, int],
    local: tuple[str, int],
    original: tuple[str, int] | None,
) -> bytes | None:
    limits = runtime.limits
    fields: dict[str, Any] = {
        "client_ip": client[0],
        "client_port": client[1],
        "server_ip": local[0],
        "server_port": local[1],
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if original is not None:
        fields["original_dst_ip"], fields["original_dst_port"] = original
    captured = data[: limits.catchall_capture_bytes]
    runtime.log.record(
        "catchall_udp",
        "datagram",
        fields,
        {"data": captured.decode("utf-8", "backslashreplace")},
    )
    return None
