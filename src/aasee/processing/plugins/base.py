"""The postprocessing plugin contract and the state plugins share while a report is built.

A plugin declares the raw artefacts it ``requires`` (files in the results directory), the
plugins whose output it reads (``after``), the report sections it ``generates`` and which of
their lists may be long (``paged``: report.json shows their start, a file beside it the rest). The
pipeline (:mod:`aasee.processing.pipeline`) runs plugins in dependency order; a plugin whose
artefacts are missing is skipped, one that raises is recorded in the report's ``errors`` and the
others still run.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..behaviour import Behaviour, Limits
from ..clock import GuestClock
from ..models import (
    AgentExit,
    Analysis,
    AnalysisMeta,
    ClockSync,
    DroppedFile,
    Files,
    FileSystemDiff,
    Network,
    Output,
    Report,
    RunEvidence,
    Sample,
    Syscalls,
    TraceInfo,
)
from ..signatures.models import AttackSummary, ScoreDetails, SignatureMatch, Verdict
from ..static.models import StaticAnalysis
from ..windows.model import WindowsEvidence

__all__ = ["Plugin", "ProcessingContext"]


@dataclass
class ProcessingContext:
    """Inputs of one report and the sections plugins have produced so far."""

    sample: Sample
    analysis: AnalysisMeta
    artefacts: Mapping[str, Path]
    """Raw artefacts present, by name (``trace.log``, ``network.pcap``, ...)."""
    root_pid: int | None = None
    initial_cwd: str = "/"
    clock: tuple[float, float] | None = None
    exit_events: list[Mapping[str, Any]] = field(default_factory=list)
    lost_events: int = 0
    limits: Limits | None = None
    user_rules: Path | None = None
    errors: list[str] = field(default_factory=list)
    yara_rules: Any = None
    """The compiled YARA rules, loaded once by the first plugin that needs them."""
    digests: dict[str, Future[str]] = field(default_factory=dict)
    """SHA-256 of artefacts (by name) being computed beside the plugins (see the pipeline)."""
    # produced by plugins
    guest_clock: GuestClock | None = None
    clock_sync: ClockSync | None = None
    exits: list[AgentExit] = field(default_factory=list)
    trace: TraceInfo = field(default_factory=TraceInfo)
    behaviour: Behaviour | None = None
    output: Output = field(default_factory=Output)
    static: StaticAnalysis | None = None
    dropped: list[DroppedFile] = field(default_factory=list)
    filesystem: FileSystemDiff | None = None
    evidence: RunEvidence | None = None
    signatures: list[SignatureMatch] = field(default_factory=list)
    attack: AttackSummary = field(default_factory=AttackSummary)
    score: float | None = None
    verdict: Verdict | None = None
    score_details: ScoreDetails | None = None
    windows: WindowsEvidence | None = None

    @property
    def network(self) -> Network:
        if self.behaviour is None:
            raise RuntimeError("network requested before the behaviour plugin ran")
        return self.behaviour.network

    def report(self) -> Report:
        """The report as far as the plugins got."""
        behaviour = self.behaviour
        return Report(
            sample=self.sample,
            analysis=Analysis(
                **self.analysis.model_dump(),
                clock=self.clock_sync,
                exits=self.exits,
                trace=self.trace,
            ),
            processes=behaviour.processes if behaviour else [],
            process_tree=behaviour.process_tree if behaviour else [],
            files=behaviour.files if behaviour else Files(),
            network=behaviour.network if behaviour else Network(),
            syscalls=behaviour.syscalls if behaviour else Syscalls(),
            output=self.output,
            static=self.static,
            dropped=self.dropped,
            filesystem=self.filesystem,
            evidence=self.evidence,
            signatures=self.signatures,
            attack=self.attack,
            score=self.score,
            verdict=self.verdict,
            score_details=self.score_details,
            windows=self.windows,
            errors=self.errors,
        )


class Plugin:
    """One postprocessing step. Subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    """Raw artefacts (file names in the results directory) without which it cannot run."""
    after: ClassVar[tuple[str, ...]] = ()
    """Plugins whose sections this one reads: they run first."""
    generates: ClassVar[tuple[str, ...]] = ()
    """Report sections this plugin fills."""
    paged: ClassVar[tuple[str, ...]] = ()
    """Lists (or maps) of those sections that may grow long, by path in the report
    (``files.written``; ``files.*`` for every list of ``files``): ``report.json`` shows their
    start, a file beside it holds them whole (see :func:`aasee.processing.report.bound_report`).
    """

    def missing(self, context: ProcessingContext, absent: list[str]) -> str | None:
        """What to record in ``errors`` when required artefacts are absent (None: nothing)."""
        return None

    def run(self, context: ProcessingContext) -> None:
        raise NotImplementedError
