"""The one way out: an analysis network with a route to the internet (``--network internet``).

Only the server configuration can enable it (``InternetUplink`` objects are built from the
settings, never from sample options). The run's namespace keeps its tap and gateway addresses,
so the guest sees the same network as with the fake internet; instead of the fake services it
gets a veth pair to the host, NAT, and the configured resolver for DNS. On the host a table of
its own (``aasee_<run>``) drops everything from the run aimed at the host itself (any local
address, whatever interface it is on), forwards only to the uplink interface, refuses the blocked
ranges (private, loopback, link-local, CGNAT, multicast by default) and masquerades. The host's
``net.ipv4.ip_forward`` must be on for any forwarding to happen; it is switched on when an
internet run starts (and logged), since there is no per-interface equivalent for IPv4.

Each run gets a /30 transit subnet from ``TRANSIT_POOL``; the first free one is taken under a
lock, so concurrent runs never share addresses.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import logging
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

TRANSIT_POOL = ipaddress.IPv4Network("100.127.0.0/16")
LOCK_PATH = Path("/run/aasee-transit.lock")
INSIDE_VETH = "aeup0"
HOST_TABLE_PREFIX = "aasee_"
DEFAULT_BLOCKED = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
)


class UplinkError(Exception):
    """The internet uplink of a run could not be set up or removed."""


@dataclass(frozen=True)
class InternetUplink:
    """Where internet runs leave the host: built from the server configuration only."""

    interface: str
    dns: str
    blocked: tuple[str, ...] = field(default=DEFAULT_BLOCKED)

    def __post_init__(self) -> None:
        try:
            ipaddress.IPv4Address(self.dns)
            for network in self.blocked:
                ipaddress.IPv4Network(network)
        except ValueError as exc:
            raise UplinkError(f"invalid internet uplink configuration: {exc}") from exc
        if not self.interface or "/" in self.interface or len(self.interface) > 15:
            raise UplinkError(f"invalid uplink interface name {self.interface!r}")


def _run(argv: list[str], input_text: str | None = None) -> str:
    result = subprocess.run(argv, input=input_text, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise UplinkError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")
    return result.stdout


def host_table(identifier: str) -> str:
    return HOST_TABLE_PREFIX + identifier.replace("-", "_")


def host_veth(identifier: str) -> str:
    return "aev" + identifier.replace("-", "")[:12]


@contextmanager
def _transit_lock() -> Iterator[None]:
    with LOCK_PATH.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _used_transit_subnets() -> set[ipaddress.IPv4Network]:
    used = set()
    for link in json.loads(_run(["ip", "-j", "-4", "addr", "show"]) or "[]"):
        for info in link.get("addr_info", []):
            interface = ipaddress.IPv4Interface(f"{info['local']}/{info['prefixlen']}")
            if interface.ip in TRANSIT_POOL:
                used.add(ipaddress.IPv4Network(f"{interface.ip}/30", strict=False))
    return used


def host_rules(identifier: str, uplink: InternetUplink, transit: ipaddress.IPv4Network) -> str:
    table = host_table(identifier)
    veth = host_veth(identifier)
    blocked = ", ".join(uplink.blocked)
    return f"""
table ip {table} {{
  chain input {{
    type filter hook input priority filter - 10; policy accept;
    iifname "{veth}" drop
  }}
  chain forward {{
    type filter hook forward priority filter - 10; policy accept;
    iifname "{veth}" ip daddr {{ {blocked} }} drop
    iifname "{veth}" oifname != "{uplink.interface}" drop
    oifname "{veth}" ct state established,related accept
    oifname "{veth}" drop
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {transit} oifname "{uplink.interface}" masquerade
  }}
}}
"""


def namespace_rules(tap: str, dns_address: str, uplink: InternetUplink) -> str:
    dns = f"ip daddr {dns_address} meta l4proto {{ tcp, udp }} th dport 53"
    return f"""
table ip aasee {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    iifname "{tap}" {dns} dnat to {uplink.dns}
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    iifname "{tap}" oifname "{INSIDE_VETH}" accept
    iifname "{INSIDE_VETH}" oifname "{tap}" ct state established,related accept
  }}
  chain input {{
    type filter hook input priority filter; policy drop;
    iifname "lo" accept
    ct state established,related accept
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{INSIDE_VETH}" masquerade
  }}
}}
"""


class RunUplink:
    """The veth pair, routes and rules connecting one run's namespace to the uplink."""

    def __init__(self, identifier: str, namespace: str, uplink: InternetUplink) -> None:
        self.identifier = identifier
        self.namespace = namespace
        self.uplink = uplink
        self.transit: ipaddress.IPv4Network | None = None

    def create(self, tap: str, dns_address: str) -> None:
        veth = host_veth(self.identifier)
        with _transit_lock():
            used = _used_transit_subnets()
            self.transit = next(
                (net for net in TRANSIT_POOL.subnets(new_prefix=30) if net not in used), None
            )
            if self.transit is None:
                raise UplinkError(f"no free transit subnet left in {TRANSIT_POOL}")
            host_ip, inside_ip = list(self.transit.hosts())
            _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", INSIDE_VETH])
            _run(["ip", "link", "set", INSIDE_VETH, "netns", self.namespace])
            _run(["ip", "addr", "add", f"{host_ip}/30", "dev", veth])
        _run(["ip", "link", "set", veth, "up"])
        ns = ["ip", "-n", self.namespace]
        _run([*ns, "addr", "add", f"{inside_ip}/30", "dev", INSIDE_VETH])
        _run([*ns, "link", "set", INSIDE_VETH, "up"])
        _run([*ns, "route", "add", "default", "via", str(host_ip)])
        exec_ns = ["ip", "netns", "exec", self.namespace]
        _run([*exec_ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        _run(
            [*exec_ns, "nft", "-f", "-"], input_text=namespace_rules(tap, dns_address, self.uplink)
        )
        _run(["nft", "-f", "-"], input_text=host_rules(self.identifier, self.uplink, self.transit))
        forwarding = Path("/proc/sys/net/ipv4/ip_forward")
        if forwarding.read_text().strip() != "1":
            log.warning("enabling host IPv4 forwarding (net.ipv4.ip_forward=1) for internet runs")
            forwarding.write_text("1\n")
        log.warning(
            "run %s has INTERNET access through %s (transit %s, DNS %s)",
            self.identifier,
            self.uplink.interface,
            self.transit,
            self.uplink.dns,
        )

    def remove(self) -> None:
        remove_host_side(self.identifier)


def remove_host_side(identifier: str) -> None:
    """Remove a run's host table and veth (the namespace's end goes with the namespace)."""
    subprocess.run(
        ["nft", "delete", "table", "ip", host_table(identifier)], capture_output=True, check=False
    )
    subprocess.run(["ip", "link", "del", host_veth(identifier)], capture_output=True, check=False)


def list_host_tables() -> list[str]:
    """Run identifiers of the uplink tables present on the host."""
    result = subprocess.run(
        ["nft", "-j", "list", "tables", "ip"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return []
    names = []
    for item in json.loads(result.stdout or "{}").get("nftables", []):
        name = item.get("table", {}).get("name", "")
        if name.startswith(HOST_TABLE_PREFIX):
            names.append(name[len(HOST_TABLE_PREFIX) :].replace("_", "-"))
    return names
