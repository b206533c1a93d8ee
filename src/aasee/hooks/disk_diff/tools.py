"""Running a host tool on data the guest controls: bounded in time, output and resources.

Owns how every external program of the diff is started: in the private mount namespace of
the storage daemon when there is one (``nsenter``), as an unprivileged user when the host
runs as root (``setpriv``: nobody, no supplementary groups, no new privileges), under
resource limits (``prlimit``: CPU seconds, address space, file size, no core dumps), in a new
session killed whole at its deadline, with stdout and stderr captured to files whose size the
file-size limit bounds. Nothing here interprets what a tool printed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NOBODY", "Sandbox", "ToolError", "ToolResult", "run_tool"]

NOBODY = (65534, 65534)
"""uid and gid the e2fsprogs tools run as when the host runs as root."""

TOOL_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_ENV = {
    "PATH": TOOL_PATH,
    "LC_ALL": "C",
    "LANG": "C",
    # debugfs pages some listings through $PAGER when it thinks a person is reading.
    "PAGER": "__none__",
    "DEBUGFS_PAGER": "__none__",
}


class ToolError(RuntimeError):
    """A tool could not be run, ran out of time, or was killed by one of its limits."""


@dataclass(frozen=True)
class Sandbox:
    """Where and as whom tools run."""

    namespace_pid: int | None = None
    """Enter this process's mount namespace first (it holds the FUSE exports)."""
    user: tuple[int, int] | None = None
    """(uid, gid) to switch to; None keeps the caller's (when it is not root)."""

    @classmethod
    def default(cls, namespace_pid: int | None = None) -> Sandbox:
        return cls(namespace_pid, NOBODY if os.geteuid() == 0 else None)

    def prefix(self, *, cpu: int, memory: int, file_size: int) -> list[str]:
        argv: list[str] = []
        if self.namespace_pid is not None:
            argv += ["nsenter", f"--mount=/proc/{self.namespace_pid}/ns/mnt", "--"]
        if self.user is not None:
            uid, gid = self.user
            argv += [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={gid}",
                "--clear-groups",
                "--no-new-privs",
                "--",
            ]
        argv += [
            "prlimit",
            f"--cpu={max(int(cpu), 1)}",
            f"--as={int(memory)}",
            f"--fsize={int(file_size)}",
            "--core=0",
            "--",
        ]
        return argv


@dataclass(frozen=True)
class ToolResult:
    returncode: int
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    seconds: float

    def error_text(self, limit: int = 300) -> str:
        text = self.stderr.decode("utf-8", "backslashreplace").strip()
        text = " ".join(text.split())
        return text[-limit:] if text else f"exit status {self.returncode}"


def _read_capped(handle: object, limit: int) -> tuple[bytes, bool]:
    assert hasattr(handle, "seek") and hasattr(handle, "read")
    handle.seek(0)
    data: bytes = handle.read(limit + 1)
    return data[:limit], len(data) > limit


def run_tool(
    argv: Sequence[str],
    sandbox: Sandbox,
    *,
    timeout: float,
    cpu: int | None = None,
    memory: int = 1 << 30,
    file_size: int = 64 << 20,
    output_limit: int = 16 << 20,
    stdin: bytes | None = None,
    cwd: Path | None = None,
) -> ToolResult:
    """Run ``argv`` in ``sandbox``; raises :class:`ToolError` when it cannot finish.

    A non-zero exit status is not an error here (e2fsck and debugfs use them to report);
    being killed by a signal (a limit was hit) or by the deadline is.
    """
    if timeout <= 0:
        raise ToolError(f"{argv[0]}: no time left")
    cpu_seconds = int(cpu if cpu is not None else timeout + 1)
    command = sandbox.prefix(cpu=cpu_seconds, memory=memory, file_size=file_size) + list(argv)
    start = time.monotonic()
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryFile() as data_in,
    ):
        if stdin is not None:
            data_in.write(stdin)
            data_in.seek(0)
        try:
            process = subprocess.Popen(
                command,
                stdin=data_in if stdin is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=_ENV,
                cwd=str(cwd) if cwd is not None else "/",
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ToolError(f"{argv[0]} could not be started: {exc}") from exc
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            raise ToolError(f"{argv[0]} did not finish within {timeout:.1f} s") from None
        finally:
            if process.returncode is None:
                _kill(process)
        stdout, truncated = _read_capped(out, output_limit)
        stderr, _ = _read_capped(err, 64 << 10)
    seconds = time.monotonic() - start
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else ""
        raise ToolError(
            f"{argv[0]} was killed by signal {-returncode} {name} (a resource limit: "
            f"{cpu_seconds} s CPU, {memory >> 20} MiB memory, {file_size >> 20} MiB files)"
        )
    return ToolResult(returncode, stdout, stderr, truncated, seconds)


def _kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
