"""Static analysis: what a file is and what it carries, without running it.

``analyse`` runs the parts on one file (:func:`analyse_file`, :func:`analyse_bytes`):
``hashes`` (MD5/SHA-1/SHA-256, ssdeep), ``entropy``, ``elf`` and ``pe`` headers, ``scripts``
(interpreter, language, suspicious commands), ``strings`` (printable strings, URLs, IPs,
domains) and ``yara_scan`` (the bundled ``rules/*.yar`` plus the operator's rules,
:func:`load_rules`). ``models`` is the report's model of the result. The parsers and YARA
are imported on first use, so importing the report model stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .models import StaticAnalysis

if TYPE_CHECKING:
    from .analyse import analyse_bytes, analyse_file
    from .yara_scan import YaraRules, YaraScanError, load_rules

__all__ = [
    "StaticAnalysis",
    "YaraRules",
    "YaraScanError",
    "analyse_bytes",
    "analyse_file",
    "load_rules",
]

_LAZY = {
    "analyse_bytes": ".analyse",
    "analyse_file": ".analyse",
    "YaraRules": ".yara_scan",
    "YaraScanError": ".yara_scan",
    "load_rules": ".yara_scan",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
