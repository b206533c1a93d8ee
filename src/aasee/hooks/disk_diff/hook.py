"""The disk diff as a hook: once the VM is gone, compare its disk with the base, host-side.

A root sample can blind the in-guest tracer; what it then does to the disk still lands in
the run's qcow2 overlay, which only the host reads, after QEMU is dead. This hook runs the
diff (:func:`~aasee.hooks.disk_diff.collect.disk_diff`) on ``post_poweroff`` (or
``post_shutdown``), writes ``disk_diff.json`` and the small changed files
(``disk_diff/<sha256>``) into the results, and announces the artefact. A diff that fails is
recorded in the file, never raised: it must not cost the analysis. The overlay's backing
chain is read before the VM starts: QEMU's user owns the overlay during the run, and a chain
rewritten meanwhile is refused rather than followed.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from aasee.core import Event, Hook, HookParameters

from .collect import FORMAT_VERSION, RESULT_FILE, chain_files, disk_diff
from .diff import DiffLimits

__all__ = ["DiskDiffHook"]

logger = logging.getLogger(__name__)


def _limits(configuration: Any) -> DiffLimits:
    defaults = DiffLimits()
    values: dict[str, Any] = {}
    for name in (
        "time_limit",
        "max_entries",
        "max_file_bytes",
        "max_total_bytes",
        "hash_limit",
        "max_hash_bytes",
        "max_walk_dirs",
    ):
        key = f"disk_diff_{name}"
        if key in configuration:
            kind = type(getattr(defaults, name))
            value = kind(configuration[key])
            if value <= 0:
                raise ValueError(f"{key} must be positive")
            values[name] = value
    return DiffLimits(**{**defaults.__dict__, **values})


class DiskDiffHook(Hook):
    """configuration: ``results_dir``; ``disk_diff_time_limit`` (seconds, default 20);
    ``disk_diff_max_entries`` (default 20000; beyond, changes are only counted);
    ``disk_diff_max_file_bytes`` (content kept per file, default 1 MiB);
    ``disk_diff_max_total_bytes`` (content kept in all, default 64 MiB);
    ``disk_diff_hash_limit`` (files hashed up to this size, default 16 MiB);
    ``disk_diff_method`` (``auto``, ``fuse`` or ``copy``); ``disk_diff_ignore`` (extra path
    patterns of guest noise); ``disk_diff_tmp`` (where the views are set up).

    Uses the context's ``overlay`` (the run's qcow2 overlay, a :class:`~pathlib.Path`).
    """

    requires: ClassVar[frozenset[str]] = frozenset({"disk_overlay"})

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.limits = _limits(self.configuration)
        self.method = str(self.configuration.get("disk_diff_method", "auto"))
        if self.method not in ("auto", "fuse", "copy"):
            raise ValueError(f"disk_diff_method {self.method!r} is not auto, fuse or copy")
        self.ignore = [str(p) for p in self.configuration.get("disk_diff_ignore", [])]
        tmp = self.configuration.get("disk_diff_tmp")
        self.tmp_root = Path(str(tmp)) if tmp else None
        self.powered = False
        self.done = False
        self.sample_path: str | None = None
        self.expected_chain: list[str] | None = None
        self.context.subscribe("pre_poweron", self._remember_chain)
        self.context.subscribe("post_poweron", self._powered)
        self.context.subscribe("sample_started", self._sample)
        self.context.subscribe("post_poweroff", self._diff)
        self.context.subscribe("post_shutdown", self._diff)

    def _remember_chain(self, event: Event) -> None:
        # Before QEMU runs, the overlay's header is still the one the host wrote.
        overlay = getattr(self.context, "overlay", None)
        if overlay is None:
            return
        try:
            self.expected_chain = chain_files(Path(str(overlay)))
        except Exception as exc:  # the diff will say what is wrong with the overlay
            self.logger.warning("disk overlay chain not recorded before the run: %s", exc)

    def _powered(self, event: Event) -> None:
        self.powered = True

    def _sample(self, event: Event) -> None:
        path = event.payload.get("guest_path")
        self.sample_path = str(path) if path is not None else None

    def _diff(self, event: Event | None = None) -> None:
        if self.done or not self.powered:
            return
        self.done = True
        try:
            results = Path(str(self.configuration["results_dir"]))
            results.mkdir(parents=True, exist_ok=True)
        except (KeyError, OSError) as exc:
            self.logger.error("disk diff not written: no results directory (%s)", exc)
            return
        start = time.monotonic()
        try:
            overlay = getattr(self.context, "overlay", None)
            if overlay is None:
                raise ValueError("the context exposes no disk overlay")
            document = disk_diff(
                Path(str(overlay)),
                results,
                limits=self.limits,
                method=self.method,
                sample_path=self.sample_path,
                ignore=self.ignore,
                tmp_root=self.tmp_root,
                expected_chain=self.expected_chain,
            )
        except Exception as exc:  # never let a broken diff cost the analysis
            self.logger.exception("disk diff failed")
            document = {
                "version": FORMAT_VERSION,
                "seconds": round(time.monotonic() - start, 3),
                "errors": [f"disk diff failed: {type(exc).__name__}: {exc}"],
                "entries": [],
            }
        try:
            size = _write_json(results / RESULT_FILE, document)
        except (OSError, TypeError, ValueError) as exc:
            self.logger.error("disk diff not written: %s", exc)
            return
        counts = document.get("counts") or {}
        self.logger.info(
            "disk diff in %.2f s: %s%s",
            float(document.get("seconds") or 0),
            ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no changes",
            f" ({len(document['errors'])} errors)" if document.get("errors") else "",
        )
        self.context.trigger("artifact", name=RESULT_FILE, size=size, truncated=False)

    def cleanup(self) -> None:
        # Nothing is held between events: the views live only inside one diff.
        return


def _write_json(path: Path, document: dict[str, Any]) -> int:
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    data = text.encode("utf-8", "backslashreplace")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    return len(data)
