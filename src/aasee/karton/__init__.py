"""The karton front end: AASEE as a service of a karton pipeline (CERT Polska's karton).

``aasee karton`` runs ``AaseeKarton`` (``consumer``): it takes the Linux samples
karton-classifier recognised (``selection``), analyses each through the service facade
like any other front end, and sends the analysis, the MWDB tags and the dropped files back
into karton (``results``). Nothing here runs a VM: the service's workers do.
"""

from __future__ import annotations

from aasee.karton.consumer import IDENTITY, AaseeKarton, AnalysisFailed, KartonOptions
from aasee.karton.selection import build_filters, not_runnable

__all__ = [
    "IDENTITY",
    "AaseeKarton",
    "AnalysisFailed",
    "KartonOptions",
    "build_filters",
    "not_runnable",
]
