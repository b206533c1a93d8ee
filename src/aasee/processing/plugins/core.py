"""The plugins that turn the run's raw artefacts into the observed behaviour.

``clock`` pairs guest times with wall time and reads the agent's exit events; ``behaviour``
parses the kernel trace into processes, files, network attempts and syscalls; ``capture``
analyses the host-side packet capture and joins it to the traced processes; ``fakenet`` adds
the HTTPS requests the fake internet decrypted; ``output`` keeps bounded stdout/stderr
excerpts. None of them raises on what the guest produced: problems become report errors.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from ..behaviour import Behaviour, BehaviourBuilder
from ..clock import GuestClock, iso_utc
from ..fakenet_log import https_requests
from ..guest_abi import GuestAbi, resolve_arch
from ..models import AgentExit, ClockSync, Files, Network, Output, Syscalls, TraceInfo
from ..net_join import attribute_traffic
from ..pcap import analyse_pcap
from ..text import decode_bytes
from ..trace_parser import TraceParser, TraceStats, read_trace_lines
from ..trace_worker import OffloadFailed, parsed_batches, worth_offloading
from .base import Plugin, ProcessingContext

__all__ = [
    "OUTPUT_EXCERPT",
    "BehaviourPlugin",
    "CapturePlugin",
    "ClockPlugin",
    "FakenetPlugin",
    "OutputPlugin",
]

logger = logging.getLogger(__name__)

OUTPUT_EXCERPT = 64 * 1024
"""Bytes of each of stdout and stderr kept in the report."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _agent_exits(exits: Iterable[Mapping[str, Any]]) -> list[AgentExit]:
    result = []
    for item in exits:
        epoch = _number(item.get("time"))
        result.append(
            AgentExit(
                pid=_integer(item.get("pid")),
                time=epoch,
                time_utc=iso_utc(epoch),
                code=_integer(item.get("code")),
                signal=_integer(item.get("signal")),
            )
        )
    return result


class ClockPlugin(Plugin):
    name = "clock"
    generates = ("analysis.clock", "analysis.exits")

    def run(self, context: ProcessingContext) -> None:
        if context.clock is not None:
            monotonic, epoch = _number(context.clock[0]), _number(context.clock[1])
            if monotonic is None or epoch is None:
                context.errors.append(
                    "guest clock pairing is not a pair of finite numbers; ignored"
                )
            else:
                context.guest_clock = GuestClock(monotonic, epoch)
                context.clock_sync = ClockSync(monotonic=monotonic, epoch=epoch)
        context.exits = _agent_exits(context.exit_events)


def _empty_behaviour(builder: BehaviourBuilder) -> Behaviour:
    return Behaviour(
        processes=[],
        process_tree=[],
        files=Files(),
        network=Network(),
        syscalls=Syscalls(),
        root=None,
        pre_exec_dropped=builder.pre_exec_dropped,
        truncated=dict(builder.truncated),
        errors=[],
    )


def _trace_warnings(stats: TraceStats, lost: int, behaviour: Behaviour) -> list[str]:
    warnings = []
    if lost:
        warnings.append(f"the guest kernel dropped {lost} trace events: behaviour is incomplete")
    if stats.interrupted:
        warnings.append(
            f"{stats.interrupted} trace records were cut short by a trace-like line: the "
            "sample may be forging trace output through names containing line breaks"
        )
    if stats.skipped:
        warnings.append(
            f"{stats.skipped} trace lines skipped ({stats.too_long} too long, "
            f"{stats.malformed} malformed, {stats.garbage} unrecognised)"
        )
    for flood in behaviour.floods:
        warnings.append(
            f"task {flood.pid} ({flood.process or 'unknown program'}) flooded the trace with "
            f"{flood.events} events in {flood.window_ms} ms: its later events but fork, exec "
            "and exit were filtered out in the guest, so that it could not hide other tasks"
        )
    if behaviour.truncated:
        dropped = ", ".join(f"{name} ({n})" for name, n in sorted(behaviour.truncated.items()))
        warnings.append(f"report limits reached, records dropped: {dropped}")
    return warnings


class BehaviourPlugin(Plugin):
    name = "behaviour"
    after = ("clock",)
    generates = ("processes", "process_tree", "files", "network", "syscalls", "analysis.trace")
    paged = (
        "processes",
        "process_tree",
        "files.*",
        "network.connections",
        "network.binds",
        "network.udp",
        "network.dns",
        "network.unix",
        "syscalls.per_process",
        "syscalls.ptrace",
    )

    def run(self, context: ProcessingContext) -> None:
        errors = context.errors
        guest, problem = resolve_arch(context.analysis.arch)
        if problem is not None:
            errors.append(f"guest architecture: {problem}")
        builder = self._builder(context, guest)
        parser = TraceParser()
        trace_path = context.artefacts.get("trace.log")
        if trace_path is None:
            errors.append("no kernel trace was recorded")
        else:
            try:
                if self._offloaded(trace_path, builder, parser):
                    if builder.trace_sha256 is not None and "trace.log" not in context.digests:
                        # For the evidence listing: the other process hashed what it read.
                        done: Future[str] = Future()
                        done.set_result(builder.trace_sha256)
                        context.digests["trace.log"] = done
                else:
                    if builder.fed:
                        builder, parser = self._builder(context, guest), TraceParser()
                    builder.feed_lines(read_trace_lines(trace_path), parser)
            except OSError as exc:
                errors.append(f"kernel trace unreadable: {exc}")
            except Exception as exc:
                # A defect met on hostile input must cost part of the behaviour, not the report
                # (parsed by a second process, the lines are counted up to the end of the
                # chunk the model stopped in).
                logger.exception("trace processing failed")
                errors.append(
                    f"trace processing stopped after line {parser.stats.lines}: "
                    f"{type(exc).__name__}: {exc}"
                )
        try:
            behaviour = builder.finish()
        except Exception as exc:
            logger.exception("behaviour model failed")
            errors.append(f"behaviour model failed: {type(exc).__name__}: {exc}")
            behaviour = _empty_behaviour(builder)
        self._apply_root_exit(behaviour, context, guest)
        context.behaviour = behaviour
        stats = parser.stats
        lost = max(int(context.lost_events), 0)
        errors += behaviour.errors
        errors += _trace_warnings(stats, lost, behaviour)
        context.trace = TraceInfo(
            events=stats.parsed,
            lines=stats.lines,
            skipped=stats.skipped,
            lost=lost,
            too_long=stats.too_long,
            malformed=stats.malformed,
            garbage=stats.garbage,
            joined=stats.joined,
            interrupted=stats.interrupted,
            pre_exec_dropped=behaviour.pre_exec_dropped,
            by_event=dict(stats.by_event),
            truncated=dict(behaviour.truncated),
            floods=behaviour.floods,
        )

    @staticmethod
    def _builder(context: ProcessingContext, guest: GuestAbi) -> BehaviourBuilder:
        return BehaviourBuilder(
            context.root_pid, context.initial_cwd, context.guest_clock, context.limits, guest
        )

    @staticmethod
    def _offloaded(trace_path: Path, builder: BehaviourBuilder, parser: TraceParser) -> bool:
        """Feed the trace to ``builder`` as a second process parses it, when it is large
        (see :mod:`..trace_worker`); False when it was not, or the other process failed (a
        defect of the parse included): the trace is then parsed here, from the start, on a
        fresh model. What the model raises is raised."""
        if not worth_offloading(trace_path):
            return False
        batches = parsed_batches(trace_path)
        try:
            builder.feed_batches(batches, parser)
        except OffloadFailed as exc:
            logger.info("trace parsed in-process: %s", exc)
            return False
        finally:
            batches.close()  # the other process is reaped (killed first if not done)
        return True

    @staticmethod
    def _apply_root_exit(behaviour: Behaviour, context: ProcessingContext, guest: GuestAbi) -> None:
        """The agent's waitpid() status is authoritative for the root; fill what the trace lacks."""
        if behaviour.root is None:
            return
        root = next((p for p in behaviour.processes if p.key == behaviour.root), None)
        agent = next((e for e in context.exits if e.pid == context.root_pid), None)
        if root is None or agent is None:
            return
        if root.exit_code is None and root.exit_signal is None:
            root.exit_code = agent.code
            root.exit_signal = agent.signal
            if agent.signal is not None:
                # Signal numbers are the guest kernel's: those of its native ABI.
                root.exit_signal_name = guest.native.abi.signal_name(agent.signal)
        if root.exit is None and agent.time is not None and context.guest_clock is not None:
            root.exit = context.guest_clock.to_monotonic(agent.time)
            root.exit_utc = agent.time_utc


class CapturePlugin(Plugin):
    name = "capture"
    requires = ("network.pcap",)
    after = ("behaviour",)
    generates = ("network.flows", "network.dns_traffic", "network.http", "network.tls")
    paged = ("network.flows", "network.dns_traffic", "network.http", "network.tls")

    def run(self, context: ProcessingContext) -> None:
        network = context.network
        captured = analyse_pcap(context.artefacts["network.pcap"])
        network.flows = captured.flows
        network.dns_traffic = captured.dns
        network.http = captured.http
        network.tls = captured.tls
        network.capture = captured.capture
        context.errors.extend(f"network capture: {error}" for error in captured.errors)
        try:
            attribute_traffic(network)
        except Exception as exc:
            logger.exception("attributing captured traffic failed")
            context.errors.append(
                f"attributing captured traffic failed: {type(exc).__name__}: {exc}"
            )


class FakenetPlugin(Plugin):
    name = "fakenet"
    requires = ("fakenet.jsonl",)
    after = ("capture",)
    generates = ("network.http",)
    paged = ("network.http",)

    def run(self, context: ProcessingContext) -> None:
        network = context.network
        try:
            network.http += https_requests(
                context.artefacts["fakenet.jsonl"], network.flows, context.errors
            )
        except OSError as exc:
            context.errors.append(f"fake internet log unreadable: {exc}")


def excerpt(data: bytes | str, total: int | None = None) -> tuple[str, int, bool]:
    """A bounded excerpt of ``data``, the size of all of it and whether it was cut."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    size = len(raw) if total is None else max(total, len(raw))
    return decode_bytes(raw[:OUTPUT_EXCERPT]), size, size > OUTPUT_EXCERPT


class OutputPlugin(Plugin):
    """Bounded excerpts of stdout/stderr; the files themselves stay in the results directory."""

    name = "output"
    generates = ("output",)

    def __init__(
        self, stdout: bytes | str | None = None, stderr: bytes | str | None = None
    ) -> None:
        self._given = (stdout, stderr)

    @staticmethod
    def _read(
        context: ProcessingContext, name: str, given: bytes | str | None
    ) -> tuple[str, int, bool]:
        if given is not None:
            return excerpt(given)
        path = context.artefacts.get(name)
        if path is None:
            return excerpt(b"")
        with path.open("rb") as handle:
            head = handle.read(OUTPUT_EXCERPT)
            return excerpt(head, total=path.stat().st_size)

    def run(self, context: ProcessingContext) -> None:
        out_text, out_bytes, out_cut = self._read(context, "stdout.txt", self._given[0])
        err_text, err_bytes, err_cut = self._read(context, "stderr.txt", self._given[1])
        context.output = Output(
            stdout=out_text,
            stderr=err_text,
            stdout_bytes=out_bytes,
            stderr_bytes=err_bytes,
            stdout_truncated=out_cut,
            stderr_truncated=err_cut,
        )
