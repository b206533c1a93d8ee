"""A pretend QEMU context for the evidence hooks: a run directory and a QMP that writes what
QEMU would (an ELF core for dump-guest-memory, a PPM for screendump), recording each call."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from aasee.core import ContextBase, Event, HookManager, HooksConfig

ELF_CORE_HEADER = (
    b"\x7fELF\x02\x01\x01\x00" + bytes(8) + (4).to_bytes(2, "little") + (62).to_bytes(2, "little")
)


def elf_core(payload: bytes) -> bytes:
    """An ELF core header (x86-64, little-endian) padded to 64 bytes, then ``payload``."""
    return ELF_CORE_HEADER.ljust(64, b"\0") + payload


def ppm(width: int, height: int, pixels: bytes) -> bytes:
    return b"P6\n%d %d\n255\n" % (width, height) + pixels


@dataclass
class FakeConfig:
    memory_mib: int = 1
    display: bool = True


@dataclass
class Screens:
    """What the display shows: each screendump takes the next screen (the last one stays)."""

    frames: list[bytes] = field(default_factory=list)
    shown: int = 0

    def next(self) -> bytes:
        frame = self.frames[min(self.shown, len(self.frames) - 1)]
        self.shown += 1
        return frame


class FakeQemuContext(ContextBase):
    capabilities: ClassVar[frozenset[str]] = frozenset({"qmp", "run_dir", "console_log"})

    def __init__(self, run_dir: Path, *, display: bool = True, memory: bytes = b"") -> None:
        super().__init__("test-run")
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self.console_log = run_dir / "console.log"
        self.config = FakeConfig(display=display)
        self.memory = memory
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.dump_status = "completed"
        self.dump_delay = 0.0
        self.screens = Screens()
        self.artefacts: list[Event] = []
        self.running = False
        self._lock = threading.Lock()
        self.subscribe("artifact", self.artefacts.append)

    def qmp(self, command: str, **arguments: Any) -> Any:
        with self._lock:
            if not self.running:
                raise RuntimeError("the VM is not running")
            self.calls.append((command, arguments))
        if command == "dump-guest-memory":
            assert arguments["paging"] is False and arguments["format"] == "elf"
            time.sleep(self.dump_delay)
            Path(arguments["protocol"].removeprefix("file:")).write_bytes(elf_core(self.memory))
            return {}
        if command == "query-dump":
            return {"status": self.dump_status}
        if command == "screendump":
            if not self.config.display:
                raise RuntimeError("There is no QemuConsole I can screendump from.")
            Path(arguments["filename"]).write_bytes(self.screens.next())
            return {}
        raise AssertionError(f"unexpected QMP command {command}")

    def commands(self, name: str) -> list[dict[str, Any]]:
        return [arguments for command, arguments in self.calls if command == name]

    def _poweron(self) -> None:
        self.running = True

    def _pause(self) -> None: ...

    def _resume(self) -> None: ...

    def _poweroff(self) -> None:
        self.running = False

    def _shutdown(self, timeout: float | None) -> None:
        self.running = False


def load(context: ContextBase, results: Path, name: str, **configuration: Any) -> HookManager:
    config = HooksConfig(
        configuration={"results_dir": str(results)},
        hooks=[{"name": name, "configuration": configuration}],  # type: ignore[list-item]
    )
    manager = HookManager("test-run", config, context)
    manager.load()
    return manager
