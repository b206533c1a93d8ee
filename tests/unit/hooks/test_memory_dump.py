"""MemoryDumpHook: ELF core dumps through QMP at the configured events, gzipped, listed."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from aasee.core import HookLoadError
from aasee.hooks.memory_dump import MANIFEST, elf_core_type

from .fake_qemu import ELF_CORE_HEADER, FakeQemuContext, elf_core, load

HOOK = "aasee.hooks.memory_dump.MemoryDumpHook"
SECRET = b"http://only-in-memory.example/payload"


def _manifest(results: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads((results / MANIFEST).read_text())
    return document


def test_dumps_at_each_event_as_gzipped_elf_cores(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run", memory=b"\0" * 9000 + SECRET)
    results = tmp_path / "results"
    manager = load(context, results, HOOK, events=["sample_exited", "pre_poweroff"])
    context.poweron()
    context.trigger("sample_exited", pid=1)
    context.poweroff()
    manager.cleanup()
    document = _manifest(results)
    dumps = document["dumps"]
    assert isinstance(dumps, list)
    assert [d["event"] for d in dumps] == ["sample_exited", "pre_poweroff"]
    assert [d["file"] for d in dumps] == [
        "memory/1-sample_exited.elf.gz",
        "memory/2-pre_poweroff.elf.gz",
    ]
    for dump in dumps:
        path = results / dump["file"]
        data = gzip.decompress(path.read_bytes())
        assert data == elf_core(b"\0" * 9000 + SECRET)
        assert dump["elf_type"] == "core" and dump["format"] == "elf"
        assert dump["compression"] == "gzip"
        assert dump["raw_bytes"] == len(data) and dump["bytes"] == path.stat().st_size
        assert dump["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # QEMU was asked for an ELF dump of physical memory, in the background, in the run dir.
    requests = context.commands("dump-guest-memory")
    assert len(requests) == 2
    assert all(r["detach"] is True and r["paging"] is False for r in requests)
    assert all(r["protocol"].startswith(f"file:{tmp_path / 'run'}/") for r in requests)
    # The raw dumps are gone, the compressed ones announced.
    assert not list((tmp_path / "run").glob("memory-*"))
    assert [e.payload["name"] for e in context.artefacts] == [d["file"] for d in dumps]
    assert document["errors"] == []


def test_the_vm_is_not_powered_off_before_the_dump_is_written(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run", memory=SECRET)
    context.dump_delay = 0.3
    manager = load(context, tmp_path / "results", HOOK)
    context.poweron()
    context.poweroff()  # would fail the dump (the fake refuses QMP once off) if not waited for
    manager.cleanup()
    dumps = _manifest(tmp_path / "results")["dumps"]
    assert isinstance(dumps, list) and [d["event"] for d in dumps] == ["pre_poweroff"]


def test_a_failed_dump_is_recorded_and_costs_nothing_else(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run")
    context.dump_status = "failed"
    results = tmp_path / "results"
    manager = load(context, results, HOOK)
    context.poweron()
    context.poweroff()
    manager.cleanup()
    document = _manifest(results)
    assert document["dumps"] == []
    assert document["errors"] == [
        "memory dump at pre_poweroff failed: QEMU reported the dump as failed"
    ]


def test_at_most_max_dumps(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run")
    results = tmp_path / "results"
    manager = load(context, results, HOOK, events=["sample_exited"], max_dumps=2)
    context.poweron()
    for pid in range(4):
        context.trigger("sample_exited", pid=pid)
    context.poweroff()
    manager.cleanup()
    document = _manifest(results)
    assert len(document["dumps"]) == 2  # type: ignore[arg-type]
    assert len(document["errors"]) == 2  # type: ignore[arg-type]


def test_nothing_without_the_events(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run")
    manager = load(context, tmp_path / "results", HOOK, events=["sample_exited"])
    context.poweron()
    context.poweroff()
    manager.cleanup()
    assert not (tmp_path / "results" / MANIFEST).exists()
    assert context.calls == []


@pytest.mark.parametrize(
    ("configuration", "reason"),
    [
        ({"events": "pre_poweroff"}, "must be a list"),
        ({"events": []}, "is empty"),
        ({"events": [""]}, "non-empty strings"),
        ({"events": ["post_poweroff"]}, "when the VM is not running"),
        ({"compress_level": 0}, "gzip level"),
    ],
)
def test_bad_configuration_fails_the_load(
    tmp_path: Path, configuration: dict[str, object], reason: str
) -> None:
    with pytest.raises(HookLoadError, match=reason):
        load(FakeQemuContext(tmp_path / "run"), tmp_path / "results", HOOK, **configuration)


def test_needs_a_context_with_qmp(tmp_path: Path) -> None:
    class NoQmp(FakeQemuContext):
        capabilities: ClassVar[frozenset[str]] = frozenset({"run_dir"})

    with pytest.raises(HookLoadError, match="qmp"):
        load(NoQmp(tmp_path / "run"), tmp_path / "results", HOOK)


def test_concurrent_events_are_serialised(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run", memory=SECRET)
    context.dump_delay = 0.05
    results = tmp_path / "results"
    manager = load(context, results, HOOK, events=["sample_exited"], max_dumps=4)
    context.poweron()
    threads = [threading.Thread(target=context.trigger, args=("sample_exited",)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    context.poweroff()
    manager.cleanup()
    files = sorted(d["file"] for d in _manifest(results)["dumps"])  # type: ignore[attr-defined]
    assert files == [f"memory/{n}-sample_exited.elf.gz" for n in range(1, 5)]


def test_elf_core_type() -> None:
    assert elf_core_type(ELF_CORE_HEADER) == "core"
    assert elf_core_type(b"\x7fELF\x02\x01" + bytes(10) + b"\x02\x00") == "type 2"
    assert elf_core_type(b"\x7fELF\x01\x02" + bytes(10) + b"\x00\x04") == "core"  # big-endian
    assert elf_core_type(b"not an elf at all, really") is None


def test_a_context_with_its_own_dump_api_uses_it(tmp_path: Path) -> None:
    class LibvirtLike(FakeQemuContext):
        def dump_memory(self, path: Path) -> None:
            self.calls.append(("dump_memory", {"path": path}))
            path.write_bytes(elf_core(SECRET))

    context = LibvirtLike(tmp_path / "run")
    results = tmp_path / "results"
    manager = load(context, results, HOOK)
    context.poweron()
    context.poweroff()
    manager.cleanup()
    assert [command for command, _ in context.calls] == ["dump_memory"]
    (dump,) = _manifest(results)["dumps"]  # type: ignore[misc]
    assert gzip.decompress((results / dump["file"]).read_bytes()) == elf_core(SECRET)
