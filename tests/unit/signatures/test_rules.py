"""Every bundled signature fires on its positive case and stays silent on its near miss."""

from __future__ import annotations

import pytest

from aasee.processing.report import report_dict, validate_report
from aasee.processing.signatures import Signature, all_signatures, run_signatures

from .builder import Builder, resolve
from .cases import NEGATIVE, POSITIVE

SIGNATURES = {cls.id: cls for cls in all_signatures()}


def test_every_signature_has_both_cases() -> None:
    assert set(POSITIVE) == set(SIGNATURES), set(POSITIVE) ^ set(SIGNATURES)
    assert set(NEGATIVE) == set(SIGNATURES), set(NEGATIVE) ^ set(SIGNATURES)


@pytest.mark.parametrize("signature_id", sorted(POSITIVE))
def test_positive_case_matches(signature_id: str) -> None:
    builder = Builder()
    POSITIVE[signature_id](builder)
    report = builder.build()
    cls: type[Signature] = SIGNATURES[signature_id]
    matches, errors = run_signatures(report, [cls])
    assert errors == []
    (match,) = matches
    assert match.id == signature_id
    assert match.techniques == list(cls.techniques)
    assert match.severity == cls.severity and match.category == cls.category
    assert match.count >= len(match.evidence) >= 1
    assert match.evidence_truncated == (match.count > len(match.evidence))
    for evidence in match.evidence:
        record = resolve(report, evidence.ref)  # raises if the pointer leads nowhere
        assert record is not None, evidence.ref
        assert evidence.summary
    # The report carrying the match is still a valid report.
    report.signatures = matches
    validate_report(report_dict(report))


@pytest.mark.parametrize("signature_id", sorted(NEGATIVE))
def test_near_miss_does_not_match(signature_id: str) -> None:
    builder = Builder()
    NEGATIVE[signature_id](builder)
    matches, errors = run_signatures(builder.build(), [SIGNATURES[signature_id]])
    assert errors == []
    assert matches == [], matches[0].evidence if matches else None
