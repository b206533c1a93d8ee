"""Every architecture's guest: built (cached), booted, ready, traced, saved and restored.

For each profile: the image builds from Debian's archive (or comes from the cache), a cold
boot reaches a ready agent whose ``ping`` names the right machine, that state is saved and
restored into a fresh QEMU, and there the tracer arms with no probe refused by the kernel
and records the argv of a program started with known arguments. The device guests also run
dynamically linked programs of their C libraries (ARMv5 soft-float ones on armhf too).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aasee.arch import ArchProfile, profiles
from aasee.contexts.accel import choose_accel
from aasee.contexts.machine import MachineSpec, qemu_argv
from aasee.contexts.qemu_config import GuestSpec, QemuConfig
from aasee.contexts.qemu_process import QemuProcessContext
from aasee.contexts.snapshots import Snapshot, create_snapshot
from aasee.guest.client import AgentClient, GuestEvent, PingReply
from aasee.guest.probes import plan_for
from aasee.images.builder import ImageBuilder, recipe_for
from aasee.images.debian_packages import DebianArchive, extract_deb
from aasee.images.store import GuestImage, aasee_home, cache_dir

pytestmark = pytest.mark.vm

# What `uname -m` (the agent's ping `machine`) says on each guest.
MACHINE = {
    "x86_64": "x86_64",
    "aarch64": "aarch64",
    "armhf": "armv7l",
    "mipsel": "mips",
    "mips": "mips",
}
ARGS = ["ALPHA1", "BETA22", "GAMMA333"]
# Malta routes PCI interrupts only to slots 18-21 (Linux's malta irq table): a device
# elsewhere gets no interrupt and its virtqueues fail (virtio_* "Error -22 initializing vqs").
MALTA_IRQ_SLOTS = range(0x12, 0x16)


def _malta_slots_problem(profile: ArchProfile) -> str | None:
    if profile.emulation.machine != "malta":
        return None
    spec = MachineSpec(
        name="probe",
        uuid=str(uuid.uuid4()),
        profile=profile,
        accel="tcg",
        memory_mib=256,
        vcpus=1,
        kernel=Path("k"),
        initrd=Path("i"),
        cmdline="",
        disk=Path("d"),
        agent_socket=Path("a"),
        console_log=Path("c"),
    )
    slots = [
        int(m.group(1), 16) for m in re.finditer(r"addr=(0x[0-9a-f]+)", " ".join(qemu_argv(spec)))
    ]
    wrong = [hex(s) for s in slots if s not in MALTA_IRQ_SLOTS]
    if wrong:
        return (
            f"machine.py puts virtio devices on Malta PCI slots {', '.join(wrong)}, which have "
            "no interrupt line (Linux's Malta routes slots 0x12-0x15 only)"
        )
    return None


@pytest.fixture(scope="module")
def snapshot_root() -> Iterator[Path]:
    root = aasee_home() / "test-guest-snapshots"
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _config(image: GuestImage) -> QemuConfig:
    profile = image.profile()
    return QemuConfig(
        guest=GuestSpec(image.name, image.disk, image.kernel, image.initrd, image.cmdline, profile),
        accel=choose_accel(profile, image.kernel, "auto", cache_dir()),
        runs_dir=aasee_home() / "runs",
        memory_mib=profile.emulation.default_memory_mib,
        network="isolated",
    )


class _Guest:
    """A connected agent, collecting output, events and trace."""

    def __init__(self, socket: Path) -> None:
        self.agent = AgentClient(socket)
        self.output = bytearray()
        self.trace = bytearray()
        self.exits: list[GuestEvent] = []
        self._lock = threading.Lock()
        self.agent.output_sinks.append(lambda _fd, data: self._add(self.output, data))
        self.agent.trace_sinks.append(lambda data: self._add(self.trace, data))
        self.agent.event_sinks.append(self._event)

    def _add(self, buffer: bytearray, data: bytes) -> None:
        with self._lock:
            buffer.extend(data)

    def _event(self, event: GuestEvent) -> None:
        if event.ev == "exit":
            self.exits.append(event)

    def ready(self, timeout: float) -> PingReply:
        self.agent.connect(timeout=60)
        return self.agent.wait_ready(timeout)

    def run(self, argv: list[str], timeout: float = 60) -> int:
        pid = self.agent.execute(argv).pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.exits:
                if event.pid == pid:
                    time.sleep(0.3)  # the last output frames
                    return event.code if event.code is not None else -1
            time.sleep(0.05)
        raise TimeoutError(f"{argv} did not exit in {timeout} s")


@pytest.fixture(scope="module", params=profiles(), ids=lambda p: p.name)
def built(request: pytest.FixtureRequest, snapshot_root: Path) -> tuple[GuestImage, Snapshot]:
    """The guest image (cached) and a ready snapshot made by a cold boot of it."""
    profile: ArchProfile = request.param
    problem = _malta_slots_problem(profile)
    if problem:
        pytest.xfail(problem)
    image = ImageBuilder(recipe_for(profile)).build()
    assert image.arch == profile.name
    pings: list[PingReply] = []

    def wait_ready(socket: Path, timeout: float) -> None:
        guest = _Guest(socket)
        try:
            pings.append(guest.ready(timeout))
        finally:
            guest.agent.close()

    snapshot = create_snapshot(
        snapshot_root, image.name, image.inputs_key, _config(image), wait_ready, 240
    )
    assert pings and pings[0].machine == MACHINE[profile.name]
    return image, snapshot


@pytest.mark.timeout(3600)  # a cold cache builds the big-endian MIPS kernel (~15 min)
def test_guest_restores_ready_and_traces_argv(
    built: tuple[GuestImage, Snapshot], no_leftovers: None
) -> None:
    image, snapshot = built
    profile = image.profile()
    context = QemuProcessContext(
        str(uuid.uuid4()), _config(image), disk_base=snapshot.disk, state_file=snapshot.state
    )
    try:
        context.poweron()
        guest = _Guest(context.agent_socket)
        ping = guest.ready(60)
        assert ping.machine == MACHINE[profile.name]
        assert ping.kernel == image.kernel_release
        plan = plan_for(profile)
        assert guest.agent.trace_start(plan.probes, plan.events, plan.filters) == []
        assert guest.run(["/bin/echo", *ARGS]) == 0
        stats = guest.agent.trace_stop()
        guest.agent.close()
    finally:
        context.cleanup()
    assert guest.output.decode().strip() == " ".join(ARGS)
    assert stats.errors == []
    trace = guest.trace.decode(errors="replace")
    argv = [line for line in trace.splitlines() if re.search(r" argv(__\w+)?: ", line)]
    wanted = 'a0="/bin/echo" a1="ALPHA1" a2="BETA22" a3="GAMMA333"'
    assert any(wanted in line and "argc=4" in line for line in argv), argv
    assert "sched_process_exec: filename=/bin/echo" in trace


def _dynamic_programs(profile: ArchProfile, work: Path) -> list[Path]:
    """Dynamically linked programs of the guest's C libraries (Debian's `hello`, or built)."""
    userland = profile.userland
    programs: list[Path] = []
    recipe = recipe_for(profile)
    for arch in (userland.debian_arch, *userland.extra_libc_arches):
        if arch is None:
            continue
        archive = DebianArchive(cache_dir(), arch, recipe.sources)
        tree = extract_deb(archive.download("hello", archive.candidate("hello")), work / arch)
        programs.append(tree / "usr/bin/hello")
    if userland.cross_libc_dir:
        gcc = shutil.which(f"{Path(userland.cross_libc_dir).parent.name}-gcc")
        if gcc is None:
            pytest.fail("the cross compiler of the guest's C library is missing: make install")
        source = work / "hello.c"
        source.write_text('#include <stdio.h>\nint main(void){puts("Hello, world!");return 0;}\n')
        subprocess.run([gcc, "-O1", "-o", str(work / "hello"), str(source)], check=True)
        programs.append(work / "hello")
    return programs


@pytest.mark.timeout(3600)
def test_device_guest_runs_dynamic_programs(
    built: tuple[GuestImage, Snapshot], tmp_path: Path, no_leftovers: None
) -> None:
    image, snapshot = built
    profile = image.profile()
    if profile.userland.kind != "busybox":
        pytest.skip("the Debian guest's C library is Debian's own")
    programs = _dynamic_programs(profile, tmp_path)
    context = QemuProcessContext(
        str(uuid.uuid4()), _config(image), disk_base=snapshot.disk, state_file=snapshot.state
    )
    try:
        context.poweron()
        guest = _Guest(context.agent_socket)
        guest.ready(60)
        for index, program in enumerate(programs):
            guest.agent.put(program.read_bytes(), f"/tmp/prog{index}", mode=0o755)
            assert guest.run([f"/tmp/prog{index}"]) == 0, program
        # What IoT malware looks for: a busybox shell, a writable /tmp, telnetd running.
        assert guest.run(["/bin/sh", "-c", "ps | grep -q '[t]elnetd' && touch /tmp/w"]) == 0
        guest.agent.close()
    finally:
        context.cleanup()
    assert guest.output.decode().count("Hello, world!") == len(programs)
