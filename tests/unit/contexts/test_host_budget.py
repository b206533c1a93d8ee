"""The host's VM budget: live VMs counted from run directories, limits by CPU, admitted memory
and available memory, and admission that creates the run directory under the lock."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from aasee.contexts import host_budget
from aasee.contexts.host_budget import BudgetPolicy, HostBudget, HostFull


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _run(runs: Path, name: str, pid: int, memory: int | None) -> None:
    (runs / name).mkdir(parents=True)
    owner: dict[str, int] = {"pid": pid}
    if memory is not None:
        owner["memory_mib"] = memory
    (runs / name / "owner.json").write_text(json.dumps(owner))


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    figures = {"total": 24576, "available": 20000}
    monkeypatch.setattr(
        host_budget, "meminfo_mib", lambda: (figures["total"], figures["available"])
    )
    monkeypatch.setattr(host_budget.os, "cpu_count", lambda: 2)
    return figures


def test_only_runs_of_live_processes_count(tmp_path: Path, memory: dict[str, int]) -> None:
    runs = tmp_path / "runs"
    _run(runs, "live", os.getpid(), 1216)
    _run(runs, "old-format", os.getpid(), None)  # written before memory was recorded
    _run(runs, "dead", _dead_pid(), 1216)
    (runs / "stray").mkdir()
    usage = HostBudget(runs, BudgetPolicy()).usage()
    assert (usage.vms, usage.admitted_mib, usage.cpus) == (2, 1216, 2)


def test_the_cpu_limit_and_the_operator_cap(tmp_path: Path, memory: dict[str, int]) -> None:
    runs = tmp_path / "runs"
    budget = HostBudget(runs, BudgetPolicy(vms_per_cpu=2))
    for index in range(4):
        assert budget.refusal(1216) is None
        _run(runs, f"vm{index}", os.getpid(), 1216)
    why = budget.refusal(1216)
    assert why is not None and "4 VMs already run here" in why
    capped = HostBudget(runs, BudgetPolicy(vms_per_cpu=2, max_vms=3))
    assert capped.max_vms(2) == 3
    assert "AASEE_MAX_VMS=3" in (capped.refusal(1216) or "")


def test_admitted_and_available_memory(tmp_path: Path, memory: dict[str, int]) -> None:
    runs = tmp_path / "runs"
    budget = HostBudget(runs, BudgetPolicy(vms_per_cpu=100, reserve_mib=2048))
    _run(runs, "big", os.getpid(), 22000)
    why = budget.refusal(1216)
    assert why is not None and "admitted" in why, why
    (runs / "big" / "owner.json").write_text(json.dumps({"pid": os.getpid(), "memory_mib": 100}))
    assert budget.refusal(1216) is None
    memory["available"] = 3000  # something else on the host took the memory
    why = budget.refusal(1216)
    assert why is not None and "available" in why, why
    assert budget.free_slots(1216) == 0
    memory["available"] = 2048 + 3 * 1216
    assert budget.free_slots(1216) == 3


def test_admission_creates_the_run_or_waits_and_refuses(
    tmp_path: Path, memory: dict[str, int]
) -> None:
    runs = tmp_path / "runs"
    budget = HostBudget(runs, BudgetPolicy(vms_per_cpu=0.5))  # one VM on two CPUs
    budget.admit(runs / "first", 1216)
    owner = json.loads((runs / "first" / "owner.json").read_text())
    assert owner == {"pid": os.getpid(), "memory_mib": 1216}
    assert not (runs / ".vm-budget.lock").exists(), "the lock is not a run directory"
    with pytest.raises(HostFull, match="1 VMs already run here"):
        budget.admit(runs / "second", 1216, wait=0.6)
    assert not (runs / "second").exists()
    with pytest.raises(HostFull):
        budget.wait_for_room(1216, wait=0.1)


def test_the_policy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AASEE_MAX_VMS", "3")
    monkeypatch.setenv("AASEE_VMS_PER_CPU", "1.5")
    policy = host_budget.policy_from_env()
    assert (policy.max_vms, policy.vms_per_cpu) == (3, 1.5)
    monkeypatch.delenv("AASEE_MAX_VMS")
    monkeypatch.delenv("AASEE_VMS_PER_CPU")
    assert host_budget.policy_from_env() == BudgetPolicy()
