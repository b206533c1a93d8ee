"""Sample runner: uploads the sample into the guest, starts it, and reports how it ended.

ELF files and scripts with a ``#!`` line are executed directly; other shell and Python
scripts through their interpreter; Windows PE files as ``wine <path>`` with the Wine
guest's environment (``images.wine_prefix``), from the Windows user's Downloads folder.
A PE file Wine cannot run (a driver, .NET code without a runtime, another machine) is not
started at all: it is announced as not executed with the reason. The sample keeps its own
file name (malware checks it), reduced to characters that are safe in a guest path.

A sample that cannot be executed (the kernel refuses the binary, its interpreter or its
loader is missing, its shared libraries cannot be loaded) is announced as
``sample_not_executed`` with the reason: such a run proves nothing about the sample and
must never read as benign.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import IO

from aasee.arch.pe_header import PE_HEAD_BYTES, identify_pe
from aasee.core import Event, Hook, HookParameters
from aasee.hooks._util import results_dir
from aasee.images.wine_prefix import WINE_ENV, WINE_LOADER, windows_sample_dir

INTERPRETERS = {".sh": ["/bin/sh"], ".bash": ["/bin/bash"], ".py": ["/usr/bin/python3"]}
# What dynamic loaders print when a program's libraries are missing: it never ran its code.
LOADER_FAILURES = (
    b"error while loading shared libraries",
    b"Error loading shared library",
    b"Error relocating",
)
STDERR_KEPT = 4096


def guest_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "sample"
    return cleaned[:100]


def guest_argv(data: bytes, guest_path: str, arguments: list[str]) -> list[str]:
    if data.startswith(b"\x7fELF") or data.startswith(b"#!"):
        return [guest_path, *arguments]
    if identify_pe(data[:PE_HEAD_BYTES]) is not None:
        return [WINE_LOADER, guest_path, *arguments]
    interpreter = INTERPRETERS.get(Path(guest_path).suffix.lower())
    if interpreter is None and _looks_like_text(data):
        interpreter = ["/bin/sh"]
    return [*(interpreter or []), guest_path, *arguments]


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    return bool(head) and b"\0" not in head


class SampleRunnerHook(Hook):
    """configuration: ``results_dir``, ``sample_path`` (host), ``sample_name``, ``arguments``,
    ``guest_dir`` (default /tmp), ``user`` (default root), ``env`` (dict), ``protect_tracer``
    (default true: the guest kernel is locked down once the tracer follows the sample)."""

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.outputs: dict[int, IO[bytes]] = {}
        self.root_pid: int | None = None
        self.stderr_head = b""
        self.context.subscribe("agent_ready", self._run)

    def _run(self, event: Event) -> None:
        agent = event.agent
        host_path = Path(str(self.configuration["sample_path"]))
        data = host_path.read_bytes()
        name = guest_name(str(self.configuration.get("sample_name") or host_path.name))
        pe = identify_pe(data[:PE_HEAD_BYTES])
        default_dir = windows_sample_dir() if pe is not None else "/tmp"
        guest_dir = str(self.configuration.get("guest_dir", default_dir)).rstrip("/") or "/"
        guest_path = f"{guest_dir}/{name}"
        arguments = [str(a) for a in self.configuration.get("arguments", [])]
        argv = guest_argv(data, guest_path, arguments)
        env = {str(k): str(v) for k, v in dict(self.configuration.get("env", {})).items()}
        if pe is not None:
            env = {**WINE_ENV, **env}
            refused = pe.not_runnable_reason()
            if refused is not None:
                agent.put(data, guest_path, mode=0o755)
                self.context.trigger(
                    "sample_not_executed", reason=f"the sample was not started: {refused}"
                )
                return
        out = results_dir(self)
        self.outputs = {1: (out / "stdout.txt").open("wb"), 2: (out / "stderr.txt").open("wb")}
        agent.output_sinks.append(self._output)
        agent.event_sinks.append(self._guest_event)
        uploading = time.monotonic()
        agent.put(data, guest_path, mode=0o755)
        executing = time.monotonic()
        reply = agent.execute(
            argv,
            cwd=guest_dir,
            user=str(self.configuration.get("user", "root")),
            env=env,
            protect=bool(self.configuration.get("protect_tracer", True)),
        )
        self.root_pid = reply.pid
        self.logger.debug(
            "sample uploaded in %.3f s, started in %.3f s",
            executing - uploading,
            time.monotonic() - executing,
        )
        self.context.trigger(
            "sample_started",
            pid=reply.pid,
            argv=argv,
            guest_path=guest_path,
            time=reply.time,
            monotonic=reply.monotonic,
            cwd=guest_dir,
            tracer_protection=reply.tracer_protection,
        )
        if reply.tracer_protection not in (None, "lockdown"):
            self.logger.warning("tracer: %s", reply.tracer_protection)
        if reply.exec_error is not None:
            self.context.trigger(
                "sample_not_executed",
                reason=f"the guest could not execute {argv[0]}: {reply.exec_error}"
                + _explain(data, reply.errno),
            )

    def _output(self, stream: int, data: bytes) -> None:
        if stream == 2 and len(self.stderr_head) < STDERR_KEPT:
            self.stderr_head += data[: STDERR_KEPT - len(self.stderr_head)]
        handle = self.outputs.get(stream)
        if handle is not None:
            handle.write(data)
            handle.flush()

    def _guest_event(self, guest_event: object) -> None:
        if getattr(guest_event, "ev", None) == "exit":
            pid = getattr(guest_event, "pid", None)
            code = getattr(guest_event, "code", None)
            if pid == self.root_pid and code == 127:
                failure = next((m for m in LOADER_FAILURES if m in self.stderr_head), None)
                if failure is not None:
                    line = next((x for x in self.stderr_head.splitlines() if failure in x), failure)
                    self.context.trigger(
                        "sample_not_executed",
                        reason="the program's dynamic loader failed before it ran: "
                        + line.decode(errors="replace")[:300],
                    )
            self.context.trigger(
                "sample_exited",
                pid=getattr(guest_event, "pid", None),
                code=getattr(guest_event, "code", None),
                signal=getattr(guest_event, "signal", None),
                time=getattr(guest_event, "time", None),
            )

    def cleanup(self) -> None:
        for handle in self.outputs.values():
            handle.close()
        self.outputs = {}


ENOENT = 2
ENOEXEC = 8


def _explain(data: bytes, errno: int | None) -> str:
    """Why execve may have failed, in terms of the sample itself."""
    if errno == ENOEXEC:
        return " (the guest kernel does not run this kind of program)"
    if errno == ENOENT and data.startswith(b"#!"):
        interpreter = data[2:].split(b"\n", 1)[0].strip().split(b" ", 1)[0]
        return f" (its interpreter {interpreter.decode(errors='replace')[:200]} is missing)"
    if errno == ENOENT and identify_pe(data[:PE_HEAD_BYTES]) is not None:
        return (
            " (this guest has no Wine: Windows programs run in the Wine guest, built with "
            "`aasee image build --profile windows`)"
        )
    if errno == ENOENT and data.startswith(b"\x7fELF"):
        return " (its program interpreter, the dynamic loader it names, is missing)"
    return ""
