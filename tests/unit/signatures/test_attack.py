"""ATT&CK lookup: v18.1 names and tactics, the documented v19 moves, the report's summary."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from aasee.processing import attack
from aasee.processing.attack import attack_summary, problem_with, technique
from aasee.processing.signatures import all_signatures
from aasee.processing.signatures.models import Evidence, SignatureMatch


def _match(match_id: str, techniques: list[str], refs: list[str]) -> SignatureMatch:
    return SignatureMatch(
        id=match_id,
        name=match_id,
        description="d",
        severity="high",
        category="impact",
        techniques=techniques,
        evidence=[Evidence(ref=r, summary="s") for r in refs],
    )


class TestLookup:
    def test_names_and_tactics_of_the_shipped_release(self) -> None:
        cron = technique("T1053.003")
        assert cron is not None
        assert cron.name == "Scheduled Task/Job: Cron"
        assert cron.tactics == ("execution", "persistence", "privilege-escalation")
        assert cron.release_id is None

    @pytest.mark.parametrize(
        ("old", "new", "name"),
        [
            ("T1562.001", "T1685", "Disable or Modify Tools"),
            ("T1562.004", "T1686", "Disable or Modify System Firewall"),
            (
                "T1562.012",
                "T1685.004",
                "Disable or Modify Tools: Disable or Modify Linux Audit System Log",
            ),
            ("T1070.002", "T1685.006", "Disable or Modify Tools: Clear Linux or Mac System Logs"),
            ("T1562.003", "T1690", "Prevent Command History Logging"),
        ],
    )
    def test_moved_ids(self, old: str, new: str, name: str) -> None:
        current = technique(new)
        assert current is not None
        assert (current.id, current.name, current.tactics) == (new, name, ("defense-impairment",))
        assert current.release_id == old
        assert current.source and "attack.mitre.org" in current.source
        assert attack.current_id(old) == new
        assert problem_with(new) is None
        assert problem_with(old) == f"{old} was moved by ATT&CK v19: name {new} instead"

    def test_defense_evasion_is_stealth_and_some_kept_ids_move_to_defense_impairment(self) -> None:
        deletion = technique("T1070.004")
        permissions = technique("T1222.002")
        assert deletion is not None and permissions is not None
        assert deletion.tactics == ("defense-evasion",)
        assert attack.tactic("defense-evasion").name == "Stealth"
        assert attack.tactic("defense-evasion").id == "TA0005"
        assert permissions.tactics == ("defense-impairment",)
        assert attack.tactic("defense-impairment") == attack.Tactic(
            "defense-impairment", "TA0112", "Defense Impairment"
        )

    def test_unknown_and_revoked(self) -> None:
        assert technique("T9999") is None
        assert problem_with("T1002") == "T1002 is revoked in ATT&CK v18.1"

    def test_every_move_is_sourced_and_lands_on_a_known_technique(self) -> None:
        moves = json.loads(
            resources.files("aasee.processing.attack").joinpath("v19_moves.json").read_text()
        )
        assert (moves["release"], moves["ids_as_of"]) == ("18.1", "19")
        for entry in moves["moved"]:
            assert entry["source"], entry
            old = technique(entry["release_id"])
            assert old is not None and old.id == entry["id"]
        for entry in moves["new_techniques"].values():
            assert entry["source"]
        assert moves["retactic"]["source"]

    def test_signatures_name_techniques_the_lookup_knows(self) -> None:
        for cls in all_signatures():
            for tid in cls.techniques:
                assert technique(tid) is not None, (cls.id, tid)
                assert problem_with(tid) is None, (cls.id, tid)


class TestSummary:
    def test_grouped_by_tactic_in_matrix_order_with_evidence(self) -> None:
        matches = [
            _match("impair_log_clearing", ["T1685.006"], ["/files/deleted/0"]),
            _match("persistence_cron", ["T1053.003"], ["/files/written/1", "/files/written/2"]),
            _match("stealth_self_deletion", ["T1070.004"], ["/files/deleted/0"]),
        ]
        summary = attack_summary(matches)
        assert (summary.release, summary.ids_as_of) == ("18.1", "19")
        by_id = {t.id: t for t in summary.techniques}
        logs = by_id["T1685.006"]
        assert logs.release_id == "T1070.002"
        assert logs.tactics == ["Defense Impairment"]
        assert logs.signatures == ["impair_log_clearing"]
        assert logs.evidence == ["/files/deleted/0"]
        assert by_id["T1053.003"].release_id is None
        assert by_id["T1053.003"].evidence == ["/files/written/1", "/files/written/2"]
        assert by_id["T1070.004"].tactics == ["Stealth"]
        assert [(t.id, t.name, t.techniques) for t in summary.tactics] == [
            ("TA0002", "Execution", ["T1053.003"]),
            ("TA0003", "Persistence", ["T1053.003"]),
            ("TA0004", "Privilege Escalation", ["T1053.003"]),
            ("TA0005", "Stealth", ["T1070.004"]),
            ("TA0112", "Defense Impairment", ["T1685.006"]),
        ]

    def test_a_v18_id_is_reported_under_its_v19_id(self) -> None:
        summary = attack_summary([_match("legacy", ["T1562.004"], ["/x"])])
        (tech,) = summary.techniques
        assert (tech.id, tech.release_id) == ("T1686", "T1562.004")

    def test_unknown_technique_is_kept_without_tactic(self) -> None:
        summary = attack_summary([_match("odd", ["T9999"], [])])
        (tech,) = summary.techniques
        assert (tech.id, tech.name, tech.tactics) == ("T9999", "T9999", [])
        assert summary.tactics == []

    def test_no_matches(self) -> None:
        summary = attack_summary([])
        assert (summary.release, summary.techniques, summary.tactics) == ("18.1", [], [])
