"""AASEE processing layer: from the guest's kernel trace to the analysis report.

``trace_parser`` reads the raw ftrace text, ``behaviour`` turns events into processes, file
and network activity, ``report`` assembles, writes and validates the report (``models`` holds
its data model, ``schema/report.schema.json`` documents it), ``summary`` renders a short
human view of it.
"""

from .behaviour import Behaviour, BehaviourBuilder, Limits, build_behaviour
from .models import SCHEMA_VERSION, AnalysisMeta, Report, Sample
from .report import (
    ReportValidationError,
    build_report,
    load_schema,
    report_dict,
    report_errors,
    sample_info,
    validate_report,
    write_report,
)
from .summary import summarize, summary_sections
from .trace_parser import TraceEvent, TraceParser, TraceStats, parse_trace, read_trace_lines

__all__ = [
    "SCHEMA_VERSION",
    "AnalysisMeta",
    "Behaviour",
    "BehaviourBuilder",
    "Limits",
    "Report",
    "ReportValidationError",
    "Sample",
    "TraceEvent",
    "TraceParser",
    "TraceStats",
    "build_behaviour",
    "build_report",
    "load_schema",
    "parse_trace",
    "read_trace_lines",
    "report_dict",
    "report_errors",
    "sample_info",
    "summarize",
    "summary_sections",
    "validate_report",
    "write_report",
]
