"""Private, readable raw views of the run's disk and of its base, journals replayed.

Owns turning the qcow2 chain into two raw images the e2fsprogs tools and the ext4 reader can
read, without ever mounting them and without ever writing to the overlay:

* ``fuse`` (root with ``/dev/fuse``): ``qemu-storage-daemon`` exports a throwaway qcow2 layer
  over the overlay, and another over its base, as raw files through FUSE, in a mount
  namespace of its own (``unshare``): no copy is made, the mounts are invisible to the rest
  of the host and vanish with the daemon, even if it is killed. Writes (the journal replay)
  land in the throwaway layers, which ``qemu-img map`` then lists exactly.
* ``copy`` (anywhere else): ``qemu-img convert`` to two sparse raw files; the replay's writes
  are not tracked, so the diff then compares every inode table instead.

In both, the ext4 journal of each view is replayed when its superblock says it needs
recovery (``e2fsck -E journal_only``, as the next mount would: a journal whose file system
does not ask for recovery is not replayed, as the kernel wipes it), as an unprivileged user.
Reads go through :class:`Reader`: straight from the file in ``copy`` mode, through a small
helper living in the daemon's namespace in ``fuse`` mode.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from .ext4 import SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, Ext4Error, parse_superblock
from .images import Chain, ImageError, Ranges, top_layer_ranges
from .tools import NOBODY, Sandbox, ToolError, run_tool

__all__ = [
    "FileReader",
    "HelperReader",
    "Reader",
    "ViewError",
    "Views",
    "fuse_available",
    "open_views",
]

MAX_READ = 16 << 20
PIPELINED = 2048
"""Read requests sent ahead of their answers (13 bytes each: well within a pipe's 64 KiB)."""

# The read helper, run with `python -I -S -c` (standard library only, nothing imported from
# this package: it must start as nobody wherever AASEE is installed). It opens the views it is
# given and answers (view, offset, length) requests with the bytes read.
_HELPER = r"""
import os, struct, sys
fds = [os.open(p, os.O_RDONLY | os.O_NOFOLLOW) for p in sys.argv[1:]]
r, w = sys.stdin.buffer, sys.stdout.buffer
w.write(struct.pack("<B", len(fds)))
for fd in fds:
    w.write(struct.pack("<Q", os.fstat(fd).st_size))
w.flush()
while True:
    head = r.read(13)
    if len(head) < 13:
        break
    view, offset, length = struct.unpack("<BQI", head)
    if view >= len(fds) or length > %d:
        w.write(struct.pack("<iI", -22, 0))
    else:
        try:
            data = os.pread(fds[view], length, offset)
        except OSError as exc:
            w.write(struct.pack("<iI", -exc.errno, 0))
        else:
            w.write(struct.pack("<iI", 0, len(data)))
            w.write(data)
    w.flush()
""" % (MAX_READ,)  # noqa: UP031


class ViewError(RuntimeError):
    """The raw views could not be set up."""


class Reader(Protocol):
    size: int

    def read(self, offset: int, length: int) -> bytes: ...

    def read_many(self, requests: list[tuple[int, int]]) -> list[bytes]:
        """Several reads at once (one round trip through the helper)."""
        ...


class FileReader:
    """Reads a raw image file directly (``copy`` mode, or tests)."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        info = os.fstat(self._fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(self._fd)
            raise ViewError(f"{path} is not a regular file")
        self.size = info.st_size

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or length > MAX_READ:
            raise ViewError(f"read of {length} bytes at {offset} refused")
        return os.pread(self._fd, length, offset)

    def read_many(self, requests: list[tuple[int, int]]) -> list[bytes]:
        return [self.read(offset, length) for offset, length in requests]

    def close(self) -> None:
        os.close(self._fd)


class _HelperChannel:
    """One read helper process serving several views."""

    def __init__(self, argv: list[str], deadline: float) -> None:
        self.deadline = deadline
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"},
            cwd="/",
            start_new_session=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in: IO[bytes] = self.process.stdin
        self._out = self.process.stdout.fileno()
        count = self._recv(1)[0]
        self.sizes = [struct.unpack("<Q", self._recv(8))[0] for _ in range(count)]

    def _recv(self, length: int) -> bytes:
        parts: list[bytes] = []
        left = length
        while left:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise ViewError("reading the disk views ran out of time")
            ready, _, _ = select.select([self._out], [], [], min(remaining, 5.0))
            if not ready:
                continue
            chunk = os.read(self._out, min(left, 1 << 20))
            if not chunk:
                raise ViewError("the read helper stopped")
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def read(self, view: int, offset: int, length: int) -> bytes:
        return self.read_many(view, [(offset, length)])[0]

    def read_many(self, view: int, requests: list[tuple[int, int]]) -> list[bytes]:
        results: list[bytes] = []
        # Requests are sent ahead of the answers, at most what the helper's input pipe holds
        # without blocking, so that neither side can wait on the other.
        for first in range(0, len(requests), PIPELINED):
            batch = requests[first : first + PIPELINED]
            for offset, length in batch:
                if offset < 0 or length < 0 or length > MAX_READ:
                    raise ViewError(f"read of {length} bytes at {offset} refused")
            try:
                self._in.write(b"".join(struct.pack("<BQI", view, o, n) for o, n in batch))
                self._in.flush()
            except (BrokenPipeError, ValueError) as exc:
                raise ViewError("the read helper stopped") from exc
            for _, length in batch:
                status, size = struct.unpack("<iI", self._recv(8))
                if status < 0:
                    raise ViewError(f"reading the disk view failed: {os.strerror(-status)}")
                if size > length:
                    raise ViewError("the read helper answered more than was asked")
                results.append(self._recv(size))
        return results

    def close(self) -> None:
        try:
            self._in.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


class HelperReader:
    def __init__(self, channel: _HelperChannel, view: int) -> None:
        self._channel = channel
        self._view = view
        self.size = channel.sizes[view]

    def read(self, offset: int, length: int) -> bytes:
        return self._channel.read(self._view, offset, length)

    def read_many(self, requests: list[tuple[int, int]]) -> list[bytes]:
        return self._channel.read_many(self._view, requests)


@dataclass
class Views:
    """The two views, where tools find them, and what setting them up found."""

    method: str
    top: Reader
    base: Reader
    top_path: str
    base_path: str
    sandbox: Sandbox
    out_dir: Path
    """Where tools may write (content dumps); owned by the tools' user."""
    replayed: Ranges = field(default_factory=Ranges)
    """Byte ranges the journal replays wrote (``fuse`` mode)."""
    full_inode_scan: bool = False
    """The replays wrote somewhere unknown (``copy`` mode): compare every inode table."""
    journal: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def fuse_available() -> bool:
    return (
        os.geteuid() == 0
        and os.path.exists("/dev/fuse")
        and all(shutil.which(t) for t in ("qemu-storage-daemon", "unshare", "nsenter", "setpriv"))
    )


def _option(path: Path) -> str:
    """``path`` as a value in a QEMU option string (a comma is written twice)."""
    return str(path).replace(",", ",,")


def _world_usable(path: Path) -> bool:
    """Whether a user without any group could read (and run) ``path``."""
    try:
        real = path.resolve(strict=True)
        for parent in real.parents:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
        return bool(os.stat(real).st_mode & stat.S_IROTH)
    except OSError:
        return False


def _interpreter(user: tuple[int, int] | None) -> tuple[str, bool]:
    """A Python the tools' user can run, and whether it can (else the helper keeps root)."""
    if user is None:
        return sys.executable, True
    stdlib = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if _world_usable(Path(sys.executable)) and _world_usable(stdlib / "os.py"):
        return sys.executable, True
    system = Path("/usr/bin/python3")
    if _world_usable(system):
        return str(system), True
    return sys.executable, False


class ViewSession:
    """Sets the views up and tears everything down again (daemon, helper, scratch files)."""

    def __init__(
        self,
        chain: Chain,
        method: str,
        deadline: float,
        tmp_root: Path | None = None,
        tool_user: tuple[int, int] | None = None,
    ) -> None:
        self.chain = chain
        self.method = method
        self.deadline = deadline
        self.user = tool_user if tool_user is not None else (NOBODY if os.geteuid() == 0 else None)
        self.workdir = Path(tempfile.mkdtemp(prefix="aasee-diskdiff-", dir=tmp_root))
        os.chmod(self.workdir, 0o711)
        self._daemon: subprocess.Popen[bytes] | None = None
        self._channel: _HelperChannel | None = None
        self._files: list[FileReader] = []
        self.skip_replay: set[str] = set()
        self.scratch: tuple[Path, Path] | None = None

    def left(self) -> float:
        return self.deadline - time.monotonic()

    # --- set-up ---------------------------------------------------------------------------
    def open(self) -> Views:
        views = self._setup()
        broken = self._replay(views)
        if broken:
            # A journal whose replay leaves no readable file system was crafted to blind this
            # diff: read that disk as it is, unreplayed, instead.
            self._teardown()
            self.skip_replay = broken
            views = self._setup()
            self._replay(views)
            for name in sorted(broken):
                views.errors.append(
                    f"replaying the {name}'s journal destroyed its file system (a crafted "
                    "journal): it was read without the replay"
                )
        return views

    def _setup(self) -> Views:
        out_dir = self.workdir / "out"
        out_dir.mkdir(mode=0o700, exist_ok=True)
        if self.user is not None:
            os.chown(out_dir, *self.user)
        if self.method == "fuse":
            return self._open_fuse(out_dir)
        if self.method == "copy":
            return self._open_copy(out_dir)
        raise ViewError(f"unknown view method {self.method!r}")

    def _host(self) -> Sandbox:
        return Sandbox(None, None)

    def _tools(self, namespace: int | None) -> Sandbox:
        return Sandbox(namespace, self.user)

    def _open_copy(self, out_dir: Path) -> Views:
        top, base = self.workdir / "top.raw", self.workdir / "base.raw"
        for source, fmt, target in (
            (self.chain.overlay, "qcow2", top),
            (self.chain.base, self.chain.base_format, base),
        ):
            result = run_tool(
                ["qemu-img", "convert", "-f", fmt, "-O", "raw", str(source), str(target)],
                self._host(),
                timeout=self.left(),
                memory=2 << 30,
                file_size=self.chain.virtual_size + (1 << 20),
            )
            if result.returncode != 0:
                raise ViewError(f"qemu-img convert failed: {result.error_text()}")
            if self.user is not None:
                os.chown(target, *self.user)
                os.chmod(target, 0o600)
        readers = [FileReader(top), FileReader(base)]
        self._files = readers
        return Views(
            "copy", readers[0], readers[1], str(top), str(base), self._tools(None), out_dir
        )

    def _scratch(self, name: str, backing: Path, fmt: str) -> Path:
        path = self.workdir / name
        result = run_tool(
            [
                "qemu-img",
                "create",
                "-q",
                "-f",
                "qcow2",
                "-u",
                "-b",
                str(backing),
                "-F",
                fmt,
                str(path),
                str(self.chain.virtual_size),
            ],
            self._host(),
            timeout=self.left(),
        )
        if result.returncode != 0:
            raise ViewError(f"qemu-img create failed: {result.error_text()}")
        return path

    def _open_fuse(self, out_dir: Path) -> Views:
        scratch_top = self._scratch("top.qcow2", self.chain.overlay, "qcow2")
        scratch_base = self._scratch("base.qcow2", self.chain.base, self.chain.base_format)
        self.scratch = (scratch_top, scratch_base)
        mounts = (self.workdir / "top.raw", self.workdir / "base.raw")
        for mount in mounts:
            mount.touch(mode=0o600)
        pidfile = self.workdir / "daemon.pid"
        argv = ["setpriv", "--pdeathsig", "TERM", "--", "unshare", "--mount"]
        argv += ["--propagation", "private", "--", "qemu-storage-daemon"]
        for name, image, mount in zip(("top", "base"), self.scratch, mounts, strict=True):
            argv += [
                "--blockdev",
                f"driver=file,node-name={name}-file,filename={_option(image)},cache.direct=off",
                "--blockdev",
                f"driver=qcow2,node-name={name},file={name}-file",
                "--export",
                f"type=fuse,id={name}-export,node-name={name},mountpoint={_option(mount)},"
                "writable=on,allow-other=on",
            ]
        argv += ["--pidfile", str(pidfile)]
        log = (self.workdir / "daemon.log").open("wb")
        try:
            self._daemon = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"},
                cwd="/",
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = min(self.deadline, time.monotonic() + 15)
        while not pidfile.exists():
            if self._daemon.poll() is not None:
                raise ViewError(f"qemu-storage-daemon failed: {self._daemon_log()}")
            if time.monotonic() > deadline:
                raise ViewError("qemu-storage-daemon did not export the disk in time")
            time.sleep(0.005)
        namespace = self._daemon.pid
        if self.user is not None:
            result = run_tool(
                ["chown", f"{self.user[0]}:{self.user[1]}", *map(str, mounts)],
                Sandbox(namespace, None),
                timeout=min(self.left(), 10),
            )
            if result.returncode != 0:
                raise ViewError(f"cannot hand the exports to the tools: {result.error_text()}")
        python, as_user = _interpreter(self.user)
        helper_box = Sandbox(namespace, self.user if as_user else None)
        argv = helper_box.prefix(cpu=int(max(self.left(), 1)) + 1, memory=512 << 20, file_size=0)
        argv += [python, "-I", "-S", "-c", _HELPER, *map(str, mounts)]
        try:
            self._channel = _HelperChannel(argv, self.deadline)
        except (OSError, ViewError, struct.error) as exc:
            raise ViewError(f"the read helper did not start: {exc}") from exc
        if self._channel.sizes != [self.chain.virtual_size] * 2:
            raise ViewError(
                f"the exported disks have {self._channel.sizes} bytes, not "
                f"{self.chain.virtual_size}: the exports are not in place"
            )
        views = Views(
            "fuse",
            HelperReader(self._channel, 0),
            HelperReader(self._channel, 1),
            str(mounts[0]),
            str(mounts[1]),
            self._tools(namespace),
            out_dir,
        )
        if not as_user:
            views.errors.append(
                "no Python the unprivileged user can run was found: the read helper ran as root"
            )
        return views

    def _daemon_log(self) -> str:
        try:
            text = (self.workdir / "daemon.log").read_bytes()[-2000:]
        except OSError:
            return "no output"
        return " ".join(text.decode("utf-8", "backslashreplace").split())[-400:]

    # --- journal --------------------------------------------------------------------------
    def _replay(self, views: Views) -> set[str]:
        """Replay the journals that need it; the views whose replay broke the superblock."""
        replayed_any = False
        broken: set[str] = set()
        for name, reader, path in (
            ("overlay", views.top, views.top_path),
            ("base", views.base, views.base_path),
        ):
            try:
                sb = parse_superblock(reader.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE), reader.size)
            except (Ext4Error, ViewError, OSError) as exc:
                views.journal[name] = f"not replayed: no valid superblock ({exc})"
                continue
            if not sb.needs_recovery:
                views.journal[name] = "clean"
                continue
            if name in self.skip_replay:
                views.journal[name] = "not replayed: its replay destroys the file system"
                continue
            try:
                result = run_tool(
                    ["e2fsck", "-E", "journal_only", "-y", path],
                    views.sandbox,
                    timeout=min(self.left(), 30),
                    memory=1 << 30,
                    file_size=self.chain.virtual_size + (1 << 20),
                    output_limit=64 << 10,
                )
            except ToolError as exc:
                views.journal[name] = f"replay failed: {exc}"
                views.errors.append(f"journal replay of the {name} failed: {exc}")
                replayed_any = True
                continue
            replayed_any = True
            # 0: nothing to fix, 1: fixed (replayed). Anything else is a failure, but part of
            # the journal may have been applied: the view is read either way.
            if result.returncode in (0, 1):
                views.journal[name] = "replayed"
            else:
                views.journal[name] = f"replay failed: {result.error_text()}"
                views.errors.append(f"journal replay of the {name} failed: {result.error_text()}")
            try:
                parse_superblock(reader.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE), reader.size)
            except (Ext4Error, ViewError, OSError):
                broken.add(name)
        if not replayed_any or broken:
            return broken
        if self.method == "copy":
            views.full_inode_scan = True
            return broken
        replayed = Ranges()
        assert self.scratch is not None
        for image in self.scratch:
            try:
                replayed = replayed.union(
                    top_layer_ranges(image, self._host(), self.left(), force_share=True)
                )
            except (ImageError, ToolError) as exc:
                views.errors.append(f"what the journal replay wrote is unknown: {exc}")
                views.full_inode_scan = True
        views.replayed = replayed
        return broken

    # --- tear-down ------------------------------------------------------------------------
    def close(self) -> None:
        self._teardown()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _teardown(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        for reader in self._files:
            reader.close()
        self._files = []
        daemon, self._daemon = self._daemon, None
        if daemon is not None and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait(timeout=10)
        for name in ("daemon.pid", "dump-top.cmd", "dump-base.cmd"):
            (self.workdir / name).unlink(missing_ok=True)


def open_views(
    chain: Chain,
    method: str,
    deadline: float,
    tmp_root: Path | None = None,
    tool_user: tuple[int, int] | None = None,
) -> tuple[ViewSession, Views]:
    """Set up the views (``method`` ``fuse``, ``copy`` or ``auto``); close the session after."""
    if method == "auto":
        method = "fuse" if fuse_available() else "copy"
    session = ViewSession(chain, method, deadline, tmp_root, tool_user)
    try:
        return session, session.open()
    except BaseException:
        session.close()
        raise
