"""A Cuckoo Sandbox 2.0.7-compatible REST API over the same service as ``/api/v1``.

For the clients analysts already run against Cuckoo (TheHive/Cortex's CuckooSandbox analyzer,
IntelOwl, MISP's ``cuckoo_submit``, InQuest's ``sandboxapi``). The routes are served at the
host's root, as Cuckoo's API server has them (MISP builds its URLs from the root), and again
under ``/v1`` (Cuckoo's own alias) and ``/cuckoo``; with or without a trailing slash.

Tasks are known by their integer ``number`` (``TaskView.number``, allocated once and never
reused); a sample's id is the number of the task it was submitted with. Statuses::

    pending                                   -> pending
    starting_vm, running, postprocessing      -> running
    reported                                  -> reported
    failed, before a report could be made     -> failed_analysis  (errors: the reason)
    failed, the sample was not executed       -> failed_analysis  (errors: the reason)
    failed while postprocessing               -> failed_processing

``completed`` (run over, report not written yet) is never shown: common clients take it for
"the report is ready" and would read a missing report as a clean one. Errors are Cuckoo's
``{"message": ...}`` with its HTTP status. Submissions take the same path, limits and routing
as ``POST /api/v1/tasks``; see :func:`compat_options` for the fields understood.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import socket
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from aasee import __version__
from aasee.service.facade import SubmitOptions, TaskView

from .compat_auth import CompatError, compat_caller, error_route, route
from .cuckoo_report import cuckoo_report, cuckoo_time
from .errors import describe_validation
from .security_headers import REPORT_HTML_CSP
from .state import WebState, web_state
from .uploads import Upload, UploadError, parse_upload

VERSION = f"aasee-{__version__}"
PREFIXES = ("", "/v1", "/cuckoo")
LIST_DEFAULT = 1000
"""Cuckoo lists every task when no limit is given; here at most this many."""
PAGE = 200
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
ROUTES = {"none": "none", "drop": "isolated", "inetsim": "fake", "internet": "internet"}
URL_REFUSED = (
    "URL analysis is not supported: this sandbox analyses files (Linux programs and scripts); "
    "submit the file to tasks/create/file"
)
State = Annotated[WebState, Depends(web_state)]


# --- status, task, sample, machine shapes ------------------------------------------------


def cuckoo_status(task: TaskView) -> str:
    """Our task state as Cuckoo names it (see the module's table)."""
    if task.status == "pending":
        return "pending"
    if task.status == "reported":
        return "reported"
    if task.status != "failed":
        return "running"
    if task.verdict == "not executed":
        return "failed_analysis"
    if set(task.artefacts) - {"sample"}:
        return "failed_processing"
    return "failed_analysis"


def number_of(task: TaskView) -> int:
    if task.number is None:  # every task gets one at submission (and the migration's backfill)
        raise CompatError(500, f"task {task.id} has no number")
    return task.number


def sample_dict(task: TaskView) -> dict[str, Any]:
    return {
        "id": number_of(task),
        "file_size": task.size,
        "file_type": None,
        "md5": task.md5,
        "crc32": None,
        "sha1": task.sha1,
        "sha256": task.sha256,
        "sha512": None,
        "ssdeep": None,
    }


def task_dict(task: TaskView) -> dict[str, Any]:
    """A task as Cuckoo's ``Task.to_dict()`` with its guest, errors and sample (``target``:
    the submitted file name, as CAPE shows it; there is no host path to show)."""
    number = number_of(task)
    guest: dict[str, Any] = {}
    if task.started is not None:
        guest = {
            "id": number,
            "name": task.options.image or "",
            "label": task.options.image or "",
            "manager": task.options.sandbox,
            "started_on": cuckoo_time(task.started),
            "shutdown_on": cuckoo_time(task.finished),
            "task_id": number,
        }
    return {
        "id": number,
        "category": "file",
        "target": task.filename,
        "timeout": int(task.options.timeout),
        "priority": task.options.priority + 1,
        "custom": "",
        "owner": "",
        "machine": task.options.image or "",
        "package": "",
        "tags": [],
        "options": "",
        "platform": "linux",
        "memory": False,
        "enforce_timeout": task.options.full_timeout,
        "clock": cuckoo_time(task.created),
        "added_on": cuckoo_time(task.created),
        "started_on": cuckoo_time(task.started),
        "completed_on": cuckoo_time(task.finished),
        "status": cuckoo_status(task),
        "sample_id": number,
        "processing": None,
        "route": task.options.network,
        "submit_id": None,
        "guest": guest,
        "errors": [task.reason] if task.status == "failed" and task.reason else [],
        "sample": sample_dict(task),
        "aasee": {
            "id": task.id,
            "status": task.status,
            "substatus": task.substatus,
            "verdict": task.verdict,
            "score": task.score,
            "progress": task.progress,
        },
    }


def machine_dicts(state: WebState) -> list[dict[str, Any]]:
    """The guest images, as Cuckoo's machines (available: a live worker has it)."""
    machines = []
    for index, image in enumerate(state.service.images(), start=1):
        machines.append(
            {
                "id": index,
                "name": image["name"],
                "label": image["name"],
                "ip": None,
                "platform": "linux",
                "arch": image["arch"],
                "os": image.get("os"),
                "tags": [t for t in (image["arch"], image.get("os")) if t],
                "interface": None,
                "snapshot": None,
                "locked": False,
                "locked_changed_on": None,
                "status": "available" if image["workers"] else "no live worker",
                "status_changed_on": None,
                "resultserver_ip": None,
                "resultserver_port": None,
                "workers": image["workers"],
            }
        )
    return machines


def status_counts(state: WebState) -> dict[str, int]:
    counts = state.service.metrics()["tasks"]
    return {
        "total": sum(counts.values()),
        "pending": counts.get("pending", 0),
        "running": sum(counts.get(s, 0) for s in ("starting_vm", "running", "postprocessing")),
        "completed": 0,
        "reported": counts.get("reported", 0),
        "failed": counts.get("failed", 0),
    }


def diskspace(state: WebState) -> dict[str, dict[str, int]]:
    path = state.settings.service_dir
    if not path.is_dir():
        return {}
    stats = os.statvfs(path)
    free, total = stats.f_bavail * stats.f_frsize, stats.f_blocks * stats.f_frsize
    return {"analyses": {"free": free, "total": total, "used": total - free}}


# --- submissions (shared with the CAPE API) ------------------------------------------------


class NotUnique(CompatError):
    """``unique`` was asked for and this file was already submitted."""

    def __init__(self, filename: str) -> None:
        super().__init__(400, "This file has already been submitted")
        self.filename = filename


def parse_bool(text: str) -> bool:
    return text.strip().lower() in TRUE_WORDS


def parse_options(text: str) -> dict[str, str]:
    """Cuckoo's ``options`` field: ``key=value,key2=value2``."""
    found = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            found[key.strip()] = value.strip()
    return found


def compat_options(
    fields: Mapping[str, list[str]], images: list[str]
) -> tuple[SubmitOptions, bool]:
    """Cuckoo/CAPE form fields as our options, and whether ``unique`` was asked for.

    ``timeout`` (0 or empty: the default), ``priority`` (Cuckoo's 1-3 become 0-2; ours
    run higher first), ``machine`` (a guest image), ``enforce_timeout`` (run the whole
    timeout), ``route`` or ``options`` ``route=`` (none, drop, inetsim, internet) and
    ``options`` ``arguments=`` (the sample's command line). Other fields (``package``,
    ``platform``, ``tags``, ``custom``, ``owner``, ``memory``, ``clock``...) are accepted and
    ignored. Raises a 400 ``CompatError`` naming a bad value.
    """

    def first(name: str) -> str:
        values = fields.get(name) or [""]
        return values[0].strip()

    raw: dict[str, Any] = {}
    if timeout := first("timeout"):
        try:
            seconds = float(timeout)
        except ValueError:
            raise CompatError(400, f"timeout {timeout!r} is not a number of seconds") from None
        if seconds < 0:
            raise CompatError(400, f"timeout {timeout!r} is negative")
        if seconds > 0:
            raw["timeout"] = seconds
    if priority := first("priority"):
        try:
            raw["priority"] = max(-10, min(10, int(priority) - 1))
        except ValueError:
            raise CompatError(400, f"priority {priority!r} is not an integer") from None
    if machine := first("machine"):
        if machine not in images:
            raise CompatError(
                400, f"Machine '{machine}' does not exist. Available: {', '.join(images)}"
            )
        raw["image"] = machine
    if parse_bool(first("enforce_timeout")):
        raw["full_timeout"] = True
    options = parse_options(first("options"))
    if route_name := (first("route") or options.get("route", "")):
        network = ROUTES.get(route_name.lower())
        if network is None:
            raise CompatError(
                400, f"route {route_name!r} is not offered here; use one of {', '.join(ROUTES)}"
            )
        raw["network"] = network
    if arguments := options.get("arguments"):
        try:
            raw["arguments"] = shlex.split(arguments)
        except ValueError as exc:
            raise CompatError(400, f"options arguments= cannot be split: {exc}") from None
    try:
        return SubmitOptions.model_validate(raw), parse_bool(first("unique"))
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]
        raise CompatError(400, describe_validation(errors)) from None


async def submit_upload(request: Request, state: WebState) -> TaskView:
    """Read a Cuckoo/CAPE ``multipart`` submission and submit it like ``POST /api/v1/tasks``."""
    try:
        upload: Upload = await parse_upload(
            request.headers.get("content-type"),
            request.headers.get("content-length"),
            request.stream(),
            state.settings.max_upload_bytes,
        )
    except UploadError as exc:
        raise CompatError(exc.status, exc.detail, {"Connection": "close"}) from None
    images = []
    if "machine" in upload.fields:
        images = [str(i["name"]) for i in await run_in_threadpool(state.service.images)]
    options, unique = compat_options(upload.fields, images)
    if unique:
        sha256 = hashlib.sha256(upload.data).hexdigest()
        if await run_in_threadpool(state.service.find_by_hash, sha256):
            raise NotUnique(upload.filename)
    try:
        return await run_in_threadpool(
            state.service.submit, upload.data, upload.filename, options, force=False
        )
    except ValueError as exc:
        raise CompatError(400, str(exc)) from None


# --- reading -------------------------------------------------------------------------------


def task_by_number(state: WebState, number: int) -> TaskView | None:
    return state.service.get_by_number(number)


def load_report(state: WebState, task: TaskView) -> dict[str, Any] | None:
    data = state.service.report(task.id, "json")
    if data is None:
        return None
    report: dict[str, Any] = json.loads(data)
    return report


def shaped_report(state: WebState, task: TaskView) -> dict[str, Any] | None:
    report = load_report(state, task)
    return None if report is None else cuckoo_report(report, task, number_of(task), VERSION)


def html_response(data: bytes) -> Response:
    return Response(
        data,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": REPORT_HTML_CSP, "Content-Disposition": "inline"},
    )


def pcap_stream(state: WebState, task: TaskView) -> Iterator[bytes] | None:
    found = state.service.artefact(task.id, "pcap")
    return None if found is None else found[1]


def list_tasks(state: WebState, limit: int, offset: int) -> list[TaskView]:
    """Newest first, ``limit`` tasks from ``offset``, in pages the service allows."""
    tasks: list[TaskView] = []
    while len(tasks) < limit:
        page = state.service.list(offset=offset + len(tasks), limit=min(PAGE, limit - len(tasks)))
        tasks.extend(page.items)
        if len(page.items) < page.limit:
            break
    return tasks


def _all_archive(state: WebState, task: TaskView, shaped: dict[str, Any], mode: str) -> Any:
    """Cuckoo's ``all`` report: the reports and the capture in a (bzip2) tar, spooled."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115 - streamed, closed
    with tarfile.open(fileobj=spool, mode=mode) as tar:  # type: ignore[call-overload]

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("reports/report.json", json.dumps(shaped, indent=1).encode())
        raw = state.service.report(task.id, "json")
        if raw is not None:
            add("reports/aasee.json", raw)
        html = state.service.report(task.id, "html")
        if html is not None:
            add("reports/report.html", html)
        chunks = pcap_stream(state, task)
        if chunks is not None:
            with tempfile.TemporaryFile() as pcap:
                for chunk in chunks:
                    pcap.write(chunk)
                info = tarfile.TarInfo("dump.pcap")
                info.size = pcap.tell()
                pcap.seek(0)
                tar.addfile(info, pcap)
    spool.seek(0)
    return spool


def stream_file(handle: Any) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(1 << 20):
            yield chunk


# --- routes --------------------------------------------------------------------------------


def render(status: int, message: str, headers: Mapping[str, str] | None) -> Response:
    return JSONResponse({"message": message}, status, headers=dict(headers or {}))


def cuckoo_user(request: Request, state: State) -> str:
    return compat_caller(request, state, "Bearer")


routes = APIRouter(route_class=error_route(render), dependencies=[Depends(cuckoo_user)])


@route(routes, "/tasks/create/file", ["POST"])
async def create_file(request: Request) -> Response:
    task = await submit_upload(request, web_state(request))
    number = number_of(task)
    # Cuckoo 2 answers task_id; Cortex's analyzer reads task_ids[0] first (Cuckoo-modified).
    return JSONResponse({"task_id": number, "task_ids": [number]})


@route(routes, "/tasks/create/url", ["POST"])
def create_url() -> Response:
    raise CompatError(400, URL_REFUSED)


@route(routes, "/tasks/list", ["GET"])
@route(routes, "/tasks/list/{limit}", ["GET"])
@route(routes, "/tasks/list/{limit}/{offset}", ["GET"])
def tasks_list(state: State, limit: int = LIST_DEFAULT, offset: int = 0) -> Response:
    if limit < 0 or offset < 0:
        raise CompatError(400, "limit and offset must be 0 or more")
    tasks = list_tasks(state, min(limit, LIST_DEFAULT), offset)
    return JSONResponse({"tasks": [task_dict(t) for t in tasks]})


@route(routes, "/tasks/view/{task_id}", ["GET"])
def tasks_view(state: State, task_id: int) -> Response:
    task = task_by_number(state, task_id)
    if task is None:
        raise CompatError(404, "Task not found")
    return JSONResponse({"task": task_dict(task)})


@route(routes, "/tasks/report/{task_id}", ["GET"])
@route(routes, "/tasks/report/{task_id}/{report_format}", ["GET"])
def tasks_report(
    state: State,
    task_id: int,
    report_format: str = "json",
    tar: Annotated[str | None, Query()] = None,
) -> Response:
    kind = report_format.lower()
    if kind not in ("json", "html", "all"):
        raise CompatError(400, "Invalid report format")
    task = task_by_number(state, task_id)
    if task is None:
        raise CompatError(404, "Task not found")
    if kind == "html":
        html = state.service.report(task.id, "html")
        if html is None:
            raise CompatError(404, f"Report not found (task {task_id} is {cuckoo_status(task)})")
        return html_response(html)
    shaped = shaped_report(state, task)
    if shaped is None:
        raise CompatError(404, f"Report not found (task {task_id} is {cuckoo_status(task)})")
    if kind == "json":
        return JSONResponse(shaped)
    modes = {"bz2": "w:bz2", "gz": "w:gz", "tar": "w"}
    spool = _all_archive(state, task, shaped, modes.get(tar or "bz2", "w:bz2"))
    return StreamingResponse(stream_file(spool), media_type="application/x-tar")


@route(routes, "/tasks/delete/{task_id}", ["GET"])
def tasks_delete(state: State, task_id: int) -> Response:
    task = task_by_number(state, task_id)
    if task is None or not state.service.delete(task.id):
        raise CompatError(404, "Task not found")
    return JSONResponse({"status": "OK"})


def _sample_by_hash(state: WebState, digest: str, length: int) -> Response:
    digest = digest.strip().lower()
    if len(digest) != length or any(c not in "0123456789abcdef" for c in digest):
        raise CompatError(400, "Invalid lookup term")
    found = state.service.find_by_hash(digest)
    if not found:
        raise CompatError(404, "File not found")
    return JSONResponse({"sample": sample_dict(found[-1])})  # its first task: the sample id


@route(routes, "/files/view/md5/{md5}", ["GET"])
def files_view_md5(state: State, md5: str) -> Response:
    return _sample_by_hash(state, md5, 32)


@route(routes, "/files/view/sha256/{sha256}", ["GET"])
def files_view_sha256(state: State, sha256: str) -> Response:
    return _sample_by_hash(state, sha256, 64)


@route(routes, "/files/view/id/{sample_id}", ["GET"])
def files_view_id(state: State, sample_id: int) -> Response:
    task = task_by_number(state, sample_id)
    if task is None:
        raise CompatError(404, "File not found")
    return JSONResponse({"sample": sample_dict(task)})


@route(routes, "/pcap/get/{task_id}", ["GET"])
def pcap_get(state: State, task_id: int) -> Response:
    task = task_by_number(state, task_id)
    chunks = None if task is None else pcap_stream(state, task)
    if chunks is None:
        raise CompatError(404, "File not found")
    return StreamingResponse(chunks, media_type="application/octet-stream")


@route(routes, "/machines/list", ["GET"])
def machines_list(state: State) -> Response:
    return JSONResponse({"machines": machine_dicts(state)})


@route(routes, "/machines/view/{name}", ["GET"])
def machines_view(state: State, name: str) -> Response:
    for machine in machine_dicts(state):
        if machine["name"] == name:
            return JSONResponse({"machine": machine})
    raise CompatError(404, "Machine not found")


@route(routes, "/cuckoo/status", ["GET"])
def status(state: State) -> Response:
    machines = machine_dicts(state)
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else []
    return JSONResponse(
        {
            "version": VERSION,
            "hostname": socket.gethostname(),
            "machines": {
                "total": len(machines),
                "available": sum(1 for m in machines if m["workers"]),
            },
            "tasks": status_counts(state),
            "diskspace": diskspace(state),
            "cpuload": load,
        }
    )


router = APIRouter()
for _prefix in PREFIXES:
    router.include_router(routes, prefix=_prefix)

__all__ = [
    "NotUnique",
    "cuckoo_status",
    "machine_dicts",
    "router",
    "shaped_report",
    "status_counts",
    "submit_upload",
    "task_by_number",
    "task_dict",
]
