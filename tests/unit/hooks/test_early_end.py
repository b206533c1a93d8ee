"""EarlyEndHook: the run ends once the sample's tree has exited, the network is quiet and the
guest confirms that no task it saw is still alive; never on a forged or lost exit."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from aasee.hooks.early_end import TreeFollower

from .fake_qemu import FakeQemuContext, load

HOOK = "aasee.hooks.early_end.EarlyEndHook"


def _fork(parent: int, child: int, comm: str = "sh") -> bytes:
    return (
        f"{comm:>16}-{parent:<7} ({parent:>7}) [000] .....     1.000000: sched_process_fork: "
        f"comm={comm} pid={parent} child_comm={comm} child_pid={child}\n"
    ).encode()


def _exit(pid: int, comm: str = "sh") -> bytes:
    return (
        f"{comm:>16}-{pid:<7} ({pid:>7}) [000] .....     2.000000: sched_process_exit: "
        f"comm={comm} pid={pid} prio=120\n"
    ).encode()


def test_the_tree_is_followed_across_chunks_and_threads() -> None:
    tree = TreeFollower(100)
    text = _fork(100, 101) + _fork(101, 102) + _fork(7, 8) + _exit(101) + _exit(100)
    for i in range(0, len(text), 7):  # any chunking
        tree.feed(text[i : i + 7])
    assert tree.live == {102} and not tree.empty
    assert 8 not in tree.seen  # a fork outside the tree (another process) is not followed
    tree.feed(_exit(102))
    assert tree.empty and tree.seen == {100, 101, 102}


def test_a_process_name_cannot_fake_the_fields() -> None:
    tree = TreeFollower(100)
    # The name holds "pid=100 prio=1": the real pid is the last field but one.
    tree.feed(_exit(555, comm="x pid=100 prio=1"))
    assert tree.live == {100}


@dataclass
class _Found:
    exists: bool
    data: bytes


class _Agent:
    def __init__(self) -> None:
        self.stat: dict[int, bytes] = {}
        self.asked: list[str] = []

    def get_file(self, path: str, cap: int, timeout: float) -> _Found:
        self.asked.append(path)
        pid = int(path.split("/")[2])
        data = self.stat.get(pid)
        return _Found(data is not None, data or b"")


def _run(tmp_path: Path, agent: _Agent, lines: bytes, wait: float = 0.5) -> list[str]:
    context = FakeQemuContext(tmp_path / "run")
    results = tmp_path / "results"
    results.mkdir()
    ended: list[str] = []
    done = threading.Event()

    def end(event: object) -> None:
        ended.append(str(event.reason))
        done.set()

    context.subscribe("analysis_end", end)
    manager = load(context, results, HOOK, early_end_quiet=0.05, early_end_poll=0.01)
    context.poweron()
    context.trigger("agent_ready", agent=agent)
    context.trigger("sample_started", pid=100)
    (results / "trace.log").write_bytes(lines)
    done.wait(wait)
    manager.cleanup()
    return ended


def test_the_run_ends_once_the_tree_is_gone_and_the_guest_agrees(tmp_path: Path) -> None:
    agent = _Agent()
    agent.stat[100] = b"100 (sh) Z 1 100"  # a zombie is gone
    ended = _run(tmp_path, agent, _fork(100, 101) + _exit(101) + _exit(100), wait=5)
    assert len(ended) == 1 and ended[0].startswith("early end"), ended
    assert set(agent.asked) == {"/proc/100/stat", "/proc/101/stat"}


def test_a_forged_exit_does_not_end_the_run(tmp_path: Path) -> None:
    agent = _Agent()
    agent.stat[100] = b"100 (evil) S 1 100"  # still sleeping: its exit line was forged
    assert _run(tmp_path, agent, _exit(100)) == []


def test_a_tree_still_running_does_not_end_the_run(tmp_path: Path) -> None:
    assert _run(tmp_path, _Agent(), _fork(100, 101) + _exit(100)) == []


def test_full_timeout_turns_it_off(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run")
    manager = load(context, tmp_path / "results", HOOK, early_end=False)
    context.poweron()
    context.trigger("sample_started", pid=100)
    assert manager.hooks[0].thread is None  # type: ignore[attr-defined]
    manager.cleanup()
