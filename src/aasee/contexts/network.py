"""The per-analysis network: a tap in a network namespace of its own, with nowhere to go.

The namespace holds only the guest's tap (a veth for a container) and the sandbox gateway
addresses (10.0.2.2 for the fake services, 10.0.2.3 for DNS). It has no uplink and no route,
so nothing the guest sends can reach the host, the internet or another analysis. nftables
rewrites every destination to the fake services listening in the namespace (DNS, HTTP(S),
SMTP, FTP, IRC, TCP/UDP catch-alls), proxy ARP answers for any on-link address, and
forwarding is dropped.

Measured pitfalls this design avoids: a libvirt "isolated" network let the guest reach the
host's own address; QEMU user networking reaches the host unless restricted, and restricted
it offers no DNS.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from aasee.contexts.uplink import InternetUplink, RunUplink, UplinkError, remove_host_side

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
NETNS_PREFIX = "aasee-"
TAP = "aetap0"
GUEST_VETH = "aeguest0"
GATEWAY = "10.0.2.2"
DNS_ADDRESS = "10.0.2.3"
GUEST = "10.0.2.15"
GATEWAY_MAC = "52:54:00:0a:00:02"
CLONE_NEWNET = 0x40000000


class NetworkError(Exception):
    """The sandbox network could not be created or removed."""


@dataclass(frozen=True)
class ServicePorts:
    """Where the fake services listen on the gateway; everything else goes to a catch-all."""

    dns: int = 53
    http: int = 80
    https: int = 443
    smtp: tuple[int, ...] = (25, 587)
    ftp: int = 21
    irc: int = 6667
    tcp_catch_all: int = 9999
    udp_catch_all: int = 9998
    passive_ports: tuple[int, int] = (50000, 50099)
    extra_tcp: tuple[int, ...] = (465, 6697)  # SMTPS, IRC over TLS

    def direct_tcp(self) -> list[int]:
        return [self.http, self.https, *self.smtp, self.ftp, self.irc, *self.extra_tcp]


def _run(argv: list[str], input_text: str | None = None) -> None:
    result = subprocess.run(argv, input=input_text, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NetworkError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")


def ruleset(ports: ServicePorts) -> str:
    direct = ", ".join(str(p) for p in ports.direct_tcp())
    low, high = ports.passive_ports
    return f"""
table ip aasee {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    iifname "{TAP}" meta l4proto {{ tcp, udp }} th dport 53 dnat to {DNS_ADDRESS}:{ports.dns}
    iifname "{TAP}" ip daddr != {GATEWAY} tcp dport {{ {direct} }} dnat to {GATEWAY}
    iifname "{TAP}" ip daddr {GATEWAY} tcp dport {{ {direct}, {low}-{high} }} accept
    iifname "{TAP}" meta l4proto tcp dnat to {GATEWAY}:{ports.tcp_catch_all}
    iifname "{TAP}" meta l4proto udp dnat to {GATEWAY}:{ports.udp_catch_all}
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
  }}
}}
"""


class SandboxNetwork:
    """Creates and removes one analysis's namespace, tap and rules."""

    def __init__(
        self,
        identifier: str,
        owner_uid: int,
        owner_gid: int,
        ports: ServicePorts | None = None,
        uplink: InternetUplink | None = None,
        link: str = "tap",
    ) -> None:
        if link not in ("tap", "veth"):
            raise NetworkError(f"unknown guest link {link!r} (tap or veth)")
        self.link = link
        """tap: a VM's NIC backend; veth: a container's NIC, whose other end moves into it."""
        self.name = f"{NETNS_PREFIX}{identifier}"
        self.uid = owner_uid
        self.gid = owner_gid
        self.ports = ports or ServicePorts()
        self.created = False
        # With an uplink (server configuration only) the run reaches the internet instead
        # of the fake services.
        self.uplink = RunUplink(identifier, self.name, uplink) if uplink is not None else None

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    def create(self) -> None:
        _run(["ip", "netns", "add", self.name])
        self.created = True
        try:
            ns = ["ip", "-n", self.name]
            _run([*ns, "link", "set", "lo", "up"])
            if self.link == "veth":
                _run([*ns, "link", "add", TAP, "type", "veth", "peer", "name", GUEST_VETH])
            else:
                _run(
                    [
                        *ns,
                        "tuntap",
                        "add",
                        "dev",
                        TAP,
                        "mode",
                        "tap",
                        "user",
                        str(self.uid),
                        "group",
                        str(self.gid),
                    ]
                )
            # A fixed gateway MAC: a guest restored from a snapshot may have it in its ARP
            # cache from the boot that made the snapshot.
            _run([*ns, "link", "set", TAP, "address", GATEWAY_MAC])
            _run([*ns, "addr", "add", f"{GATEWAY}/24", "dev", TAP])
            _run([*ns, "addr", "add", f"{DNS_ADDRESS}/24", "dev", TAP])
            _run([*ns, "link", "set", TAP, "up"])
            exec_ns = ["ip", "netns", "exec", self.name]
            # Any on-link address the guest tries must answer ARP, or it fails before the
            # fake services see it; IPv6 is off so nothing leaves by a path we do not filter.
            _run([*exec_ns, "sysctl", "-q", "-w", f"net.ipv4.conf.{TAP}.proxy_arp=1"])
            _run([*exec_ns, "sysctl", "-q", "-w", f"net.ipv6.conf.{TAP}.disable_ipv6=1"])
            if self.uplink is None:
                _run([*exec_ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0"])
                _run([*exec_ns, "nft", "-f", "-"], input_text=ruleset(self.ports))
            else:
                self.uplink.create(TAP, DNS_ADDRESS)
        except (NetworkError, UplinkError) as exc:
            self.remove()
            raise NetworkError(str(exc)) from exc
        log.info("network namespace %s ready (tap %s)", self.name, TAP)

    def hand_over(self, pid: int, mac: str) -> None:
        """Move the veth's guest end into the network namespace of process ``pid`` (a
        container's init) and configure it there as the guest init does in a VM: ``eth0``
        with the guest's MAC and address, the gateway as default route, IPv6 off."""
        if self.link != "veth":
            raise NetworkError("only a veth link can be handed over to a container")
        _run(["ip", "-n", self.name, "link", "set", GUEST_VETH, "netns", str(pid)])
        inside = ["nsenter", "-t", str(pid), "-n"]
        _run([*inside, "ip", "link", "set", GUEST_VETH, "name", "eth0", "address", mac])
        _run([*inside, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"])
        _run([*inside, "ip", "link", "set", "lo", "up"])
        _run([*inside, "ip", "link", "set", "eth0", "up"])
        # "replace": the container's own start-up script may configure eth0 the same way
        # once it appears, before or after this.
        _run([*inside, "ip", "addr", "replace", f"{GUEST}/24", "dev", "eth0"])
        _run([*inside, "ip", "route", "replace", "default", "via", GATEWAY])

    def remove(self) -> None:
        if self.uplink is not None:
            self.uplink.remove()
        if not self.created and not self.path.exists():
            return
        result = subprocess.run(
            ["ip", "netns", "del", self.name], capture_output=True, text=True, check=False
        )
        if result.returncode != 0 and self.path.exists():
            raise NetworkError(
                f"cannot remove network namespace {self.name}: {result.stderr.strip()}"
            )
        self.created = False


def enter(netns: Path) -> None:
    """Move the calling thread (or a child before exec) into a network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(netns, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns({netns}): {os.strerror(error)}")
    finally:
        os.close(fd)


TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def open_tap(name: str) -> int:
    """Attach to the tap ``name`` of the current namespace; no virtio header on frames."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def list_sandbox_namespaces() -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(NETNS_PREFIX))


def remove_namespace(name: str) -> None:
    """Remove a run's namespace and, if it had an internet uplink, the host side of it."""
    remove_host_side(name.removeprefix(NETNS_PREFIX))
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
