"""The AASEE karton service: classified Linux samples in, analyses and dropped files out.

Owns ``AaseeKarton`` (a ``karton.core.Karton``: identity ``karton.aasee``) and
``KartonOptions`` (the ``[aasee]`` section of karton.ini). For each task it takes (see
``selection``) it downloads the sample, submits it to the AASEE service through the
service facade (``TaskService``; routing to a guest of the sample's architecture is the
service's), polls the task until it is ``reported`` or ``failed`` (never longer than
``wait_seconds``), and sends:

* ``{"type": "analysis", "kind": "aasee"}``: the sample, ``report.json``, ``report.html``,
  ``network.pcap`` and ``dropped`` (a list of resources, one per distinct dropped content,
  with the guest paths in its metadata), plus ``aasee_task``, ``verdict``, ``score``,
  ``signatures`` and ``tags``;
* ``{"type": "sample", "stage": "analyzed"}`` with the sample, ``tags`` and ``comments``,
  which karton-mwdb-reporter adds to the sample in MWDB (``aasee:<verdict>``,
  ``aasee:<signature id>``);
* one ``{"type": "sample", "kind": "raw"}`` per dropped file, with ``parent`` set to the
  analysed sample (karton-mwdb-reporter makes it the file's parent in MWDB), the tag
  ``aasee:dropped`` and ``aasee_depth`` one more than the sample's: the rest of the pipeline
  classifies, matches and stores it, and this service analyses it again only while its
  depth is at most ``max_depth`` (default 0: dropped files are not analysed again).

A failed analysis (the service refused the sample, the task failed, the wait ran out, the
service stopped meanwhile) sends nothing: the karton task ends ``Crashed`` with one line
saying what went wrong and what to do (karton-dashboard shows it and can restart it; a
restarted task reuses an analysis still running or finished in AASEE).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from karton.core import Config, Karton, RemoteResource, Resource, Task
from karton.core.backend import KartonBackend
from karton.core.resource import LocalResource, ResourceBase
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.exc import SQLAlchemyError

from aasee import __version__
from aasee.karton.results import (
    DROPPED_TAG,
    Results,
    ResultsError,
    fetch_results,
    report_comment,
    report_tags,
    report_verdict,
)
from aasee.karton.selection import (
    DEFAULT_SCRIPTS,
    DEPTH_KEY,
    build_filters,
    depth_of,
    not_runnable,
)
from aasee.service.db import DatabaseError
from aasee.service.facade import SubmitOptions, TaskService, TaskView

__all__ = ["IDENTITY", "AaseeKarton", "AnalysisFailed", "KartonOptions", "options_from_config"]

IDENTITY = "karton.aasee"
SECTION = "aasee"
ANALYSIS_HEADERS = {"type": "analysis", "kind": "aasee"}
ANALYZED_HEADERS = {"type": "sample", "stage": "analyzed"}
DROPPED_HEADERS = {"type": "sample", "kind": "raw"}
FINISHED = ("reported", "failed")
MAX_GUEST_PATHS = 20


class AnalysisFailed(Exception):
    """The sample was taken but no analysis came of it; the message says why and what to do."""


class KartonOptions(BaseModel):
    """The ``[aasee]`` section of karton.ini; every key is optional.

    ``timeout``: seconds the sample runs (default: the service's ``default_timeout``; a
    task's own ``timeout`` payload wins, as with drakrun). ``network``: fake, isolated, none,
    or internet if the service allows it. ``max_depth``: generations of dropped files
    analysed again (0). ``scripts``: karton-classifier's script extensions taken (sh,py,pl).
    ``wait_seconds``: longest wait for one report (default: the service's ``max_timeout`` +
    ``run_grace_seconds`` + ``postprocess_timeout_seconds``). ``poll_seconds``: how often the
    task is looked at meanwhile (2). ``report_url``: the AASEE web UI, linked in MWDB
    comments.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: float | None = Field(default=None, gt=0)
    network: Literal["fake", "isolated", "none", "internet"] = "fake"
    max_depth: int = Field(default=0, ge=0, le=16)
    scripts: tuple[str, ...] = DEFAULT_SCRIPTS
    wait_seconds: float | None = Field(default=None, gt=0)
    poll_seconds: float = Field(default=2.0, gt=0, le=60)
    report_url: str | None = None

    @field_validator("scripts", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip().lower() for part in value.split(",") if part.strip())
        return value


def options_from_config(config: Config, **overrides: Any) -> KartonOptions:
    """``[aasee]`` of ``config`` (files and ``KARTON_AASEE_*`` variables) < ``overrides``.

    Raises ``ValueError`` naming the key when a value is invalid or a key unknown.
    """
    values: dict[str, Any] = dict(config[SECTION]) if config.has_section(SECTION) else {}
    values.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return KartonOptions.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or SECTION}: {err['msg']}"
            for err in exc.errors()
        )
        raise ValueError(
            f"invalid [{SECTION}] section of the karton configuration: {problems}"
        ) from None


class AaseeKarton(Karton):
    """Runs Linux samples (ELF and shell, Python, Perl scripts) in AASEE's guests."""

    identity = IDENTITY
    version = __version__
    filters = build_filters()

    def __init__(
        self,
        service: TaskService,
        options: KartonOptions | None = None,
        config: Config | None = None,
        identity: str | None = None,
        backend: KartonBackend | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(config=config, identity=identity, backend=backend)
        self.service = service
        self.options = options or KartonOptions()
        self.filters = build_filters(self.options.scripts)
        self._sleep = sleep

    # --- one task -------------------------------------------------------------------------

    def process(self, task: Task) -> None:
        sample = task.get_resource("sample")
        name = sample.name or "sample"
        depth = depth_of(task.get_payload(DEPTH_KEY))
        if depth > self.options.max_depth:
            self.log.info(
                "not analysing %s: it was dropped by an analysed sample (depth %d, max_depth %d)",
                name,
                depth,
                self.options.max_depth,
            )
            return
        limit = self.service.settings.max_upload_bytes
        if sample.size is not None and sample.size > limit:
            raise AnalysisFailed(
                f"sample {name} ({sample.size} bytes) exceeds the service's limit of {limit} "
                "bytes (max_upload_bytes in the AASEE settings)"
            )
        data = _content(sample)
        why = not_runnable(task.headers, data)
        if why is not None:
            self.log.info("not analysing %s: %s", name, why)
            return
        view = self._submit(data, name, task.get_payload("timeout"))
        del data
        view = self._wait(view)
        with tempfile.TemporaryDirectory(prefix="aasee-karton-") as folder:
            try:
                results = fetch_results(self.service, view, Path(folder))
            except ResultsError as exc:
                raise AnalysisFailed(str(exc)) from exc
            for problem in results.problems:
                self.log.warning("AASEE task %s: %s", view.id, problem)
            self._send_results(sample, results, depth)

    def _submit(self, data: bytes, name: str, asked_timeout: Any) -> TaskView:
        given: dict[str, Any] = {"network": self.options.network}
        timeout = self.options.timeout
        if isinstance(asked_timeout, (int, float)) and not isinstance(asked_timeout, bool):
            timeout = float(asked_timeout)  # as drakrun does: the task's own "timeout"
        if timeout is not None:
            given["timeout"] = min(timeout, self.service.settings.max_timeout)
        try:
            options = SubmitOptions.model_validate(given)
            view = self.service.submit(data, name, options)
        except ValueError as exc:
            raise AnalysisFailed(f"AASEE refused sample {name}: {exc}") from exc
        self.log.info(
            "%s AASEE task %s for %s (%s, guest %s)",
            "reusing" if view.reused else "submitted",
            view.id,
            name,
            view.sha256,
            view.arch or "none",
        )
        return view

    def _wait_limit(self) -> float:
        if self.options.wait_seconds is not None:
            return self.options.wait_seconds
        settings = self.service.settings
        return (
            settings.max_timeout + settings.run_grace_seconds + settings.postprocess_timeout_seconds
        )

    def _wait(self, view: TaskView) -> TaskView:
        """The task once ``reported``; AnalysisFailed if it failed or the wait ran out."""
        limit = self._wait_limit()
        deadline = time.monotonic() + limit
        current: TaskView | None = view
        while current is not None and current.status not in FINISHED:
            if self.shutdown:
                raise AnalysisFailed(
                    f"aasee karton was stopped while AASEE task {view.id} was "
                    f"{current.status}; the analysis goes on in AASEE: restart this karton "
                    "task once the service runs again, it reuses the analysis"
                )
            if time.monotonic() > deadline:
                raise AnalysisFailed(
                    f"AASEE task {view.id} still {current.status} after {limit:.0f} s "
                    "(wait_seconds); it goes on in AASEE: restart this karton task later "
                    "to pick up its report, and check that AASEE's sandbox and postprocess "
                    "workers run (aasee serve, or aasee worker + aasee postprocess)"
                )
            self._sleep(self.options.poll_seconds)
            try:
                current = self.service.get(view.id)
            except (DatabaseError, SQLAlchemyError) as exc:
                # The database is away for a while: the task goes on, so does the wait.
                self.log.warning("AASEE task %s unreadable for now: %s", view.id, exc)
        if current is None:
            raise AnalysisFailed(f"AASEE task {view.id} was deleted before it was reported")
        if current.status == "failed":
            raise AnalysisFailed(
                f"AASEE task {view.id} failed: {current.reason or 'no reason recorded'}"
            )
        self.log.info(
            "AASEE task %s reported: verdict %s, score %s",
            current.id,
            current.verdict,
            current.score,
        )
        return current

    # --- what goes out --------------------------------------------------------------------

    def _send_results(self, sample: ResourceBase, results: Results, depth: int) -> None:
        report = results.report
        view = results.task
        tags = report_tags(report)
        comment = report_comment(report, view.id, self.options.report_url)
        signatures = [
            s["id"]
            for s in report.get("signatures") or []
            if isinstance(s, dict) and isinstance(s.get("id"), str)
        ]
        dropped = [
            Resource(
                item.name,
                path=str(item.path),
                sha256=item.sha256,
                metadata={
                    "guest_paths": list(item.guest_paths[:MAX_GUEST_PATHS]),
                    "truncated": item.truncated,
                },
            )
            for item in results.dropped
        ]
        payload: dict[str, Any] = {
            "sample": sample,
            "report.json": Resource("report.json", path=str(results.report_json)),
            "dropped": dropped,
            "aasee_task": view.id,
            "verdict": report_verdict(report),
            "score": report.get("score"),
            "signatures": signatures,
            "tags": tags,
        }
        if results.report_html is not None:
            payload["report.html"] = Resource("report.html", path=str(results.report_html))
        if results.pcap is not None:
            payload["network.pcap"] = Resource("network.pcap", path=str(results.pcap))
        analysis = Task(dict(ANALYSIS_HEADERS), payload=payload)
        self.send_task(analysis)
        self.send_task(
            Task(
                dict(ANALYZED_HEADERS),
                payload={"sample": sample, "tags": tags, "comments": [comment]},
            )
        )
        parent_name = sample.name or "the sample"
        for item, local in zip(results.dropped, dropped, strict=True):
            where = ", ".join(item.guest_paths[:3]) or "an unknown path"
            child = Task(
                dict(DROPPED_HEADERS),
                payload={
                    "sample": self._uploaded(local),
                    "parent": sample,
                    "tags": [DROPPED_TAG],
                    "comments": [
                        f"dropped by {parent_name} at {where} in AASEE analysis {view.id}"
                        + (" (only its first bytes were collected)" if item.truncated else "")
                    ],
                    DEPTH_KEY: depth + 1,
                },
            )
            self.send_task(child)
        self.log.info(
            "AASEE task %s: sent analysis %s (%s), tags %s, %d dropped file(s)",
            view.id,
            analysis.uid,
            ", ".join(sorted(k for k in payload if k.endswith((".json", ".html", ".pcap")))),
            ", ".join(tags),
            len(dropped),
        )

    def _uploaded(self, local: LocalResource) -> RemoteResource:
        """The object a sent task uploaded ``local`` to, to be shared by another task."""
        return RemoteResource(
            name=local.name,
            bucket=local.bucket,
            metadata=dict(local.metadata),
            uid=local.uid,
            size=local.size,
            backend=self.backend,
            sha256=local.sha256,
        )


def _content(sample: ResourceBase) -> bytes:
    if isinstance(sample, RemoteResource):
        with sample.download_temporary_file() as handle:
            return handle.read()
    return sample.content


def describe_filters(filters: list[dict[str, Any]]) -> list[str]:
    """The filters as ``key=value`` lines, for logs and ``--help``-like output."""
    return [", ".join(f"{k}={v}" for k, v in f.items()) for f in filters]


def headers_match(filters: list[dict[str, Any]], headers: Mapping[str, Any]) -> bool:
    """Whether karton routes a task with ``headers`` to a service with ``filters``."""
    return Task(dict(headers)).matches_filters(filters)
