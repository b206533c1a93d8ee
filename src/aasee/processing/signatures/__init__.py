"""Behaviour signatures: rules that read a finished report and say what the sample did.

``rules/`` holds one rule per module (a :class:`Signature` subclass: id, name, description,
severity, category, ATT&CK techniques as v19 numbers them, families, and ``match``);
``query`` is the small query library the rules are written in (records by path, commands
run, the commands of the shell scripts that ran joined with their execs, endpoints, kernel
settings...), with ``commands`` (command lines and ``sh -c`` text), ``provenance`` (where
downloaded data went), ``facts`` and ``vocabulary`` (shared judgements and names);
``engine`` loads, checks and runs them; ``models`` is the report's model of matches, ATT&CK
summary, score and verdict (``schema/defs/signatures.json`` documents it).

Public API::

    run_signatures(report) -> (matches sorted by severity desc, errors)
    all_signatures() -> list of signature classes (for docs and listings)
"""

from .base import CATEGORIES, SEVERITIES, Signature
from .engine import (
    MAX_EVIDENCE,
    all_signatures,
    check_signature,
    run_signatures,
    signature_problems,
)
from .query import Found, ReportIndex

__all__ = [
    "CATEGORIES",
    "MAX_EVIDENCE",
    "SEVERITIES",
    "Found",
    "ReportIndex",
    "Signature",
    "all_signatures",
    "check_signature",
    "run_signatures",
    "signature_problems",
]
