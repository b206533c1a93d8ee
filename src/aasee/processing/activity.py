"""Turns a probe call whose outcome is known into file, network and ptrace records.

Owns the classification of each action: which open() is a read, a write, a creation or a
directory listing (exec loads are none of these), how socket addresses decode into
endpoints, when a datagram is a DNS query, and how a kernel return value becomes ``ok`` /
an errno name. Flags, errno values and socket types are decoded with the syscall ABI the
process was in when it made the call; socket addresses in the guest's byte order.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from aasee.arch.abi import FMODE_EXEC, SyscallAbi

from . import linux
from .clock import GuestClock
from .models import (
    Bind,
    Connection,
    DirectoryOpen,
    DnsQuery,
    FileAccess,
    FileChmod,
    FileCreate,
    FileDelete,
    FileLink,
    FileMkdir,
    FileRename,
    PtraceCall,
    UdpSend,
    UnixSocket,
)
from .records import RecordStore, merge
from .sockaddr import decode_inet, decode_unix, ipv4_from_wire, port_from_wire
from .state import PendingCall

__all__ = ["ActivityRecorder", "outcome"]

# do_filp_open returns a pointer (s64); the other probed functions return an int, which
# the probe prints widened to 64 bits.
_RET_IS_POINTER = frozenset({"open"})
_SOCK_PROTO = {
    "SOCK_STREAM": "tcp",
    "SOCK_DGRAM": "udp",
    "SOCK_RAW": "raw",
    "SOCK_SEQPACKET": "seqpacket",
}
_MAX_ERRNO = 4095
_NAMES_CACHE = 1024


def _as_s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _perms(mode: int | None) -> str | None:
    return None if mode is None else f"{mode & 0o7777:04o}"


_OK: Final = (True, None)
_UNKNOWN: Final = (None, None)


def outcome(call: PendingCall) -> tuple[bool | None, str | None]:
    """(ok, errno name) from the kretprobe result, else the syscall's; unknown is (None, None)."""
    value = call.ret
    if value is not None:
        if call.event.event not in _RET_IS_POINTER:
            value = _as_s32(value)
    else:
        value = call.sys_ret
        if value is None:
            return _UNKNOWN
    if not -_MAX_ERRNO <= value <= -1:
        return _OK
    return False, call.abi.abi.errno_name(-value)


class ActivityRecorder:
    """Writes the records of finished calls into a :class:`RecordStore`.

    ``byteorder`` is the guest's: the probes read ports and addresses as integers in it.
    """

    def __init__(
        self,
        store: RecordStore,
        clock: GuestClock | None,
        byteorder: Literal["little", "big"] = "little",
    ) -> None:
        self.store = store
        self._clock = clock
        self._byteorder: Literal["little", "big"] = byteorder
        # The buckets open() records go to, by name (see RecordStore.bucket).
        self._files = {name: store.bucket(name) for name in ("read", "written", "created")}
        # Open flags named and classified once per ABI and value: a trace repeats a handful.
        self._names: dict[tuple[str, int], str] = {}
        self._kinds: dict[tuple[str, int], tuple[str | None, bool]] = {}
        self._opens: dict[tuple[str, str | None], tuple[int, str | None, bool]] = {}

    def _iso(self, ts: float) -> str | None:
        return None if self._clock is None else self._clock.iso(ts)

    def record(self, call: PendingCall, ok: bool | None, error: str | None) -> None:
        name = call.event.event
        if name == "open":
            self.open_call(call, ok, error)
        elif name in ("connect", "bind", "bind6", "udpsend"):
            self._network(call, ok, error)
        elif name == "ptrace":
            self._ptrace(call, ok, error)
        elif name in ("chmod", "fchmodat", "fchmod"):
            self._chmod(call, ok, error)
        else:
            self._file_op(call, ok, error)

    def _base(self, call: PendingCall, ok: bool | None, error: str | None) -> dict[str, Any]:
        ts = call.event.ts
        return {
            "pid": call.event.pid,
            "process": call.proc.key,
            "time": ts,
            "time_utc": self._iso(ts),
            "ok": ok,
            "error": error,
        }

    def _flag_names(self, abi: SyscallAbi, flags: int) -> str:
        key = (abi.name, flags)
        names = self._names.get(key)
        if names is None:
            if len(self._names) >= _NAMES_CACHE:
                self._names.clear()
            names = self._names[key] = abi.open_flag_names(flags)
        return names

    def _open_kind(self, abi: SyscallAbi, flags: int) -> tuple[str | None, bool]:
        """(bucket, whether a success creates) of an open with these flags; no bucket for
        the binary and interpreter loads of an execve, and handles that cannot read or
        write (O_PATH)."""
        key = (abi.name, flags)
        kind = self._kinds.get(key)
        if kind is None:
            if len(self._kinds) >= _NAMES_CACHE:
                self._kinds.clear()
            is_tmpfile = abi.is_tmpfile(flags)
            if flags & FMODE_EXEC or flags & abi.O_PATH:
                kind = (None, False)
            elif flags & abi.O_DIRECTORY and not is_tmpfile:
                kind = ("directories", False)
            elif not (abi.writes(flags) or is_tmpfile):
                kind = ("read", False)
            else:
                kind = ("written", bool(flags & abi.O_CREAT))
            self._kinds[key] = kind
        return kind

    def open_call(self, call: PendingCall, ok: bool | None, error: str | None) -> None:
        """:meth:`record` of an ``open`` call (the most frequent)."""
        abi = call.abi.abi
        event = call.event
        # The flags as printed, read and classified once per ABI and text.
        text = event.fields.get("flags")
        found = self._opens.get((abi.name, text))
        if found is None:
            flags = event.get_int("flags") or 0
            found = (flags, *self._open_kind(abi, flags))
            if len(self._opens) >= _NAMES_CACHE:
                self._opens.clear()
            self._opens[(abi.name, text)] = found
        flags, bucket, creates = found
        if bucket is None:
            return
        store = self.store
        path = call.paths[0]
        key = (path, call.proc.key)
        if bucket == "directories":
            store.attempt(
                bucket,
                key,
                ok,
                error,
                lambda: DirectoryOpen(path=path, **self._base(call, ok, error)),
            )
            return
        # The records are only built when new and within the limit (as RecordStore.attempt).
        records = self._files[bucket]
        existing = records.get(key)
        if existing is not None:
            merge(existing, ok, error)
        elif len(records) >= store.limit:
            truncated = store.truncated
            truncated[bucket] = truncated.get(bucket, 0) + 1
        else:
            ts = event.ts
            records[key] = FileAccess(
                path=path,
                flags=self._flag_names(abi, flags),
                pid=event.pid,
                process=key[1],
                time=ts,
                time_utc=self._iso(ts),
                ok=ok,
                error=error,
            )
        if ok and creates:
            records = self._files["created"]
            existing = records.get(key)
            if existing is not None:
                merge(existing, ok, error)
            elif len(records) >= store.limit:
                truncated = store.truncated
                truncated["created"] = truncated.get("created", 0) + 1
            else:
                ts = event.ts
                records[key] = FileCreate(
                    path=path,
                    mode=_perms(event.get_int("mode")),
                    exclusive=bool(flags & abi.O_EXCL),
                    pid=event.pid,
                    process=key[1],
                    time=ts,
                    time_utc=self._iso(ts),
                    ok=ok,
                    error=error,
                )

    def _file_op(self, call: PendingCall, ok: bool | None, error: str | None) -> None:
        event = call.event
        name = event.event
        owner = call.proc.key
        base = self._base(call, ok, error)
        paths = call.paths
        store = self.store
        if name in ("unlink", "rmdir"):
            op: Literal["unlink", "rmdir"] = "unlink" if name == "unlink" else "rmdir"
            store.attempt(
                "deleted",
                (paths[0], op, owner),
                ok,
                error,
                lambda: FileDelete(path=paths[0], op=op, **base),
            )
        elif name == "mkdir":
            mode = _perms(event.get_int("mode"))
            store.attempt(
                "mkdir",
                (paths[0], owner),
                ok,
                error,
                lambda: FileMkdir(path=paths[0], mode=mode, **base),
            )
        elif name == "rename":
            store.attempt(
                "renamed",
                (paths[0], paths[1], owner),
                ok,
                error,
                lambda: FileRename(src=paths[0], dst=paths[1], **base),
            )
        elif name in ("symlink", "link"):
            kind: Literal["symlink", "link"] = "symlink" if name == "symlink" else "link"
            store.attempt(
                "links",
                (kind, paths[0], paths[1], owner),
                ok,
                error,
                lambda: FileLink(kind=kind, target=paths[0], path=paths[1], **base),
            )

    def _chmod(self, call: PendingCall, ok: bool | None, error: str | None) -> None:
        event = call.event
        mode = _perms(event.get_int("mode")) or "?"
        op: Literal["chmod", "fchmodat", "fchmod"]
        fd: int | None = None
        if event.event == "fchmod":
            op = "fchmod"
            fd = event.get_int("fd")
            entry = call.proc.fds.get(fd) if fd is not None else None
            path = entry.path if entry is not None and entry.kind != "socket" else None
        else:
            op = "chmod" if event.event == "chmod" else "fchmodat"
            path = call.paths[0]
        base = self._base(call, ok, error)
        self.store.attempt(
            "chmod",
            (path, fd, mode, op, call.proc.key),
            ok,
            error,
            lambda: FileChmod(path=path, fd=fd, mode=mode, op=op, **base),
        )

    def _network(self, call: PendingCall, ok: bool | None, error: str | None) -> None:
        event = call.event
        name = event.event
        get = event.get_int
        family = get("fam")
        port, addr = get("port") or 0, get("addr") or 0
        a6hi, a6lo = get("a6hi") or 0, get("a6lo") or 0
        result = "ok" if ok else error
        ts = event.ts
        common: dict[str, Any] = {
            "pid": event.pid,
            "process": call.proc.key,
            "time": ts,
            "time_utc": self._iso(ts),
            "result": result,
        }
        store = self.store
        if name == "udpsend":
            self._udp(call, (family, port, addr, a6hi, a6lo), result, common)
            return
        order = self._byteorder
        if name == "connect" and family == linux.AF_UNIX:
            path, cut = decode_unix(port, addr, a6hi, a6lo, get("len"), order)
            store.endpoint(
                "unix",
                (path, call.proc.key),
                result,
                lambda: UnixSocket(op="connect", path=path, path_truncated=cut, **common),
            )
            return
        endpoint = decode_inet(family, port, addr, a6hi, a6lo, order)
        if endpoint is None:
            store.drop(f"{name}_other_family")
            return
        fam, ip, dport = endpoint
        proto = "tcp"
        socket = call.proc.fds.get(call.socket_fd) if call.socket_fd is not None else None
        if socket is not None and socket.kind == "socket" and socket.sotype is not None:
            type_name = call.abi.abi.socket_type_name(socket.sotype)
            proto = _SOCK_PROTO.get(type_name or "", f"type {socket.sotype}")
        if name == "connect":
            store.endpoint(
                "connections",
                (fam, ip, dport, proto, call.proc.key),
                result,
                lambda: Connection(proto=proto, family=fam, dst_ip=ip, dst_port=dport, **common),
            )
        else:
            store.endpoint(
                "binds",
                (fam, ip, dport, proto, call.proc.key),
                result,
                lambda: Bind(proto=proto, family=fam, ip=ip, port=dport, **common),
            )

    def _udp(
        self,
        call: PendingCall,
        sockaddr: tuple[int | None, int, int, int, int],
        result: str | None,
        common: dict[str, Any],
    ) -> None:
        event = call.event
        order = self._byteorder
        endpoint = decode_inet(*sockaddr, order)
        if endpoint is None:
            # No address given to sendmsg: a connected socket, whose peer the probe also read.
            daddr, dport = event.get_int("daddr") or 0, event.get_int("dport") or 0
            if not daddr and not dport:
                self.store.drop("udp_unknown_destination")
                return
            fam: Literal["ipv4", "ipv6"] = "ipv4"
            ip, dst_port = ipv4_from_wire(daddr, order), port_from_wire(dport, order)
        else:
            fam, ip, dst_port = endpoint
        size = max(event.get_int("size") or 0, 0)
        record = self.store.endpoint(
            "udp",
            (fam, ip, dst_port, call.proc.key),
            result,
            lambda: UdpSend(family=fam, dst_ip=ip, dst_port=dst_port, bytes=0, **common),
        )
        if record is not None:
            record.bytes = min(record.bytes + size, 1 << 62)
        if dst_port == 53:
            self.store.endpoint(
                "dns",
                (ip, dst_port, call.proc.key),
                result,
                lambda: DnsQuery(server=ip, port=dst_port, **common),
            )

    def _ptrace(self, call: PendingCall, ok: bool | None, error: str | None) -> None:
        event = call.event
        request = event.get_int("request")
        if request is None:
            request = -1
        self.store.append(
            "ptrace",
            PtraceCall(
                pid=event.pid,
                process=call.proc.key,
                time=event.ts,
                time_utc=self._iso(event.ts),
                request=request,
                request_name=linux.ptrace_request_name(request),
                target=event.get_int("pid"),
                ok=ok,
                error=error,
            ),
        )
