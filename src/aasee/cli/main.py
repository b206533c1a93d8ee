"""The ``aasee`` command: analyse samples, build and list guest images, clean up.

Exit codes: 0 the analysis ran (whatever the sample did); 2 bad input (sample, options,
image missing); 3 the sandbox itself failed.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from aasee import __version__
from aasee.cli import client_commands, export_commands, service_commands
from aasee.cli.summary_view import render_summary

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

EXIT_BAD_INPUT = 2
EXIT_SANDBOX = 3


def _sigterm_as_interrupt() -> None:
    # SIGTERM (from a service manager or `kill`) must clean up like Ctrl-C does.
    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@click.group()
@click.version_option(__version__, prog_name="aasee")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages to stderr.")
def main(verbose: bool) -> None:
    """AASEE: run unknown programs in disposable VMs and report what they do."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    # The level sits on the handler: analyses raise the "aasee" logger to DEBUG for their
    # own analysis.log, and that must not flood the terminal.
    handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG if verbose else logging.WARNING)
    _sigterm_as_interrupt()


@main.command()
@click.argument("samples", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--timeout", "-t", default=60.0, show_default=True, help="Seconds to watch.")
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Results directory (default ./analysis-<id>); with several samples, the "
    "parent of one directory per sample.",
)
@click.option(
    "--jobs",
    "-j",
    default=1,
    show_default=True,
    help="Samples analysed at once, each in its own VM.",
)
@click.option(
    "--image",
    default="debian-bookworm-amd64",
    show_default=True,
    help="Guest image name or path to its NAME.json.",
)
@click.option(
    "--accel",
    type=click.Choice(["auto", "kvm", "tcg"]),
    default=None,
    help="Accelerator (default: auto = KVM if a boot probe works, else TCG).",
)
@click.option(
    "--network",
    type=click.Choice(["fake", "isolated", "none", "internet"]),
    default="fake",
    show_default=True,
    help="fake: every name resolves and every connection is answered by the sandbox's fake "
    "internet, recorded; isolated: a NIC that reaches nothing; none: no NIC; internet: "
    "only when the server configuration enables it.",
)
@click.option("--arg", "arguments", multiple=True, help="Argument for the sample (repeatable).")
@click.option("--user", default="root", show_default=True, help="Guest user to run as.")
@click.option("--memory", default=1024, show_default=True, help="Guest memory in MiB.")
@click.option("--stop-on-exit", is_flag=True, help="End early once the sample's process exits.")
@click.option(
    "--no-time-warp",
    is_flag=True,
    help="Let guest idle time pass at wall-clock speed (TCG warps it by default).",
)
@click.option("--no-raw-syscalls", is_flag=True, help="Skip the raw syscall log.")
@click.option(
    "--revert",
    type=click.Choice(["auto", "snapshot", "cold"]),
    default="auto",
    show_default=True,
    help="auto: restore the ready snapshot when one fits, else cold boot.",
)
@click.option(
    "--hooks",
    "hooks_config",
    type=click.Path(exists=True, dir_okay=False),
    help="Extra hooks configuration (SEE JSON shape).",
)
@click.option("--json", "as_json", is_flag=True, help="Print report.json instead of a summary.")
def analyze(
    samples: tuple[Path, ...],
    timeout: float,
    out_dir: Path | None,
    jobs: int,
    image: str,
    accel: str | None,
    network: str,
    arguments: tuple[str, ...],
    user: str,
    memory: int,
    stop_on_exit: bool,
    no_time_warp: bool,
    no_raw_syscalls: bool,
    revert: str,
    hooks_config: str | None,
    as_json: bool,
) -> None:
    """Run each SAMPLE in a disposable VM; write report.json, trace, pcap and logs."""
    from aasee.service.analysis import AnalysisOptions, SampleError, check_sample

    options = AnalysisOptions(
        timeout=timeout,
        image=image,
        network=network,
        arguments=list(arguments),
        user=user,
        memory_mib=memory,
        stop_on_exit=stop_on_exit,
        raw_syscalls=not no_raw_syscalls,
        hooks_config=hooks_config,
        time_warp=not no_time_warp,
        revert=revert,
    )
    if accel:
        options.accel = accel
    if network == "internet":
        options.internet = _internet_uplink()
    for sample in samples:  # every input is checked before any VM starts
        try:
            check_sample(sample)
        except SampleError as exc:
            console.print(f"[red]error:[/red] {exc}")
            sys.exit(EXIT_BAD_INPUT)
    if len(samples) == 1:
        _analyze_one(samples[0], out_dir, options, as_json)
    else:
        _analyze_many(samples, out_dir, options, max(1, jobs))


def _internet_uplink() -> Any:
    """The uplink the server configuration allows, or exit: never enabled by a sample option."""
    from aasee.service.settings import SettingsError, internet_uplink, load_settings

    try:
        return internet_uplink(load_settings())
    except SettingsError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(EXIT_BAD_INPUT)


def _reporter(progress: Progress, task: Any) -> Any:
    """An analysis progress callback that drives one row of a rich progress display."""

    def on_progress(phase: str, fraction: float | None) -> None:
        progress.update(
            task,
            description=phase,
            total=1.0 if fraction is not None else None,
            completed=fraction or 0,
        )

    return on_progress


def _analyze_one(sample: Path, out_dir: Path | None, options: Any, as_json: bool) -> None:
    import uuid

    from aasee.images.store import ImageError
    from aasee.service.analysis import AnalysisError, SampleError, run_analysis

    analysis_id = str(uuid.uuid4())
    out_dir = out_dir or Path(f"analysis-{analysis_id[:8]}")
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    try:
        with progress:
            task = progress.add_task("starting", total=None)
            result = run_analysis(sample, out_dir, options, _reporter(progress, task), analysis_id)
    except (SampleError, ImageError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(EXIT_BAD_INPUT)
    except AnalysisError as exc:
        console.print(f"[red]sandbox failure:[/red] {exc}")
        console.print(f"details: {out_dir / 'analysis.log'}")
        sys.exit(EXIT_SANDBOX)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: the VM and its files were cleaned up[/yellow]")
        sys.exit(130)
    assert result.report is not None  # postprocessing ran
    if as_json:
        out.print_json(json.dumps(result.report))
    else:
        render_summary(out, result.report, result.out_dir, result.wall_seconds)


@main.command()
@click.argument(
    "results", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option(
    "--yara-rules",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory of extra YARA rules (default: $AASEE_HOME/yara when it exists).",
)
@click.option("--json", "as_json", is_flag=True, help="Print report.json instead of a summary.")
def reprocess(results: Path, yara_rules: Path | None, as_json: bool) -> None:
    """Rebuild DIR/report.json and report.html from the raw artefacts an analysis left in DIR."""
    import time

    from aasee.processing.pipeline import process_directory
    from aasee.processing.run_meta import RunMetaError

    start = time.monotonic()
    try:
        result = process_directory(results, user_rules=yara_rules)
    except RunMetaError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(EXIT_BAD_INPUT)
    if as_json:
        out.print_json(json.dumps(result.data))
    else:
        render_summary(out, result.data, results, time.monotonic() - start)
        steps = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in result.seconds.items())
        out.print(f"postprocessing: {steps}", markup=False)


def _analyze_many(samples: tuple[Path, ...], out_dir: Path | None, options: Any, jobs: int) -> None:
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    from aasee.images.store import ImageError
    from aasee.service.analysis import MAX_VMS, AnalysisError, AnalysisResult, run_analysis

    parent = out_dir or Path(f"analyses-{uuid.uuid4().hex[:8]}")
    if jobs > MAX_VMS:
        console.print(
            f"[yellow]--jobs {jobs} exceeds this host's {MAX_VMS} VM slots "
            "(AASEE_MAX_VMS): the rest wait for a free slot[/yellow]"
        )
    outcomes: dict[int, AnalysisResult | str] = {}
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.fields[name]}"),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )

    def work(index: int, sample: Path, task: Any) -> None:
        target = parent / f"{index + 1:03d}-{sample.name}"
        try:
            outcomes[index] = run_analysis(sample, target, options, _reporter(progress, task))
        except (AnalysisError, ImageError) as exc:
            outcomes[index] = f"failed: {exc}"
        progress.update(task, description="done", total=1.0, completed=1.0)

    try:
        with progress, ThreadPoolExecutor(max_workers=jobs) as pool:
            tasks = [progress.add_task("queued", total=None, name=s.name) for s in samples]
            futures = [
                pool.submit(work, i, s, t)
                for i, (s, t) in enumerate(zip(samples, tasks, strict=True))
            ]
            for future in futures:
                future.result()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: VMs and their files were cleaned up[/yellow]")
        sys.exit(130)
    table = Table(
        "sample",
        "verdict (score)",
        "processes",
        "files written",
        "connections",
        "wall s",
        "results",
    )
    failed = False
    for index, sample in enumerate(samples):
        outcome = outcomes.get(index, "not run")
        if isinstance(outcome, str):
            failed = True
            table.add_row(sample.name, outcome, "", "", "", "", "")
            continue
        report = outcome.report or {}
        table.add_row(
            sample.name,
            f"{report.get('verdict') or '?'} ({report.get('score')})",
            str(len(report["processes"])),
            str(len(report["files"]["written"])),
            str(len(report["network"]["connections"])),
            f"{outcome.wall_seconds:.1f}",
            str(outcome.out_dir),
        )
    out.print(table)
    if failed:
        sys.exit(EXIT_SANDBOX)


@main.group()
def image() -> None:
    """Build and list guest images."""


@image.command("build")
@click.option("--name", default="debian-bookworm-amd64", show_default=True)
@click.option("--force", is_flag=True, help="Rebuild even if the cached image is current.")
@click.option("--no-snapshot", is_flag=True, help="Do not save a ready snapshot.")
def image_build(name: str, force: bool, no_snapshot: bool) -> None:
    """Build a guest image from Debian packages (cached by its inputs), then snapshot it."""
    from aasee.contexts.libvirt_connection import LibvirtUnavailable
    from aasee.images.builder import RECIPES, ImageBuilder
    from aasee.images.providers import register_pool
    from aasee.images.store import ImageError

    if name not in RECIPES:
        console.print(f"[red]error:[/red] no recipe '{name}'; known: {', '.join(RECIPES)}")
        sys.exit(EXIT_BAD_INPUT)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("building", total=None)

        def step(message: str) -> None:
            progress.update(task, description=message)
            console.log(message)

        try:
            built = ImageBuilder(RECIPES[name], progress=step).build(force=force)
        except ImageError as exc:
            console.print(f"[red]image build failed:[/red] {exc}")
            sys.exit(EXIT_SANDBOX)
    try:
        pool = register_pool()
        console.log(f"image directory registered as libvirt storage pool '{pool}'")
    except LibvirtUnavailable as exc:
        console.print(f"[yellow]warning:[/yellow] libvirt pool not registered: {exc}")
    out.print(
        f"{built.name}: {built.disk} ({built.size_bytes / 1e6:.0f} MB), kernel "
        f"{built.kernel_release}, agent {built.agent_version}"
    )
    if not no_snapshot:
        _snapshot(built.name, force=False)


def _snapshot(name: str, force: bool, memory: int = 1024, accel: str | None = None) -> None:
    from aasee.contexts.accel import choose_accel
    from aasee.contexts.snapshots import find_snapshot
    from aasee.images.store import ImageError, cache_dir, snapshot_root
    from aasee.service.analysis import (
        AnalysisError,
        AnalysisOptions,
        make_snapshot,
        qemu_config,
        resolve_image,
    )

    options = AnalysisOptions(image=name, memory_mib=memory)
    if accel:
        options.accel = accel
    try:
        if not force:
            image_meta = resolve_image(options)
            chosen = choose_accel(image_meta.kernel, options.accel, cache_dir())
            shape = qemu_config(image_meta, options, chosen)
            existing, _ = find_snapshot(snapshot_root(), name, image_meta.inputs_key, shape)
            if existing is not None:
                out.print(f"ready snapshot is current: {existing.directory}")
                return
        with console.status("booting the guest to save a ready snapshot"):
            snap = make_snapshot(options)
    except (AnalysisError, ImageError) as exc:
        console.print(f"[red]snapshot failed:[/red] {exc}")
        sys.exit(EXIT_SANDBOX)
    out.print(f"ready snapshot: {snap.directory} (state saved in {snap.save_seconds:.2f} s)")


@image.command("snapshot")
@click.option("--name", default="debian-bookworm-amd64", show_default=True)
@click.option("--memory", default=1024, show_default=True, help="Guest memory in MiB.")
@click.option("--accel", type=click.Choice(["auto", "kvm", "tcg"]), default=None)
@click.option("--force", is_flag=True, help="Replace a current snapshot.")
def image_snapshot(name: str, memory: int, accel: str | None, force: bool) -> None:
    """Boot the guest once to a ready agent and save it for sub-second restores."""
    _snapshot(name, force=force, memory=memory, accel=accel)


@image.command("list")
def image_list() -> None:
    """List the guest images available on this host."""
    from aasee.images.store import ImageError, image_dir, list_images

    try:
        images = list_images()
    except ImageError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(EXIT_BAD_INPUT)
    if not images:
        out.print(f"no images in {image_dir()}: build one with `aasee image build`")
        return
    from aasee.contexts.snapshots import list_snapshots
    from aasee.images.store import snapshot_root

    table = Table("name", "arch", "os", "kernel", "agent", "size", "built", "ready snapshots")
    for item in images:
        shapes = [
            f"{meta['shape']['memory_mib']} MiB/{meta['shape']['vcpus']} vCPU/"
            f"{meta['shape']['accel']}"
            for meta in list_snapshots(snapshot_root(), item.name)
            if meta.get("image_key") == item.inputs_key
        ]
        table.add_row(
            item.name,
            item.arch,
            item.os,
            item.kernel_release,
            item.agent_version,
            f"{item.size_bytes / 1e6:.0f} MB",
            item.built_at,
            ", ".join(shapes) or "none (`aasee image snapshot`)",
        )
    out.print(table)


@main.command()
def cleanup() -> None:
    """Remove leftovers of analyses whose process died (run directories, domains)."""
    from aasee.contexts.libvirt_qemu import list_sandbox_domains, sweep_stale_runs
    from aasee.images.store import aasee_home

    removed = sweep_stale_runs(aasee_home() / "runs")
    out.print(f"removed {len(removed)} stale run directories")
    from aasee.contexts.qemu_process import list_qemu_sandboxes

    for name in list_sandbox_domains() + list_qemu_sandboxes():
        out.print(f"VM still running: {name}")


# Service, client and export commands live in modules of their own.
for _commands in (export_commands, service_commands, client_commands):
    _commands.register(main)

if __name__ == "__main__":
    main()
