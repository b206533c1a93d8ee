"""Host-side disk diff: its time on a realistic disk, as a ratio to a plain ``qemu-img map``.

Builds, without mounting anything, what an analysis leaves behind: a 2 GiB ext4 image disk
(``mke2fs -d``) holding about 300 MB in some 15 000 files and 1 500 directories (generated
from a fixed seed), a ready snapshot's frozen disk over it (a few boot-time changes, its
journal needing recovery, as a disk saved from a running guest does), and the run's overlay
over that with 50 changed files (created, in a new directory, appended to, replaced, deleted,
chmod/chown, symbolic links) and a journal transaction not yet checkpointed. Then times

- ``map``   ``qemu-img map --output=json`` of the overlay (the baseline: the least any
  host-side look at the overlay costs)
- ``fuse``  the whole diff as the hook runs it as root (FUSE views, both journals replayed)
- ``copy``  the whole diff with ``qemu-img convert`` copies (the fallback without root)

and prints each median with its ratio to the baseline; the figures go to
``bench/results/disk_diff.json``. ``--cold`` drops the page cache before every run.

    .venv/bin/python bench/disk_diff.py [--runs 5] [--cold] [--workdir /var/tmp]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aasee.hooks.disk_diff import DiffLimits, disk_diff

RESULTS = Path(__file__).parent / "results" / "disk_diff.json"
BLOCK = 4096
SEED = 20240501


def run(*argv: object) -> str:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {result.stderr.strip()}")
    return result.stdout


def make_tree(root: Path, rng: random.Random) -> tuple[list[str], list[str]]:
    """~300 MB in ~15 000 files under ~1 500 directories; (directories, files) relative."""
    directories = ["usr", "etc", "var", "opt", "srv"]
    for name in directories:
        (root / name).mkdir(parents=True)
    while len(directories) < 1500:
        parent = rng.choice(directories)
        if parent.count("/") >= 5:
            continue
        child = f"{parent}/d{len(directories):04d}"
        (root / child).mkdir()
        directories.append(child)
    files = []
    total = 0
    for index in range(15000):
        size = min(int(rng.lognormvariate(8.65, 1.6)), 8 << 20)
        name = f"{rng.choice(directories)}/f{index:05d}"
        (root / name).write_bytes(rng.randbytes(size))
        files.append(name)
        total += size
    scale = (300 << 20) / total
    print(
        f"tree: {len(directories)} directories, {len(files)} files, {total >> 20} MiB "
        f"(target 300 MiB: x{scale:.2f})",
        flush=True,
    )
    return directories, files


def debugfs(raw: Path, commands: list[str]) -> None:
    script = raw.with_suffix(".cmds")
    script.write_text("\n".join(commands) + "\n")
    run("debugfs", "-w", "-f", script, raw)


def journal_block(raw: Path, block: int, work: Path) -> None:
    """Log one block, unchanged, in a committed transaction: the disk needs recovery."""
    with raw.open("rb") as handle:
        handle.seek(block * BLOCK)
        data = handle.read(BLOCK)
    (work / "block.bin").write_bytes(data)
    debugfs(raw, ["jo", f"jw -b {block} {work / 'block.bin'}", "jc"])


def layer(below: Path, raw: Path, target: Path) -> Path:
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", raw, "-F", "raw", target)
    run("qemu-img", "rebase", "-q", "-b", below, "-F", "qcow2", target)
    return target


def build(work: Path) -> Path:
    rng = random.Random(SEED)
    tree = work / "tree"
    directories, files = make_tree(tree, rng)
    raw = work / "disk.raw"
    start = time.monotonic()
    run("mke2fs", "-q", "-F", "-t", "ext4", "-b", BLOCK, "-d", tree, raw, "2G")
    shutil.rmtree(tree)
    base = work / "image.qcow2"
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, base)
    print(f"image disk built in {time.monotonic() - start:.1f} s", flush=True)
    payload = work / "payload"
    payload.write_bytes(rng.randbytes(3000))
    # The ready snapshot: booted once, a few files written, saved while mounted.
    debugfs(raw, [f"write {payload} /var/boot-{i}" for i in range(5)])
    journal_block(raw, 1, work)
    frozen = layer(base, raw, work / "frozen.qcow2")
    # The run: 50 changed files, and a transaction still in the journal.
    victims = rng.sample(files, 23)
    commands = [f"write {payload} /{rng.choice(directories)}/new{i}" for i in range(20)]
    commands += ["mkdir /opt/.hidden"] + [f"write {payload} /opt/.hidden/h{i}" for i in range(5)]
    for name in victims[:5]:
        commands += [f"rm /{name}", f"write {payload} /{name}"]
    commands += [f"rm /{name}" for name in victims[5:10]]
    commands += [f"sif /{name} mode 0104755" for name in victims[10:12]]
    commands += [f"sif /{victims[12]} uid 1000"]
    commands += [f"symlink /opt/.hidden/l{i} /{victims[13 + i]}" for i in range(2)]
    debugfs(raw, commands)
    with raw.open("r+b") as handle:
        for name in victims[15:23]:  # appended to in place
            blocks = run("debugfs", "-R", f"blocks /{name}", raw).split()
            if blocks:
                handle.seek(int(blocks[-1]) * BLOCK)
                handle.write(b"appended by the sample\n")
    debugfs(raw, [f"sif /{name} mtime 20300101000000" for name in victims[15:23]])
    journal_block(raw, 1, work)
    overlay = layer(frozen, raw, work / "overlay.qcow2")
    raw.unlink()
    return overlay


def drop_caches() -> None:
    subprocess.run(["sync"], check=False)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def timed(label: str, runs: int, cold: bool, action: Any) -> tuple[float, Any]:
    times = []
    value = None
    for _ in range(runs):
        if cold:
            drop_caches()
        start = time.perf_counter()
        value = action()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"{label:6s} median {median:.3f} s over {runs} runs", flush=True)
    return median, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aasee-bench-diskdiff-", dir=args.workdir))
    try:
        overlay = build(work)
        results = work / "results"
        results.mkdir()
        limits = DiffLimits(time_limit=120)
        base, _ = timed(
            "map",
            args.runs * 4,
            args.cold,
            lambda: run("qemu-img", "map", "--output=json", overlay),
        )
        figures: dict[str, Any] = {"map_seconds": round(base, 4)}
        for method in ("fuse", "copy"):
            median, document = timed(
                method,
                args.runs,
                args.cold,
                lambda m=method: disk_diff(overlay, results, limits=limits, method=m),
            )
            counts = document["counts"]
            print(f"       {counts} journals {document['journal']} errors {document['errors']}")
            figures[method] = {
                "seconds": round(median, 4),
                "ratio_to_map": round(median / base, 1),
                "counts": counts,
                "journal": document["journal"],
                "errors": document["errors"],
                "overlay_bytes": document["overlay_bytes"],
            }
        for method in ("fuse", "copy"):
            print(
                f"{method}: {figures[method]['seconds']:.3f} s = "
                f"{figures[method]['ratio_to_map']}x qemu-img map ({base * 1000:.1f} ms)"
            )
        figures["cold_cache"] = args.cold
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
