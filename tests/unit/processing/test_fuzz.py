"""Mutated real traces: the pipeline must neither crash nor hit its last-resort handler."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from aasee.processing import behaviour as behaviour_module
from aasee.processing.models import AnalysisMeta, Sample
from aasee.processing.report import build_report, report_dict, validate_report

BASIC = Path(__file__).parents[2] / "data" / "trace-basic.log"
SAMPLE = Sample(name="s", size=1, md5="", sha1="", sha256="")
SPICE = [b'"', b"\n", b" ", b"=", b"-", b"(fault)", b"0x", b"99999999999999999999", b"\xff", b")"]


def mutate(line: bytes, rng: random.Random) -> bytes:
    data = bytearray(line)
    for _ in range(rng.randint(1, 4)):
        if not data:
            break
        where = rng.randrange(len(data))
        choice = rng.random()
        if choice < 0.3:
            data[where] = rng.randrange(256)
        elif choice < 0.6:
            data[where:where] = rng.choice(SPICE)
        elif choice < 0.8:
            del data[where : where + rng.randint(1, 8)]
        else:
            data[where:where] = bytes(rng.choice(b"0123456789") for _ in range(rng.randint(1, 25)))
    return bytes(data)


@pytest.mark.parametrize("seed", range(40))
def test_mutated_trace(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    lines = BASIC.read_bytes().split(b"\n")
    out = [mutate(line, rng) if rng.random() < 0.3 else line for line in lines]
    if seed % 4 == 0:
        rng.shuffle(out)
    path = tmp_path / "trace.log"
    path.write_bytes(b"\n".join(out))
    report = build_report(
        sample=SAMPLE,
        analysis=AnalysisMeta(id=str(seed)),
        trace_path=path,
        root_pid=117,
        clock=(5.0, 1.7e9),
        exits=[{"pid": 117, "time": "bogus", "code": "x"}],
    )
    last_resort = ("trace processing stopped", "behaviour model failed")
    assert not [e for e in report.errors if e.startswith(last_resort)], report.errors
    validate_report(report_dict(report))


def test_defect_costs_behaviour_not_the_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(self: object, event: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(behaviour_module.BehaviourBuilder, "_fork", broken)
    report = build_report(
        sample=SAMPLE, analysis=AnalysisMeta(id="x"), trace_path=BASIC, root_pid=117
    )
    assert any("RuntimeError: boom" in e for e in report.errors)
    assert report.processes[0].image == "/tmp/sample"
    validate_report(report_dict(report))
