"""Sharing a report's findings with threat-intelligence platforms: MISP events and STIX 2.1
bundles.

:func:`misp_event` and :func:`stix_bundle` return JSON-ready dicts; what counts as an
indicator (and what never does, such as the sandbox's own addresses) is decided once, in
:mod:`aasee.processing.exports_iocs`, for both formats.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from .exports_iocs import Indicators, collect_indicators
from .exports_misp import misp_event
from .exports_stix import stix_bundle
from .models import Report

__all__ = ["FORMATS", "Indicators", "collect_indicators", "export", "misp_event", "stix_bundle"]

FORMATS = ("misp", "stix")

ExportFormat = Literal["misp", "stix"]


def export(report: Report, fmt: ExportFormat) -> str:
    """The report exported as ``fmt``, as indented JSON text."""
    if fmt == "misp":
        data: dict[str, Any] = misp_event(report)
    elif fmt == "stix":
        data = stix_bundle(report)
    else:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
