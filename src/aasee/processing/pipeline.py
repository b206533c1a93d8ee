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

A large run takes both cores (:mod:`.forking`): a forked child parses the trace while the
behaviour model reads its records (:mod:`.trace_worker`), another writes the files of the long
lists while the last plugins run, another runs half the signature rules, and a thread hashes
the trace for the evidence listing; each gives what the same work gives in one process
(``AASEE_SINGLE_PROCESS=1`` keeps it all in one), and if one fails the work is done here.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from aasee.arch import UnknownArchitecture, get_profile
from aasee.images.store import aasee_home

from .behaviour import Limits
from .disk_diff import DISK_DIFF
from .forking import Forked, OffloadFailed, can_fork, start_forked
from .html import write_html
from .models import AnalysisMeta, Report, Sample
from .plugins.base import Plugin, ProcessingContext
from .plugins.core import BehaviourPlugin, CapturePlugin, ClockPlugin, FakenetPlugin, OutputPlugin
from .plugins.disk import DiskPlugin
from .plugins.evidence import MEMORY_MANIFEST, SCREENSHOTS_MANIFEST, EvidencePlugin, file_sha256
from .plugins.verdict import (
    DROPPED_MANIFEST,
    DroppedPlugin,
    ScorePlugin,
    SignaturesPlugin,
    StaticPlugin,
)
from .report import (
    Cut,
    ReportBounds,
    bound_report,
    cut_report,
    list_cuts,
    sample_info,
    write_bounded,
    write_parts,
)
from .run_meta import SAMPLE_COPY, RunMeta, read_run_meta
from .trace_worker import worth_offloading
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
    objects (none of them in cycles) and each collection would walk them all again.

    When it is over, what the build left alive (the report, the model it came from) is moved
    out of the collector's way (:func:`gc.freeze`): collection re-enabled with all of it in
    the youngest generation would walk it all at the next allocation (a tenth of a second for
    a 100 MB trace). Frozen objects are freed by reference counting as usual; the next build
    puts back (:func:`gc.unfreeze`) whatever is still alive, where later collections see it
    again, so that garbage in cycles is held for one build at most."""
    enabled = gc.isenabled()
    gc.disable()
    gc.unfreeze()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


_PREHASHED = ("trace.log", "network.pcap")
"""Artefacts whose SHA-256 (for the evidence plugin's listing) is computed in a thread while
the other plugins run (hashing releases the interpreter lock, so it takes another core): a
trace a second process parses is hashed by that process instead (see the behaviour plugin)."""


def _prehash(pool: ThreadPoolExecutor, context: ProcessingContext) -> None:
    for name in _PREHASHED:
        path = context.artefacts.get(name)
        if path is not None and not (name == "trace.log" and worth_offloading(path)):
            context.digests[name] = pool.submit(file_sha256, path)


class _Cutting:
    """The files of a report's long lists, made by a forked child (see :mod:`.forking`) while
    the last plugins run, when the report is large; else (or if the child fails) by
    :meth:`finish`, here. Either way the same files and the same report.json."""

    MIN_RECORDS = 20_000
    """Entries in the long lists from which the child is worth it."""

    def __init__(
        self,
        paths: list[str],
        bounds: ReportBounds | None,
        child: Forked[dict[str, Cut]] | None,
    ) -> None:
        self.paths = paths
        self.bounds = bounds
        self.child = child

    @classmethod
    def start(
        cls, report: Report, paths: list[str], bounds: ReportBounds | None, out_dir: Path
    ) -> _Cutting:
        child = None
        if can_fork() and _entries(report, paths) >= cls.MIN_RECORDS:

            def cut() -> dict[str, Cut]:
                cuts, parts = list_cuts(report, paths, bounds)
                write_parts(parts, out_dir)
                return cuts

            try:
                child = start_forked(cut)
            except OffloadFailed:
                child = None
        return cls(paths, bounds, child)

    def close(self) -> None:
        """Forget the child (killed if it has not answered)."""
        if self.child is not None:
            self.child.close()
            self.child = None

    def finish(self, report: Report) -> tuple[Report, Mapping[str, bytes | None]]:
        """The bounded report and its parts (None: the file is written already)."""
        if self.child is not None:
            try:
                cuts = self.child.result()
            except OffloadFailed as exc:
                logger.info("report parts made in-process: %s", exc)
            else:
                return cut_report(report, cuts, self.bounds), dict.fromkeys(cuts)
        return bound_report(report, self.paths, self.bounds)


def _entries(report: Report, paths: Iterable[str]) -> int:
    """Entries in the lists at ``paths`` (``section.*``: every list of the section)."""
    total = 0
    for path in paths:
        value: Any = report
        for key in path.split("."):
            if key == "*" and isinstance(value, BaseModel):
                value = [getattr(value, name) for name in type(value).model_fields]
            else:
                value = getattr(value, key, None)
        for item in value if path.endswith(".*") and isinstance(value, list) else [value]:
            if isinstance(item, (list, dict)):
                total += len(item)
    return total


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
        plugins = order_plugins(all_plugins())
        paths = paged_paths(plugins)
        # The long lists are final once the plugins making them have run (the others only
        # read them): their files are made from then on, beside the plugins still to run.
        last = max((i for i, plugin in enumerate(plugins) if plugin.paged), default=-1)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="aasee-hash") as pool:
            _prehash(pool, context)
            seconds = run_plugins(context, plugins[: last + 1])
            cutting = _Cutting.start(context.report(), paths, bounds, out_dir)
            try:
                seconds.update(run_plugins(context, plugins[last + 1 :]))
            except BaseException:
                cutting.close()
                raise
        report = context.report()
        start = time.perf_counter()
        bounded, parts = cutting.finish(report)
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
