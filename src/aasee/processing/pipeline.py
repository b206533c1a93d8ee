"""Postprocessing: raw artefacts of a finished run -> ``report.json`` and ``report.html``.

Owns the plugin order and how failures are contained. :func:`process_results` reads a results
directory (``run.json`` plus the raw artefacts the sandbox left: ``trace.log``,
``network.pcap``, ``fakenet.jsonl``, ``stdout.txt``, ``stderr.txt``, ``sample.bin``,
``dropped/``), runs every plugin in dependency order and writes the reports: ``report.json``
bounded (the start of each long list a plugin declares ``paged``, the whole of it in
``report/<list>.jsonl``) and ``report.html``. It never needs the VM, so it runs after the VM
slot is released, and again on stored artefacts (``aasee reprocess DIR``) with the same
result. A plugin whose artefacts are missing is skipped; one that fails costs its own
sections, recorded in ``errors``, never the report.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aasee.arch import UnknownArchitecture, get_profile
from aasee.images.store import aasee_home

from .behaviour import Limits
from .disk_diff import DISK_DIFF
from .html import write_html
from .models import AnalysisMeta, Report, Sample
from .plugins.base import Plugin, ProcessingContext
from .plugins.core import BehaviourPlugin, CapturePlugin, ClockPlugin, FakenetPlugin, OutputPlugin
from .plugins.disk import DiskPlugin
from .plugins.evidence import MEMORY_MANIFEST, SCREENSHOTS_MANIFEST, EvidencePlugin
from .plugins.verdict import (
    DROPPED_MANIFEST,
    DroppedPlugin,
    ScorePlugin,
    SignaturesPlugin,
    StaticPlugin,
)
from .report import ReportBounds, bound_report, sample_info, write_bounded
from .run_meta import SAMPLE_COPY, RunMeta, read_run_meta
from .windows.plugin import WindowsPlugin

__all__ = [
    "ARTEFACTS",
    "PipelineError",
    "ProcessingResult",
    "all_plugins",
    "context_for_directory",
    "order_plugins",
    "paged_paths",
    "process_results",
    "run_plugins",
]

logger = logging.getLogger(__name__)

ARTEFACTS = (
    "trace.log",
    "network.pcap",
    "fakenet.jsonl",
    "stdout.txt",
    "stderr.txt",
    SAMPLE_COPY,
    DROPPED_MANIFEST,
    DISK_DIFF,
    MEMORY_MANIFEST,
    SCREENSHOTS_MANIFEST,
)
"""Raw artefacts a results directory may hold (besides ``run.json``)."""


class PipelineError(ValueError):
    """The plugin set cannot be ordered (a cycle or an unknown dependency)."""


def all_plugins() -> list[Plugin]:
    return [
        ClockPlugin(),
        BehaviourPlugin(),
        CapturePlugin(),
        FakenetPlugin(),
        OutputPlugin(),
        StaticPlugin(),
        DroppedPlugin(),
        DiskPlugin(),
        EvidencePlugin(),
        WindowsPlugin(),
        SignaturesPlugin(),
        ScorePlugin(),
    ]


def order_plugins(plugins: Sequence[Plugin]) -> list[Plugin]:
    """Plugins in an order where each runs after those it names in ``after``.

    Dependencies on plugins absent from ``plugins`` are ignored (a partial pipeline, as the
    behaviour-only report builder uses); ties keep the given order.
    """
    by_name = {plugin.name: plugin for plugin in plugins}
    if len(by_name) != len(plugins):
        raise PipelineError("two plugins share a name")
    ordered: list[Plugin] = []
    state: dict[str, str] = {}

    def visit(plugin: Plugin, chain: tuple[str, ...]) -> None:
        if state.get(plugin.name) == "done":
            return
        if state.get(plugin.name) == "visiting":
            raise PipelineError("plugin dependency cycle: " + " -> ".join((*chain, plugin.name)))
        state[plugin.name] = "visiting"
        for name in plugin.after:
            if name in by_name:
                visit(by_name[name], (*chain, plugin.name))
        state[plugin.name] = "done"
        ordered.append(plugin)

    for plugin in plugins:
        visit(plugin, ())
    return ordered


def run_plugins(context: ProcessingContext, plugins: Iterable[Plugin]) -> dict[str, float]:
    """Run ``plugins`` in dependency order on ``context``; seconds each took, by name."""
    seconds: dict[str, float] = {}
    for plugin in order_plugins(list(plugins)):
        absent = [name for name in plugin.requires if name not in context.artefacts]
        if absent:
            note = plugin.missing(context, absent)
            if note:
                context.errors.append(note)
            logger.info("plugin %s skipped: %s missing", plugin.name, ", ".join(absent))
            continue
        start = time.perf_counter()
        try:
            plugin.run(context)
        except Exception as exc:
            # A defect (or hostile input) in one plugin costs its sections, not the report.
            logger.exception("plugin %s failed", plugin.name)
            context.errors.append(
                f"postprocessing plugin {plugin.name} failed: {type(exc).__name__}: {exc}"
            )
        seconds[plugin.name] = round(time.perf_counter() - start, 4)
    return seconds


def _present(out_dir: Path) -> dict[str, Path]:
    found = {}
    for name in ARTEFACTS:
        path = out_dir / name
        if path.is_file() and not path.is_symlink():
            found[name] = path
    return found


def context_for_directory(
    out_dir: Path, meta: RunMeta, *, user_rules: Path | None = None, limits: Limits | None = None
) -> ProcessingContext:
    artefacts = _present(out_dir)
    errors = list(meta.errors)
    if meta.trace_truncated:
        errors.append("the trace exceeded its size limit and was truncated")
    sample_copy = artefacts.get(SAMPLE_COPY)
    if sample_copy is not None:
        sample = sample_info(sample_copy, name=meta.sample_name)
    else:
        # Without the sample's bytes the report still describes the run.
        sample = Sample(name=meta.sample_name, size=0, md5="", sha1="", sha256="", type=None)
    analysis = AnalysisMeta(
        id=meta.analysis_id,
        started=meta.started,
        ended=meta.ended,
        timeout=meta.timeout,
        hypervisor=meta.hypervisor,
        sandbox=meta.sandbox,
        end_reason=meta.end_reason,
        isolation=meta.isolation,
        accel=meta.accel,
        guest_image=meta.guest_image,
        boot=meta.boot,
        timings=meta.timings,
        arch=_arch_name(meta.arch),
        sample_arch=meta.sample_arch,
        executed=meta.executed,
        # A reason only stands beside executed=false (a stale one would contradict it).
        not_executed_reason=None
        if meta.executed
        else (meta.not_executed_reason or "no reason was recorded"),
        tracer_protection=meta.tracer_protection,
    )
    return ProcessingContext(
        sample=sample,
        analysis=analysis,
        artefacts=artefacts,
        root_pid=meta.root_pid,
        initial_cwd=meta.initial_cwd,
        clock=meta.clock_sync,
        exit_events=list(meta.exits),
        lost_events=max(meta.trace_lost, 0),
        limits=limits,
        user_rules=user_rules,
        errors=errors,
    )


def _arch_name(arch: str) -> str:
    """The profile's own name for ``arch`` (``amd64`` -> ``x86_64``); unknown names are kept
    as given (the behaviour plugin reports them)."""
    try:
        return get_profile(arch).name
    except UnknownArchitecture:
        return arch


def default_user_rules() -> Path | None:
    """The analyst's own YARA rules: ``$AASEE_YARA_RULES``, else ``$AASEE_HOME/yara``."""
    configured = os.environ.get("AASEE_YARA_RULES")
    folder = Path(configured) if configured else aasee_home() / "yara"
    return folder if folder.is_dir() else None


class ProcessingResult:
    """The report of a results directory and what producing it cost."""

    def __init__(self, report: Report, data: dict[str, Any], seconds: dict[str, float]) -> None:
        self.report = report
        self.data = data
        self.seconds = seconds


def paged_paths(plugins: Iterable[Plugin]) -> list[str]:
    """The lists the plugins declare may grow long (see :attr:`Plugin.paged`), in order."""
    return list(dict.fromkeys(path for plugin in plugins for path in plugin.paged))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a report is built: it allocates millions of
    objects (none of them in cycles) and each collection would walk them all again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def process_directory(
    out_dir: Path,
    *,
    user_rules: Path | None = None,
    limits: Limits | None = None,
    html: bool = True,
    bounds: ReportBounds | None = None,
) -> ProcessingResult:
    """Build, validate and write ``report.json`` (and ``report.html``) for ``out_dir``.

    ``report.json`` shows the start of each long list (``bounds``), the files under
    ``report/`` hold them whole; :attr:`ProcessingResult.report` is the whole report and
    :attr:`ProcessingResult.data` what report.json holds.
    """
    with _collector_paused():
        meta = read_run_meta(out_dir)
        if user_rules is None:
            user_rules = default_user_rules()
        context = context_for_directory(out_dir, meta, user_rules=user_rules, limits=limits)
        plugins = all_plugins()
        seconds = run_plugins(context, plugins)
        report = context.report()
        start = time.perf_counter()
        bounded, parts = bound_report(report, paged_paths(plugins), bounds)
        # The whole report knows where its long lists are kept (the HTML report links them).
        report.paged = bounded.paged
        seconds["bound"] = round(time.perf_counter() - start, 4)
        if html:
            start = time.perf_counter()
            try:
                write_html(report, out_dir / "report.html")
            except Exception as exc:
                logger.exception("HTML report failed")
                note = f"HTML report failed: {type(exc).__name__}: {exc}"
                report.errors.append(note)
                bounded.errors = [*bounded.errors, note]
            seconds["html"] = round(time.perf_counter() - start, 4)
        start = time.perf_counter()
        data = write_bounded(bounded, parts, out_dir)
        seconds["write"] = round(time.perf_counter() - start, 4)
    return ProcessingResult(report, data, seconds)


def process_results(
    out_dir: Path, *, user_rules: Path | None = None, limits: Limits | None = None
) -> dict[str, Any]:
    """Run all postprocessing on ``out_dir``; the report written there, as a dict."""
    return process_directory(out_dir, user_rules=user_rules, limits=limits).data
