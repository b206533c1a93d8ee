"""The in-guest agent: executes host requests and streams trace, output and exit events back.

Copied into the guest image at /opt/aasee with protocol.py and ftrace.py, standard library
only. ``--init`` makes it the guest's PID 1 supervisor: it reaps orphans (daemonized samples
end up there) and respawns the worker if the sample kills it. The worker talks to the host
over the virtio-serial port ``org.aasee.agent`` and survives the host disconnecting, which is
what lets a saved snapshot be restored and reconnected.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import signal
import stat
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ftrace  # noqa: E402
import protocol  # noqa: E402

AGENT_VERSION = "0.2.0"
PTRACE_DETACH = 17


def _ptrace(request: int, pid: int, addr: int, data: int) -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return int(
        libc.ptrace(
            ctypes.c_long(request), ctypes.c_long(pid), ctypes.c_void_p(addr), ctypes.c_void_p(data)
        )
    )


PORT = "/dev/virtio-ports/" + protocol.PORT_NAME
OUTPUT_LIMIT = 4 << 20
# O_NOFOLLOW: a symlink as the last component is reported, never read through. O_NONBLOCK:
# a FIFO or device swapped in after the lstat cannot block the open; fstat then refuses it.
GET_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
FILE_KINDS = (
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISLNK, "symlink"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "char"),
    (stat.S_ISBLK, "block"),
)


def file_kind(mode: int) -> str:
    for test, kind in FILE_KINDS:
        if test(mode):
            return kind
    return "other"


class Channel:
    """The virtio-serial port, reopened whenever the host side goes away."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1
        self.lock = threading.Lock()

    def open(self) -> None:
        while True:
            try:
                self.fd = os.open(self.path, os.O_RDWR)
                return
            except OSError:
                time.sleep(0.2)

    def read(self) -> bytes:
        while True:
            if self.fd < 0:
                self.open()
            try:
                data = os.read(self.fd, 1 << 16)
            except OSError:
                data = b""
            if data:
                return data
            # EOF: nobody listens on the host side yet (or any more); poll until someone does.
            time.sleep(0.05)

    def send(self, frame: bytes) -> None:
        with self.lock:
            view = memoryview(frame)
            while view:
                try:
                    written = os.write(self.fd, view)
                except BlockingIOError:
                    time.sleep(0.01)
                    continue
                view = view[written:]

    def send_json(self, message: dict[str, Any]) -> None:
        self.send(protocol.encode_json(message))

    def send_kind(self, kind: int, data: bytes) -> None:
        for start in range(0, len(data), protocol.MAX_PAYLOAD - 1):
            self.send(protocol.encode(kind, data[start : start + protocol.MAX_PAYLOAD - 1]))


class Agent:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.tracer: ftrace.Tracer | None = None
        self.upload: dict[str, Any] | None = None
        self.pumps: list[threading.Thread] = []

    # --- requests -------------------------------------------------------------------------
    def handle(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        rid = message.get("id")
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            self.channel.send_json({"re": rid, "ok": False, "error": f"unknown op {op!r}"})
            return
        try:
            result = handler(message)
        except Exception as exc:  # any failure is reported to the host, never fatal here
            self.channel.send_json(
                {"re": rid, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
            )
            return
        if result is not None:
            self.channel.send_json({"re": rid, "ok": True, **result})

    def op_ping(self, message: dict[str, Any]) -> dict[str, Any]:
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return {
            "agent_version": AGENT_VERSION,
            "protocol": protocol.VERSION,
            "kernel": os.uname().release,
            "uptime": uptime,
            "time": time.time(),
            "monotonic": time.monotonic(),
        }

    def op_settime(self, message: dict[str, Any]) -> dict[str, Any]:
        before = time.time()
        time.clock_settime(time.CLOCK_REALTIME, float(message["epoch"]))
        return {"previous": before}

    def op_put(self, message: dict[str, Any]) -> None:
        path = str(message["path"])
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        partial = path + ".part"
        self.upload = {
            "id": message.get("id"),
            "path": path,
            "partial": partial,
            "size": int(message["size"]),
            "sha256": str(message["sha256"]),
            "mode": int(message.get("mode", 0o755)),
            "received": 0,
            "hash": hashlib.sha256(),
            "file": open(partial, "wb"),
        }
        if self.upload["size"] == 0:
            self._finish_upload()
        return None

    def data(self, chunk: bytes) -> None:
        upload = self.upload
        if upload is None:
            self.channel.send_json({"ev": "error", "error": "data frame without put"})
            return
        upload["file"].write(chunk)
        upload["hash"].update(chunk)
        upload["received"] += len(chunk)
        if upload["received"] >= upload["size"]:
            self._finish_upload()

    def _finish_upload(self) -> None:
        upload = self.upload
        assert upload is not None
        self.upload = None
        upload["file"].close()
        digest = upload["hash"].hexdigest()
        if upload["received"] != upload["size"] or digest != upload["sha256"]:
            os.unlink(upload["partial"])
            self.channel.send_json(
                {"re": upload["id"], "ok": False, "error": f"upload corrupted: {digest}"}
            )
            return
        os.chmod(upload["partial"], upload["mode"])
        os.replace(upload["partial"], upload["path"])
        self.channel.send_json({"re": upload["id"], "ok": True, "sha256": digest})

    def op_exec(self, message: dict[str, Any]) -> dict[str, Any]:
        argv = [str(a) for a in message["argv"]]
        cwd = str(message.get("cwd") or "/")
        user = str(message.get("user") or "root")
        env = {str(k): str(v) for k, v in (message.get("env") or {}).items()}
        follow = bool(message.get("trace", True))
        entry = pwd.getpwnam(user)
        env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        env.setdefault("HOME", entry.pw_dir)
        env.setdefault("USER", user)
        go_read, go_write = os.pipe()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the sample's process, until execve
            try:
                os.close(go_write)
                os.read(go_read, 1)
                os.setsid()
                null = os.open("/dev/null", os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(out_write, 1)
                os.dup2(err_write, 2)
                os.closerange(3, 65536)
                if entry.pw_uid != 0:
                    os.setgid(entry.pw_gid)
                    os.initgroups(user, entry.pw_gid)
                    os.setuid(entry.pw_uid)
                os.chdir(cwd)
                signal.signal(signal.SIGPIPE, signal.SIG_DFL)
                os.execvpe(argv[0], argv, env)
            except BaseException as exc:
                os.write(2, f"aasee-agent: cannot execute {argv[0]}: {exc}\n".encode())
            os._exit(127)
        os.close(go_read)
        os.close(out_write)
        os.close(err_write)
        if self.tracer is not None and follow:
            self.tracer.follow(pid)
        os.write(go_write, b"1")
        os.close(go_write)
        for fd, stream in ((out_read, protocol.STREAM_STDOUT), (err_read, protocol.STREAM_STDERR)):
            pump = threading.Thread(target=self._pump_output, args=(fd, stream), daemon=True)
            pump.start()
            self.pumps.append(pump)
        threading.Thread(target=self._wait_exit, args=(pid,), daemon=True).start()
        return {"pid": pid, "time": time.time(), "monotonic": time.monotonic()}

    def _pump_output(self, fd: int, stream: int) -> None:
        sent = 0
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            if sent < OUTPUT_LIMIT:
                data = data[: OUTPUT_LIMIT - sent]
                sent += len(data)
                self.channel.send_kind(protocol.KIND_OUTPUT, bytes([stream]) + data)
        os.close(fd)

    def _wait_exit(self, pid: int) -> None:
        while True:
            _, status = os.waitpid(pid, 0)
            if not os.WIFSTOPPED(status):
                break
            # The sample called PTRACE_TRACEME, which made the agent its tracer: let it go with
            # its signal so that it runs on exactly as it would untraced.
            _ptrace(PTRACE_DETACH, pid, 0, os.WSTOPSIG(status))
        event: dict[str, Any] = {"ev": "exit", "pid": pid, "time": time.time()}
        if os.WIFSIGNALED(status):
            event["signal"] = os.WTERMSIG(status)
        else:
            event["code"] = os.WEXITSTATUS(status)
        self.channel.send_json(event)

    def op_trace_start(self, message: dict[str, Any]) -> dict[str, Any]:
        raw = bool(message.get("raw_syscalls", True))
        buffer_kb = int(message.get("buffer_kb", 16384))
        if self.tracer is not None and self.tracer.matches(raw, buffer_kb):
            # Armed before the snapshot was saved: nothing to redo.
            return {"errors": list(self.tracer.errors), "reused": True}
        if self.tracer is not None:
            self.tracer.stop()
        self.tracer = ftrace.Tracer(
            lambda chunk: self.channel.send_kind(protocol.KIND_TRACE, chunk),
            raw_syscalls=bool(message.get("raw_syscalls", True)),
            buffer_kb=int(message.get("buffer_kb", 16384)),
        )
        self.tracer.arm()
        return {"errors": list(self.tracer.errors)}

    def op_trace_stop(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.tracer is None:
            return {"lost": 0, "errors": []}
        stats = self.tracer.stop()
        errors = list(self.tracer.errors)
        self.tracer = None
        return {"lost": stats["lost"], "errors": errors}

    def op_get(self, message: dict[str, Any]) -> dict[str, Any]:
        """Facts about ``path`` (lstat) and, for a regular file, up to ``cap`` bytes of it.

        The bytes go out as FILE frames tagged with the request id before the reply, which
        says how many were sent and their SHA-256.
        """
        path = str(message["path"])
        cap = max(0, min(int(message["cap"]), protocol.MAX_GET_BYTES))
        rid = int(message["id"])
        if not path.startswith("/") or "\0" in path:
            raise ValueError("path must be absolute and free of NUL bytes")
        digest = hashlib.sha256()
        facts: dict[str, Any] = {"path": path, "sent": 0, "truncated": False}
        try:
            before = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return {
                **facts,
                "exists": False,
                "kind": "missing",
                "size": 0,
                "mode": 0,
                "sha256": digest.hexdigest(),
            }
        facts.update(
            exists=True,
            kind=file_kind(before.st_mode),
            size=before.st_size,
            mode=stat.S_IMODE(before.st_mode),
        )
        if facts["kind"] != "file":
            return {**facts, "sha256": digest.hexdigest()}
        fd = os.open(path, GET_FLAGS)
        try:
            now = os.fstat(fd)
            same = (now.st_dev, now.st_ino) == (before.st_dev, before.st_ino)
            if not (same and stat.S_ISREG(now.st_mode)):
                raise OSError(f"{path} was replaced while being opened")
            facts.update(size=now.st_size, mode=stat.S_IMODE(now.st_mode))
            sent = 0
            while sent < cap:
                chunk = os.read(fd, min(protocol.DATA_CHUNK, cap - sent))
                if not chunk:
                    break
                digest.update(chunk)
                self.channel.send(protocol.encode_file(rid, chunk))
                sent += len(chunk)
            # More bytes beyond the cap: the file grew or was larger than asked for.
            truncated = sent >= cap and bool(os.read(fd, 1))
        finally:
            os.close(fd)
        return {**facts, "sent": sent, "truncated": truncated, "sha256": digest.hexdigest()}

    def op_sync(self, message: dict[str, Any]) -> dict[str, Any]:
        os.sync()
        return {}

    # --- main loop ------------------------------------------------------------------------
    def serve(self) -> None:
        self.channel.open()
        self.channel.send_json({"ev": "hello", "agent_version": AGENT_VERSION})
        reader = protocol.FrameReader()
        while True:
            data = self.channel.read()
            try:
                for kind, payload in reader.feed(data):
                    if kind == protocol.KIND_JSON:
                        self.handle(protocol.decode_json(payload))
                    elif kind == protocol.KIND_DATA:
                        self.data(payload)
            except protocol.ProtocolError as exc:
                # A broken stream (e.g. a host that died mid-frame) resynchronises on reconnect.
                reader = protocol.FrameReader()
                self.channel.send_json({"ev": "error", "error": str(exc)})


def supervise() -> None:
    """PID 1: keep the worker alive and reap every orphan the sample leaves behind."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    worker = _spawn_worker()
    while True:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            time.sleep(0.5)
            continue
        if pid == worker:
            time.sleep(0.2)
            worker = _spawn_worker()


def _spawn_worker() -> int:
    pid = os.fork()
    if pid == 0:
        try:
            Agent(Channel(PORT)).serve()
        except BaseException as exc:
            print(f"aasee-agent: worker died: {exc!r}", file=sys.stderr, flush=True)
        os._exit(1)
    return pid


def main() -> None:
    if "--init" in sys.argv:
        supervise()
    else:
        Agent(Channel(json.loads(os.environ.get("AASEE_PORT", json.dumps(PORT))))).serve()


if __name__ == "__main__":
    main()
