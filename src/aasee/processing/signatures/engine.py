"""Loading the bundled signatures, checking them, and running them over a report.

Owns the signature set: every module of ``rules/`` holds exactly one
:class:`~.base.Signature` subclass; :func:`all_signatures` imports them once and keeps those
that pass :func:`check_signature` (unique ``id``, known severity and category, every ATT&CK
technique a current v19 id per :mod:`aasee.processing.attack`). Problems found while loading
are kept (:func:`signature_problems`) and reported by :func:`run_signatures` with its errors
rather than stopping the analysis. A rule that raises while matching costs only that rule:
its error is recorded as ``signature <id>: <error>``.
"""

from __future__ import annotations

import importlib
import mmap
import pkgutil
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from ..attack.lookup import problem_with
from ..forking import Forked, OffloadFailed, can_fork, start_forked
from . import rules as _rules
from .base import CATEGORIES, SEVERITIES, Signature
from .models import Evidence, SignatureMatch
from .query import PendingEvidence, ReportIndex

if TYPE_CHECKING:
    from ..models import Report

__all__ = [
    "MAX_EVIDENCE",
    "PARALLEL_RECORDS",
    "PARALLEL_RULES",
    "SignatureSet",
    "all_signatures",
    "check_signature",
    "load_rules",
    "run_signatures",
    "signature_problems",
]

MAX_EVIDENCE = 20
"""Evidence kept per match; ``count`` says how much was found in all."""
_MAX_COUNTED = 1_000_000
_ID = re.compile(r"^[a-z][a-z0-9_]{2,63}$")
_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class SignatureSet:
    signatures: tuple[type[Signature], ...]
    problems: tuple[str, ...]


def check_signature(cls: type[Signature]) -> list[str]:
    """Everything wrong with a signature class's declaration (empty when it is sound)."""
    where = f"signature {getattr(cls, 'id', cls.__name__)}"
    problems: list[str] = []
    for attribute in ("id", "name", "description", "severity", "category"):
        value = getattr(cls, attribute, None)
        if not isinstance(value, str) or not value:
            problems.append(f"{where}: {attribute} must be a non-empty string")
    if problems:
        return problems
    if not _ID.match(cls.id):
        problems.append(f"{where}: id must be lower_snake_case (3-64 characters)")
    if cls.severity not in _RANK:
        problems.append(f"{where}: severity {cls.severity!r} is not one of {list(SEVERITIES)}")
    if cls.category not in CATEGORIES:
        problems.append(f"{where}: category {cls.category!r} is not one of {sorted(CATEGORIES)}")
    if not isinstance(cls.techniques, tuple) or not isinstance(cls.families, tuple):
        problems.append(f"{where}: techniques and families must be tuples of strings")
        return problems
    for technique in cls.techniques:
        problem = problem_with(technique)
        if problem is not None:
            problems.append(f"{where}: technique {problem}")
    return problems


def load_rules(package_name: str, paths: Iterable[str]) -> SignatureSet:
    """Import every module of a rules package and keep the sound signatures (one per module)."""
    found: list[type[Signature]] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for module_info in sorted(pkgutil.iter_modules(list(paths)), key=lambda m: m.name):
        module_name = f"{package_name}.{module_info.name}"
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            problems.append(f"rule module {module_info.name}: {type(exc).__name__}: {exc}")
            continue
        classes = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, Signature)
            and obj is not Signature
            and obj.__module__ == module_name
        ]
        if len(classes) != 1:
            problems.append(
                f"rule module {module_info.name}: holds {len(classes)} signatures, not one"
            )
            continue
        cls = classes[0]
        cls_problems = check_signature(cls)
        if not cls_problems and cls.id in seen:
            cls_problems.append(f"signature {cls.id}: id also used by module {seen[cls.id]}")
        if cls_problems:
            problems.extend(cls_problems)
            continue
        seen[cls.id] = module_info.name
        found.append(cls)
    return SignatureSet(tuple(found), tuple(problems))


@lru_cache(maxsize=1)
def _bundled() -> SignatureSet:
    return load_rules(_rules.__name__, _rules.__path__)


def all_signatures() -> list[type[Signature]]:
    """The bundled signatures that loaded and passed their checks, ordered by module name."""
    return list(_bundled().signatures)


def signature_problems() -> list[str]:
    """Why bundled rule modules were left out (empty when all are sound)."""
    return list(_bundled().problems)


def _unique(evidence: Iterable[Evidence]) -> tuple[list[Evidence], int]:
    kept: list[Evidence] = []
    seen: set[str] = set()
    for item in evidence:
        ref = item.ref
        if ref in seen:
            continue
        seen.add(ref)
        if len(kept) < MAX_EVIDENCE:
            pending: object = item
            kept.append(pending.build() if isinstance(pending, PendingEvidence) else item)
        if len(seen) >= _MAX_COUNTED:
            break
    return kept, len(seen)


def _run_one(signature: Signature, ctx: ReportIndex) -> SignatureMatch | None:
    kept, count = _unique(signature.match(ctx))
    if not count:
        return None
    return SignatureMatch(
        id=signature.id,
        name=signature.name,
        description=signature.description,
        severity=signature.severity,
        category=signature.category,
        techniques=list(signature.techniques),
        families=list(dict.fromkeys(signature.families_of(kept, ctx))),
        count=count,
        evidence=kept,
        evidence_truncated=count > len(kept),
    )


def run_signatures(
    report: Report, signatures: Iterable[type[Signature]] | None = None
) -> tuple[list[SignatureMatch], list[str]]:
    """Run the signatures (default: all bundled) over ``report``.

    Returns the matches, most severe first (then by id), and the errors: load problems of
    the bundled set and ``signature <id>: <error>`` for each rule that raised.
    """
    errors: list[str] = []
    if signatures is None:
        signatures = all_signatures()
        errors.extend(signature_problems())
    ctx = ReportIndex(report)
    rules = list(signatures)
    matches: list[SignatureMatch] = []
    for match, error in _outcomes(rules, ctx):
        if error is not None:
            errors.append(error)
        elif match is not None:
            matches.append(match)
    matches.sort(key=lambda m: (-_RANK[m.severity], m.id))
    return matches, errors


_Outcome = tuple[SignatureMatch | None, str | None]


def _run_rules(rules: Iterable[type[Signature]], ctx: ReportIndex) -> list[_Outcome]:
    outcomes: list[_Outcome] = []
    for cls in rules:
        try:
            outcomes.append((_run_one(cls(), ctx), None))
        except Exception as exc:
            # A defect in one rule, met on hostile data, must not cost the other rules.
            outcomes.append((None, f"signature {cls.id}: {type(exc).__name__}: {exc}"))
    return outcomes


PARALLEL_RECORDS = 20_000
"""Records (processes, files, network) from which the rules are shared with a forked child."""
PARALLEL_RULES = 16
"""Rules from which they are shared (fewer are not worth the fork)."""
_PROVENANCE_RULES = frozenset(
    {
        "c2_ingress_tool_transfer",
        "execution_download_chmod_exec",
        "execution_download_script_run",
        "execution_network_shell",
        "execution_pipe_to_shell",
        "execution_shell_escape",
        "exfil_encrypted_protocol",
    }
)
"""Bundled rules that ask where files' data came from (``ReportIndex.provenance``)."""


def _records(report: Report) -> int:
    files, network = report.files, report.network
    lists = (files.read, files.written, files.created, files.deleted, files.renamed)
    return (
        len(report.processes)
        + sum(len(records) for records in lists)
        + len(network.connections)
        + len(network.udp)
        + len(network.flows)
    )


def _outcomes(rules: list[type[Signature]], ctx: ReportIndex) -> list[_Outcome]:
    """Each rule's match or error, in order.

    On a large report the rules are shared with a forked child (see :mod:`..forking`): the
    indexes most rules use are made first (once, for both), then this process takes rules
    from the front of the list and the child from the back until they meet, so that each
    does about half whatever the rules cost. A rule's outcome does not depend on where it
    ran; whatever happens to the child, the rules it did not report run here.
    """
    if len(rules) < PARALLEL_RULES or _records(ctx.report) < PARALLEL_RECORDS or not can_fork():
        return _run_rules(rules, ctx)
    ctx.warm()
    # The rules that trace downloads go last: the child starts with them, and makes the
    # provenance index alone.
    order = [i for i, cls in enumerate(rules) if cls.id not in _PROVENANCE_RULES]
    order += [i for i, cls in enumerate(rules) if cls.id in _PROVENANCE_RULES]
    # The next rule from the front (written by this process only) and one past the next from
    # the back (the child only); each reads the other's. Both may take the last rule between
    # them: it then runs twice, to the same outcome.
    shared = mmap.mmap(-1, 8)
    ends = memoryview(shared).cast("i")
    ends[0], ends[1] = 0, len(rules)

    def from_back() -> dict[int, _Outcome]:
        ran: dict[int, _Outcome] = {}
        while (j := ends[1] - 1) >= ends[0]:
            ends[1] = j
            ran[order[j]] = _run_rules([rules[order[j]]], ctx)[0]
        return ran

    try:
        child: Forked[dict[int, _Outcome]] | None = start_forked(from_back)
    except OffloadFailed:
        child = None
    ours: dict[int, _Outcome] = {}
    try:
        while (i := ends[0]) < ends[1] or child is None and i < len(rules):
            ends[0] = i + 1
            ours[order[i]] = _run_rules([rules[order[i]]], ctx)[0]
    except BaseException:
        if child is not None:
            child.close()
        raise
    theirs: dict[int, _Outcome] = {}
    if child is not None:
        try:
            theirs = child.result()
        except OffloadFailed:
            theirs = {}
    outcomes: list[_Outcome] = []
    for i, cls in enumerate(rules):
        found = ours.get(i) or theirs.get(i)
        outcomes.append(found if found is not None else _run_rules([cls], ctx)[0])
    ends.release()
    shared.close()
    return outcomes
