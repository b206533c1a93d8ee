"""The ``aasee`` command: analyse samples, build and list guest images, clean up.

Exit codes are listed in ``aasee.cli.exit_codes``.
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
from aasee.cli import (
    client_commands,
    exit_codes,
    export_commands,
    karton_commands,
    service_commands,
)
from aasee.cli.summary_view import render_summary

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


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
    default=None,
    help="Guest image name (default: a guest of the sample's architecture, read from its "
    "ELF header; scripts go to the x86-64 guest).",
)
@click.option(
    "--accel",
    type=click.Choice(["auto", "kvm", "tcg"]),
    default=None,
    help="Accelerator (default: $AASEE_ACCEL, else auto = KVM if a boot probe works, else "
    "TCG; guests of another architecture than the host's are always emulated).",
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
@click.option(
    "--memory",
    default=None,
    type=int,
    help="Guest memory in MiB (default: the architecture's, 1024 on x86-64).",
)
@click.option("--stop-on-exit", is_flag=True, help="End early once the sample's process exits.")
@click.option(
    "--no-time-warp",
    is_flag=True,
    help="Let guest idle time pass at wall-clock speed (TCG warps it by default).",
)
@click.option("--no-raw-syscalls", is_flag=True, help="Skip the raw syscall log.")
@click.option(
    "--full-timeout",
    is_flag=True,
    help="Run for the whole timeout even after the sample's processes have all exited and "
    "the network is quiet (by default the run ends early then).",
)
@click.option(
    "--display",
    is_flag=True,
    help="Give the guest a VGA display showing its console (x86), for the screenshots hook.",
)
@click.option(
    "--revert",
    type=click.Choice(["auto", "snapshot", "cold"]),
    default="auto",
    show_default=True,
    help="auto: restore the ready snapshot when one fits, else cold boot.",
)
@click.option(
    "--sandbox",
    type=click.Choice(["qemu", "lxc", "virtualbox"]),
    default="qemu",
    show_default=True,
    help="qemu: a virtual machine. lxc: a container on this host's kernel, for scripts and "
    "quick triage (weaker isolation: a kernel exploit reaches the host). virtualbox: untested.",
)
@click.option(
    "--hooks",
    "hooks_config",
    type=click.Path(exists=True, dir_okay=False),
    help="Extra hooks configuration (SEE JSON shape).",
)
@click.option(
    "--image-provider",
    "image_provider",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON file naming the image and its provider, in SEE\'s shape: {"name": ..., '
    '"provider": "aasee.images.providers.GlanceProvider", "provider_configuration": '
    "{...}}.",
)
@click.option("--json", "as_json", is_flag=True, help="Print report.json instead of a summary.")
def analyze(
    samples: tuple[Path, ...],
    timeout: float,
    out_dir: Path | None,
    jobs: int,
    image: str | None,
    accel: str | None,
    network: str,
    arguments: tuple[str, ...],
    user: str,
    memory: int | None,
    stop_on_exit: bool,
    no_time_warp: bool,
    no_raw_syscalls: bool,
    full_timeout: bool,
    display: bool,
    revert: str,
    sandbox: str,
    hooks_config: str | None,
    image_provider: Path | None,
    as_json: bool,
) -> None:
    """Run each SAMPLE in a disposable VM; write report.json, trace, pcap and logs."""
    from pydantic import ValidationError

    from aasee.images.store import ImageError
    from aasee.service.analysis import AnalysisOptions, SampleError, check_sample, choose_guest

    try:
        options = AnalysisOptions(
            timeout=timeout,
            image=image,
            network=network,  # type: ignore[arg-type]
            arguments=list(arguments),
            user=user,
            memory_mib=memory,
            stop_on_exit=stop_on_exit,
            full_timeout=full_timeout,
            raw_syscalls=not no_raw_syscalls,
            time_warp=not no_time_warp,
            display=display,
            revert=revert,  # type: ignore[arg-type]
            sandbox=sandbox,
        )
        if accel:
            options.accel = accel  # type: ignore[assignment]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        console.print(f"[red]error:[/red] {problems}")
        sys.exit(exit_codes.BAD_INPUT)
    provider = _provider_file(image_provider) if image_provider else None
    run = RunSettings(
        options, hooks_config, _internet_uplink() if network == "internet" else None, provider
    )
    for sample in samples:  # every input is checked (and routed) before any VM starts
        try:
            choose_guest(check_sample(sample), options, image_provider=provider)
        except (SampleError, ImageError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            sys.exit(exit_codes.BAD_INPUT)
    if len(samples) == 1:
        _analyze_one(samples[0], out_dir, run, as_json)
    else:
        _analyze_many(samples, out_dir, run, max(1, jobs))


def _provider_file(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] cannot read the image provider file {path}: {exc}")
        sys.exit(exit_codes.BAD_INPUT)
    if not isinstance(loaded, dict):
        console.print(f"[red]error:[/red] {path} must hold a JSON object")
        sys.exit(exit_codes.BAD_INPUT)
    return loaded


class RunSettings:
    """The options of a command-line analysis and what the operator adds to them."""

    def __init__(
        self,
        options: Any,
        hooks_config: str | None,
        internet: Any,
        image_provider: dict[str, Any] | None = None,
    ) -> None:
        self.options = options
        self.hooks_config = hooks_config
        self.internet = internet
        self.image_provider = image_provider

    def run(
        self, sample: Path, out_dir: Path, progress: Any, analysis_id: str | None = None
    ) -> Any:
        from aasee.service.analysis import run_analysis

        return run_analysis(
            sample,
            out_dir,
            self.options,
            progress,
            analysis_id,
            internet=self.internet,
            hooks_config=self.hooks_config,
            image_provider=self.image_provider,
        )


def _internet_uplink() -> Any:
    """The uplink the server configuration allows, or exit: never enabled by a sample option."""
    from aasee.service.settings import SettingsError, internet_uplink, load_settings

    try:
        return internet_uplink(load_settings())
    except SettingsError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(exit_codes.BAD_INPUT)


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


def _analyze_one(sample: Path, out_dir: Path | None, run: RunSettings, as_json: bool) -> None:
    import uuid

    from aasee.images.store import ImageError
    from aasee.service.analysis import AnalysisError, SampleError

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
            result = run.run(sample, out_dir, _reporter(progress, task), analysis_id)
    except (SampleError, ImageError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(exit_codes.BAD_INPUT)
    except AnalysisError as exc:
        console.print(f"[red]sandbox failure:[/red] {exc}")
        console.print(f"details: {out_dir / 'analysis.log'}")
        sys.exit(exit_codes.FAILED)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: the VM and its files were cleaned up[/yellow]")
        sys.exit(exit_codes.INTERRUPTED)
    assert result.report is not None  # postprocessing ran
    if as_json:
        out.print_json(json.dumps(result.report))
    else:
        render_summary(out, result.report, result.out_dir, result.wall_seconds)
    if not result.executed:
        console.print(f"[red]the sample was not executed:[/red] {result.not_executed_reason}")
        sys.exit(exit_codes.NOT_EXECUTED)


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
        sys.exit(exit_codes.BAD_INPUT)
    if as_json:
        out.print_json(json.dumps(result.data))
    else:
        render_summary(out, result.data, results, time.monotonic() - start)
        steps = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in result.seconds.items())
        out.print(f"postprocessing: {steps}", markup=False)


def _analyze_many(
    samples: tuple[Path, ...], out_dir: Path | None, run: RunSettings, jobs: int
) -> None:
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    from aasee.images.store import ImageError
    from aasee.service.analysis import AnalysisError, AnalysisResult, vm_limit

    parent = out_dir or Path(f"analyses-{uuid.uuid4().hex[:8]}")
    limit = vm_limit()
    if jobs > limit:
        console.print(
            f"[yellow]--jobs {jobs} exceeds the {limit} VMs this host runs at once (its CPUs "
            "x AASEE_VMS_PER_CPU, or AASEE_MAX_VMS; memory may admit fewer): the rest wait "
            "for room[/yellow]"
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
            outcomes[index] = run.run(sample, target, _reporter(progress, task))
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
        sys.exit(exit_codes.INTERRUPTED)
    table = Table(
        "sample",
        "verdict (score)",
        "processes",
        "files written",
        "connections",
        "wall s",
        "results",
    )
    failed = not_executed = False
    for index, sample in enumerate(samples):
        outcome = outcomes.get(index, "not run")
        if isinstance(outcome, str):
            failed = True
            table.add_row(sample.name, outcome, "", "", "", "", "")
            continue
        report = outcome.report or {}
        not_executed = not_executed or not outcome.executed
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
        sys.exit(exit_codes.FAILED)
    if not_executed:
        sys.exit(exit_codes.NOT_EXECUTED)


@main.group()
def image() -> None:
    """Build and list guest images."""


@image.command("build")
@click.option(
    "--arch",
    "arches",
    multiple=True,
    help="Build the guest of this architecture (x86_64, aarch64, armhf, mipsel, mips; "
    "repeatable). Default: x86_64.",
)
@click.option("--all", "build_all", is_flag=True, help="Build the guests of every architecture.")
@click.option("--name", default=None, help="Build the image of this name (see --arch).")
@click.option(
    "--profile",
    "guest_profile",
    default=None,
    help="Build a guest of this flavour: `windows` is the x86-64 guest with Wine for PE files.",
)
@click.option("--force", is_flag=True, help="Rebuild even if the cached image is current.")
@click.option("--no-snapshot", is_flag=True, help="Do not save a ready snapshot.")
def image_build(
    arches: tuple[str, ...],
    build_all: bool,
    name: str | None,
    guest_profile: str | None,
    force: bool,
    no_snapshot: bool,
) -> None:
    """Build guest images from Debian packages (cached by their inputs), then snapshot them."""
    from aasee.arch import UnknownArchitecture, get_profile, profiles
    from aasee.contexts.libvirt_connection import LibvirtUnavailable
    from aasee.images.builder import RECIPES, recipe_for
    from aasee.images.providers import register_pool
    from aasee.images.recipes import GuestRecipe
    from aasee.images.store import ImageError
    from aasee.images.wine import WINE_PROFILES, WINE_RECIPES, builder_for

    known: dict[str, GuestRecipe] = {**RECIPES, **WINE_RECIPES}
    try:
        recipes: list[GuestRecipe]
        if guest_profile is not None:
            if guest_profile not in WINE_PROFILES:
                raise ImageError(
                    f"no guest profile '{guest_profile}'; known: {', '.join(WINE_PROFILES)}"
                )
            recipes = [WINE_RECIPES[WINE_PROFILES[guest_profile]]]
        elif build_all:
            recipes = [recipe_for(profile) for profile in profiles()]
        elif name is not None:
            if name not in known:
                raise ImageError(f"no recipe '{name}'; known: {', '.join(known)}")
            recipes = [known[name]]
        else:
            recipes = [recipe_for(get_profile(arch)) for arch in (arches or ("x86_64",))]
    except (ImageError, UnknownArchitecture) as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(exit_codes.BAD_INPUT)
    built_names = []
    for recipe in recipes:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task(f"{recipe.name}: building", total=None)

            def step(message: str, label: str = recipe.name, row: Any = task) -> None:
                progress.update(row, description=f"{label}: {message}")
                console.log(f"{label}: {message}")

            try:
                built = builder_for(recipe, progress=step).build(force=force)
            except ImageError as exc:
                console.print(f"[red]image build of {recipe.name} failed:[/red] {exc}")
                sys.exit(exit_codes.FAILED)
        out.print(
            f"{built.name} ({built.arch}): {built.disk} ({built.size_bytes / 1e6:.0f} MB), "
            f"kernel {built.kernel_release}, agent {built.agent_version}"
        )
        built_names.append((built.name, recipe.profile.emulation.ready_snapshots))
    try:
        pool = register_pool()
        console.log(f"image directory registered as libvirt storage pool '{pool}'")
    except LibvirtUnavailable as exc:
        console.print(f"[yellow]warning:[/yellow] libvirt pool not registered: {exc}")
    if not no_snapshot:
        for built_name, snapshots in built_names:
            if not snapshots:
                out.print(f"{built_name} boots cold for every analysis: no ready snapshot")
                continue
            _snapshot(built_name, force=force)


def _snapshot(name: str, force: bool, memory: int | None = None, accel: str | None = None) -> None:
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
        options.accel = accel  # type: ignore[assignment]
    try:
        if not force:
            image_meta = resolve_image(name)
            chosen = choose_accel(
                image_meta.profile(), image_meta.kernel, options.accel, cache_dir()
            )
            shape = qemu_config(image_meta, options, chosen)
            existing, _ = find_snapshot(snapshot_root(), name, image_meta.inputs_key, shape)
            if existing is not None:
                out.print(f"ready snapshot of {name} is current: {existing.directory}")
                return
        with console.status(f"booting {name} to save a ready snapshot"):
            snap = make_snapshot(options)
    except (AnalysisError, ImageError, ValueError) as exc:
        console.print(f"[red]snapshot of {name} failed:[/red] {exc}")
        sys.exit(exit_codes.FAILED)
    out.print(
        f"ready snapshot of {name}: {snap.directory} (state saved in {snap.save_seconds:.2f} s)"
    )


@image.command("snapshot")
@click.option("--name", default="debian-bookworm-amd64", show_default=True)
@click.option("--memory", default=None, type=int, help="Guest memory in MiB (default: the arch's).")
@click.option("--accel", type=click.Choice(["auto", "kvm", "tcg"]), default=None)
@click.option("--force", is_flag=True, help="Replace a current snapshot.")
def image_snapshot(name: str, memory: int | None, accel: str | None, force: bool) -> None:
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
        sys.exit(exit_codes.BAD_INPUT)
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
    from aasee.contexts.libvirt_qemu import list_sandbox_domains
    from aasee.contexts.qemu_config import sweep_stale_runs
    from aasee.images.store import aasee_home

    removed = sweep_stale_runs(aasee_home() / "runs")
    out.print(f"removed {len(removed)} stale run directories")
    from aasee.contexts.lxc import list_sandbox_containers
    from aasee.contexts.qemu_process import list_qemu_sandboxes

    for name in list_sandbox_domains() + list_qemu_sandboxes():
        out.print(f"VM still running: {name}")
    for name in list_sandbox_containers():
        out.print(f"container still running: {name}")


# Service, client and export commands live in modules of their own.
for _commands in (export_commands, service_commands, client_commands, karton_commands):
    _commands.register(main)

if __name__ == "__main__":
    main()
