"""The REST API under ``/api/v1``: submit, list, search, status, reports, artefacts, admin.

Every route depends on ``api_principal`` (bearer token or UI session). Handlers are thin:
they validate the request, call ``TaskService`` and shape the answer; the service owns the
data. Sync handlers run in FastAPI's thread pool, so a slow database never blocks the loop.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel

from aasee.service.facade import ARTEFACTS, Page, TaskView, WorkerView

from .auth import api_principal
from .downloads import attachment_headers, media_type_for
from .metrics import render_prometheus
from .security_headers import REPORT_HTML_CSP
from .state import WebState, web_state
from .submission import submission_from
from .uploads import UploadError, parse_upload

MAX_LIMIT = 200
HASH_KINDS = {32: "md5", 40: "sha1", 64: "sha256"}
HEX = re.compile(r"[0-9a-fA-F]+")

router = APIRouter(prefix="/api/v1", dependencies=[Depends(api_principal)])
State = Annotated[WebState, Depends(web_state)]
TaskId = Annotated[str, Path(min_length=1, max_length=64, description="The task id.")]
Status = Literal["pending", "starting_vm", "running", "postprocessing", "reported", "failed"]
VerdictName = Literal["benign", "suspicious", "malicious", "not executed"]
MAX_PART_PAGE = 1000
PartName = Annotated[
    str,
    Path(
        max_length=80,
        pattern=r"^[a-z_]+(\.[a-z_]+)*(\.jsonl)?$",
        description="A list of the report by its path (files.written, processes...), as the "
        "report's 'paged' section names it.",
    ),
]
ArtefactName = Annotated[
    str,
    Path(max_length=32, description="One of: " + ", ".join(ARTEFACTS)),
]

SUBMIT_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "The sample."},
                    "timeout": {"type": "number", "description": "Seconds to run the sample."},
                    "network": {"type": "string", "enum": ["fake", "isolated", "none", "internet"]},
                    "arguments": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Sample arguments (repeat the field once per argument).",
                    },
                    "image": {
                        "type": "string",
                        "description": "Guest image; default: one of the sample's architecture "
                        "(read from its ELF header; scripts go to the x86-64 guest).",
                    },
                    "priority": {"type": "integer", "description": "Higher runs first."},
                    "user": {"type": "string", "description": "Guest user to run as."},
                    "sandbox": {
                        "type": "string",
                        "description": "Sandbox kind: qemu (a virtual machine, the default) "
                        "or lxc (a container on the host kernel, weaker isolation).",
                    },
                    "accel": {"type": "string", "enum": ["auto", "kvm", "tcg"]},
                    "memory_mib": {"type": "integer", "description": "Guest memory."},
                    "vcpus": {"type": "integer"},
                    "revert": {"type": "string", "enum": ["auto", "snapshot", "cold"]},
                    "time_warp": {"type": "boolean", "description": "Skip guest idle time."},
                    "stop_on_exit": {"type": "boolean"},
                    "full_timeout": {
                        "type": "boolean",
                        "description": "Run the whole timeout even when the sample's "
                        "processes have all exited (default: end early, report says why).",
                    },
                    "raw_syscalls": {"type": "boolean"},
                    "boot_timeout": {"type": "number"},
                    "display": {
                        "type": "boolean",
                        "description": "A VGA display showing the guest's console (x86), "
                        "for screenshots.",
                    },
                    "force": {
                        "type": "boolean",
                        "description": "Analyse again even if this sample with these options "
                        "was already analysed.",
                    },
                },
            }
        }
    },
}


class SearchResult(BaseModel):
    hash: str
    kind: Literal["md5", "sha1", "sha256"]
    items: list[TaskView]


class ImageInfo(BaseModel):
    name: str
    arch: str
    os: str | None = None
    """Known for images built on this host."""
    workers: list[str] = []
    """Live sandbox workers that have this guest."""
    local: bool = False
    """Built on the host serving the API."""


def _task_or_404(state: WebState, task_id: str) -> TaskView:
    task = state.service.get(task_id)
    if task is None:
        raise HTTPException(404, detail=f"no task with id {task_id!r}")
    return task


def task_view_json(task: TaskView) -> dict[str, Any]:
    return task.model_dump(mode="json")


@router.post(
    "/tasks",
    status_code=201,
    response_model=TaskView,
    tags=["analyses"],
    summary="Submit a sample",
    openapi_extra={"requestBody": SUBMIT_BODY},
    responses={
        200: {"description": "Reused: this sample was already analysed with these options."},
        413: {"description": "The sample is larger than the upload limit."},
    },
)
async def submit(request: Request) -> JSONResponse:
    """Queue a sample for analysis (``multipart/form-data``; the file in ``file``).

    Returns the existing analysis (200, ``reused: true``) when the same sample was already
    analysed, or is being analysed, with the same options, unless ``force`` is true.
    """
    state = web_state(request)
    task = await receive_submission(request, state)
    return JSONResponse(
        task_view_json(task),
        status_code=200 if task.reused else 201,
        headers={"Location": f"/api/v1/tasks/{task.id}"},
    )


async def receive_submission(
    request: Request,
    state: WebState,
    csrf_check: Callable[[str | None], None] | None = None,
) -> TaskView:
    """Parse, validate and submit an upload; raises HTTPException with a clear detail.

    ``csrf_check`` (set by the UI form) gets the form's ``csrf`` field once the body is
    parsed; the form's blank argument boxes are dropped then too.
    """
    try:
        upload = await parse_upload(
            request.headers.get("content-type"),
            request.headers.get("content-length"),
            request.stream(),
            state.settings.max_upload_bytes,
        )
    except UploadError as exc:
        # The rest of the body is not read: close the connection rather than drain it.
        raise HTTPException(
            exc.status, detail=exc.detail, headers={"Connection": "close"}
        ) from None
    if csrf_check is not None:
        csrf_check(upload.first("csrf"))
    try:
        submission = submission_from(upload, drop_empty_arguments=csrf_check is not None)
        return await run_in_threadpool(
            state.service.submit,
            upload.data,
            upload.filename,
            submission.options,
            force=submission.force,
        )
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None


@router.get("/tasks", response_model=Page[TaskView], tags=["analyses"], summary="List analyses")
def list_tasks(
    state: State,
    status: Status | None = None,
    verdict: VerdictName | None = None,
    sha256: Annotated[str | None, Query(pattern="^[0-9a-fA-F]{64}$")] = None,
    name: Annotated[str | None, Query(max_length=255, description="Substring of the name.")] = None,
    since: Annotated[
        datetime | None, Query(description="Submitted at or after (ISO 8601).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Submitted at or before (ISO 8601).")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Page[TaskView]:
    """Newest first, filtered; ``limit`` is at most 200."""
    since, until = _utc(since), _utc(until)
    if since and until and since > until:
        raise HTTPException(422, detail="query parameter 'since' is after 'until'")
    try:
        return state.service.list(
            status=status,
            verdict=verdict,
            sha256=sha256.lower() if sha256 else None,
            name=name or None,
            since=since,
            until=until,
            offset=offset,
            limit=limit,
        )
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None


def _utc(moment: datetime | None) -> datetime | None:
    """Naive times in a query are taken as UTC, the zone every stored time is in."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get(
    "/search", response_model=SearchResult, tags=["analyses"], summary="Find analyses by hash"
)
def search(
    state: State,
    hash: Annotated[str, Query(min_length=32, max_length=64, description="md5, sha1 or sha256")],
) -> SearchResult:
    digest = hash.strip().lower()
    kind = HASH_KINDS.get(len(digest))
    if kind is None or not HEX.fullmatch(digest):
        raise HTTPException(
            422, detail="query parameter 'hash' must be an md5, sha1 or sha256 in hex"
        )
    return SearchResult(hash=digest, kind=kind, items=state.service.find_by_hash(digest))  # type: ignore[arg-type]


@router.get("/tasks/{task_id}", response_model=TaskView, tags=["analyses"], summary="Task status")
def get_task(state: State, task_id: TaskId) -> TaskView:
    """Status, substatus and progress (0..1 while running); verdict and score once reported."""
    return _task_or_404(state, task_id)


def _report(state: WebState, task_id: str, kind: Literal["json", "html"]) -> bytes:
    task = _task_or_404(state, task_id)
    data = state.service.report(task_id, kind)
    if data is None:
        if task.status != "reported":
            raise HTTPException(
                409,
                detail=f"task {task_id} is {task.status!r}: its report exists once it is "
                "'reported'",
            )
        raise HTTPException(404, detail=f"task {task_id} has no {kind} report in storage")
    return data


@router.get(
    "/tasks/{task_id}/report",
    tags=["results"],
    summary="Report (JSON)",
    responses={200: {"content": {"application/json": {}}}},
)
def report_json(state: State, task_id: TaskId) -> Response:
    return Response(_report(state, task_id, "json"), media_type="application/json")


@router.get(
    "/tasks/{task_id}/report.html",
    tags=["results"],
    summary="Report (HTML, sandboxed)",
    responses={200: {"content": {"text/html": {}}}},
)
def report_html(state: State, task_id: TaskId) -> Response:
    """The standalone report page, served inline under a sandboxing CSP (no script runs)."""
    return Response(
        _report(state, task_id, "html"),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": REPORT_HTML_CSP,
            "Content-Disposition": "inline",
        },
    )


class ReportPartPage(BaseModel):
    part: str
    offset: int
    limit: int
    total: int
    """Entries in the whole list."""
    items: list[Any]


def _part_page(chunks: Iterator[bytes], offset: int, limit: int) -> tuple[list[Any], int]:
    """Entries ``offset`` to ``offset + limit`` of a JSON Lines stream, and how many it holds."""
    items: list[Any] = []
    total = 0
    rest = b""
    for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            if line.strip():
                if offset <= total < offset + limit:
                    items.append(json.loads(line))
                total += 1
    if rest.strip():
        if offset <= total < offset + limit:
            items.append(json.loads(rest))
        total += 1
    return items, total


@router.get(
    "/tasks/{task_id}/report/{part}",
    tags=["results"],
    summary="A long list of the report, whole",
    responses={
        200: {"content": {"application/x-ndjson": {}, "application/json": {}}},
        404: {"description": "No such task, or the report shows that list whole."},
    },
)
def report_part(
    state: State,
    task_id: TaskId,
    part: PartName,
    offset: Annotated[
        int | None,
        Query(ge=0, le=100_000_000, description="Return one page from this entry, as JSON."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PART_PAGE)] = 200,
) -> Response:
    """A list report.json shows only the start of (its ``paged`` section names them, e.g.
    ``files.written``, ``processes``, ``process_tree``), whole: JSON Lines, one entry per
    line in report order (a map's entries as ``{"key", "value"}``). With ``offset``, one
    page of it as JSON (``items`` with the ``total``)."""
    name = part.removesuffix(".jsonl")
    task = _task_or_404(state, task_id)
    try:
        chunks = state.service.report_part(task_id, name)
    except ValueError:
        chunks = None
    if chunks is None:
        raise HTTPException(
            404,
            detail=f"task {task_id} ({task.status}) has no report list {name!r} kept apart: "
            "its report.json shows it whole, or names the lists in 'paged'",
        )
    if offset is None:
        return StreamingResponse(
            chunks,
            media_type=media_type_for(".jsonl"),
            headers=attachment_headers(f"{task_id[:8]}-report-{name}.jsonl"),
        )
    items, total = _part_page(chunks, offset, limit)
    page = ReportPartPage(part=name, offset=offset, limit=limit, total=total, items=items)
    return JSONResponse(jsonable_encoder(page))


@router.get(
    "/tasks/{task_id}/artefacts/{name}",
    tags=["results"],
    summary="Download a raw artefact",
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def artefact(state: State, task_id: TaskId, name: ArtefactName) -> StreamingResponse:
    """``dropped`` and ``sample`` are AES zips under the install's zip password."""
    if name not in ARTEFACTS:
        raise HTTPException(
            404, detail=f"no artefact called {name!r}; one of {', '.join(ARTEFACTS)}"
        )
    task = _task_or_404(state, task_id)
    found = state.service.artefact(task_id, name)
    if found is None:
        raise HTTPException(
            404, detail=f"task {task_id} ({task.status}) has no {name!r} artefact (yet)"
        )
    filename, chunks = found
    return StreamingResponse(
        chunks, media_type=media_type_for(filename), headers=attachment_headers(filename)
    )


@router.delete("/tasks/{task_id}", status_code=204, tags=["analyses"], summary="Delete an analysis")
def delete_task(state: State, task_id: TaskId) -> Response:
    """Removes the task and every stored object of it (sample, artefacts, reports)."""
    if not state.service.delete(task_id):
        raise HTTPException(404, detail=f"no task with id {task_id!r}")
    return Response(status_code=204)


@router.post(
    "/tasks/{task_id}/reprocess",
    status_code=202,
    response_model=TaskView,
    tags=["analyses"],
    summary="Re-run postprocessing",
)
def reprocess(state: State, task_id: TaskId) -> TaskView:
    """Builds the report again from the stored raw artefacts (no new VM run)."""
    _task_or_404(state, task_id)
    try:
        return state.service.reprocess(task_id)
    except KeyError:
        raise HTTPException(404, detail=f"no task with id {task_id!r}") from None
    except ValueError as exc:
        raise HTTPException(409, detail=str(exc)) from None


@router.get("/images", response_model=list[ImageInfo], tags=["service"], summary="Guest images")
def images(state: State) -> list[ImageInfo]:
    """The guests submissions may ask for (``image``), with the live workers having each;
    built with ``aasee image build``."""
    return [ImageInfo(**entry) for entry in state.service.images()]


@router.get("/workers", response_model=list[WorkerView], tags=["service"], summary="Workers")
def workers(state: State) -> list[WorkerView]:
    """Every worker process of the service (sandbox and postprocess, on every host) seen in
    the last day: host and pid, the task it is working on, the guest images, architectures
    and sandbox kinds it takes tasks for, its host's free VM slots, VM limit, warm VMs, CPUs,
    load and memory at its last heartbeat, and whether it is alive (a heartbeat within
    ``stale_after_seconds``) or stale (its task is retried elsewhere)."""
    return state.service.workers()


@router.get("/health", tags=["service"], summary="Health")
def health(state: State) -> JSONResponse:
    """Database, queue and storage reachability, workers seen, queue depth (503 if unwell)."""
    report = state.service.health()
    # No live worker is "degraded" (200): the API still takes submissions. A component that
    # cannot be reached is 503, so a load balancer stops sending traffic here.
    reachable = all(
        isinstance(report.get(part), dict) and report[part].get("ok")
        for part in ("database", "queue", "storage")
    )
    return JSONResponse(jsonable_encoder(report), status_code=200 if reachable else 503)


@router.get(
    "/metrics",
    tags=["service"],
    summary="Metrics",
    responses={200: {"content": {"text/plain": {}, "application/json": {}}}},
)
def metrics(
    request: Request,
    state: State,
    format: Literal["prometheus", "json"] = "prometheus",
) -> Response:
    """Prometheus text exposition by default; ``?format=json`` for the raw figures."""
    figures = state.service.metrics()
    if format == "json":
        return JSONResponse(jsonable_encoder(figures))
    return PlainTextResponse(
        render_prometheus(figures, request.app.state.http_metrics),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )


__all__ = ["receive_submission", "router", "task_view_json"]
