"""Sample runner: uploads the sample into the guest, starts it, and reports how it ended.

ELF files and scripts with a ``#!`` line are executed directly; other shell and Python
scripts through their interpreter. The sample keeps its own file name (malware checks it),
reduced to characters that are safe in a guest path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO

from aasee.core import Event, Hook, HookParameters
from aasee.hooks._util import results_dir

INTERPRETERS = {".sh": ["/bin/sh"], ".bash": ["/bin/bash"], ".py": ["/usr/bin/python3"]}


def guest_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "sample"
    return cleaned[:100]


def guest_argv(data: bytes, guest_path: str, arguments: list[str]) -> list[str]:
    if data.startswith(b"\x7fELF") or data.startswith(b"#!"):
        return [guest_path, *arguments]
    interpreter = INTERPRETERS.get(Path(guest_path).suffix.lower())
    if interpreter is None and _looks_like_text(data):
        interpreter = ["/bin/sh"]
    return [*(interpreter or []), guest_path, *arguments]


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    return bool(head) and b"\0" not in head


class SampleRunnerHook(Hook):
    """configuration: ``results_dir``, ``sample_path`` (host), ``sample_name``, ``arguments``,
    ``guest_dir`` (default /tmp), ``user`` (default root), ``env`` (dict)."""

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.outputs: dict[int, IO[bytes]] = {}
        self.context.subscribe("agent_ready", self._run)

    def _run(self, event: Event) -> None:
        agent = event.agent
        host_path = Path(str(self.configuration["sample_path"]))
        data = host_path.read_bytes()
        name = guest_name(str(self.configuration.get("sample_name") or host_path.name))
        guest_dir = str(self.configuration.get("guest_dir", "/tmp")).rstrip("/") or "/"
        guest_path = f"{guest_dir}/{name}"
        arguments = [str(a) for a in self.configuration.get("arguments", [])]
        argv = guest_argv(data, guest_path, arguments)
        out = results_dir(self)
        self.outputs = {1: (out / "stdout.txt").open("wb"), 2: (out / "stderr.txt").open("wb")}
        agent.output_sinks.append(self._output)
        agent.event_sinks.append(self._guest_event)
        agent.put(data, guest_path, mode=0o755)
        reply = agent.execute(
            argv,
            cwd=guest_dir,
            user=str(self.configuration.get("user", "root")),
            env={str(k): str(v) for k, v in dict(self.configuration.get("env", {})).items()},
        )
        self.context.trigger(
            "sample_started",
            pid=reply.pid,
            argv=argv,
            guest_path=guest_path,
            time=reply.time,
            monotonic=reply.monotonic,
            cwd=guest_dir,
        )

    def _output(self, stream: int, data: bytes) -> None:
        handle = self.outputs.get(stream)
        if handle is not None:
            handle.write(data)
            handle.flush()

    def _guest_event(self, guest_event: object) -> None:
        if getattr(guest_event, "ev", None) == "exit":
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
