"""A sandbox worker process whose acquisition blocks for the task's timeout, for the tests
that kill or stop a worker mid-task (run as ``python -m tests.service.blocking_worker``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from aasee.service.serve import child_settings
from aasee.service.settings import Settings
from aasee.service.worker import (
    Progress,
    SandboxWorker,
    WorkerStopped,
    stop_on_signals,
    worker_name,
)


def acquire_slowly(
    settings: Settings,
    sample: Path,
    out_dir: Path,
    options: dict[str, Any],
    progress: Progress,
    run_id: str,
) -> None:
    progress("booting guest", None)
    deadline = time.monotonic() + float(options["timeout"])
    try:
        while time.monotonic() < deadline:
            progress("running sample", 0.1)
            time.sleep(0.05)
    finally:
        # Where run_analysis powers the VM off and removes it.
        (settings.home / f"cleaned-{run_id}").write_text("cleaned")


def main() -> int:
    index = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    settings = child_settings()
    stop_on_signals()
    worker = SandboxWorker(settings, worker_name("sandbox", index), acquire=acquire_slowly)
    try:
        worker.run_forever()
    except WorkerStopped:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
