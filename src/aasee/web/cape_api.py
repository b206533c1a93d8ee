"""A CAPE v2-compatible REST API (``/apiv2/``) over the same service as ``/api/v1``.

For CAPE clients such as IntelOwl's CAPE analyzer. Every answer is CAPE's envelope,
``{"error": false, "data": ...}`` or ``{"error": true, "error_value": "...", ...}``, and, as
CAPE does, an application error comes with HTTP 200 (only a missing or wrong token is 401, an
oversized upload 413). Paths work with and without their trailing slash. Tokens go in
``Authorization: Token <token>`` (CAPE's Django REST framework) or ``Bearer <token>``.

Task ids, sample ids and statuses are the Cuckoo API's (see ``cuckoo_api``). A report is
served once the task is ``reported``, as CAPE does: ``json`` (the default; the Cuckoo/CAPE
shaped report), ``litereport`` (CAPE's lite.json keys) or ``html``, optionally zipped
(``.../{format}/zip/``); otherwise ``Task is still being analyzed`` or ``Task failed`` (with
the reason: a sample that was not executed is a failure, never a clean report).
"""

from __future__ import annotations

import io
import json
import socket
import zipfile
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from .compat_auth import CompatError, compat_caller, error_route, route
from .cuckoo_api import (
    LIST_DEFAULT,
    URL_REFUSED,
    VERSION,
    NotUnique,
    cuckoo_status,
    diskspace,
    html_response,
    list_tasks,
    machine_dicts,
    number_of,
    pcap_stream,
    sample_dict,
    shaped_report,
    status_counts,
    submit_upload,
    task_by_number,
    task_dict,
)
from .cuckoo_report import lite_report
from .state import WebState, web_state

PREFIX = "/apiv2"
HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64}
NOT_UNIQUE = "Not unique, as unique option set on submit or in conf/web.conf"
KEEP_STATUS = frozenset({401, 404, 413, 415, 503})
"""Errors answered with their HTTP status (auth, no such endpoint, upload refused, backend
down); any other comes with 200, as CAPE's do."""
State = Annotated[WebState, Depends(web_state)]


def error(message: str, **extra: Any) -> Response:
    return JSONResponse({"error": True, "error_value": message, **extra})


def ok(data: Any, **extra: Any) -> Response:
    return JSONResponse({"error": False, "data": data, **extra})


def render(status: int, message: str, headers: Mapping[str, str] | None) -> Response:
    body: dict[str, Any] = {"error": True, "error_value": message}
    if status == 401:
        body["detail"] = message  # what Django REST framework says
    return JSONResponse(body, status if status in KEEP_STATUS else 200, headers=dict(headers or {}))


def cape_user(request: Request, state: State) -> str:
    return compat_caller(request, state, "Token")


routes = APIRouter(route_class=error_route(render), dependencies=[Depends(cape_user)])


def _task(state: WebState, task_id: int, missing: str) -> Any:
    task = task_by_number(state, task_id)
    if task is None:
        raise CompatError(200, missing)
    return task


def _reported(state: WebState, task_id: int) -> Any:
    """CAPE's ``validate_task``: the task, once reported; else the reason as an error."""
    task = _task(state, task_id, "Task does not exist")
    status = cuckoo_status(task)
    if status.startswith("failed"):
        raise CompatError(200, f"Task failed: {task.reason or status}")
    if status != "reported":
        raise CompatError(200, "Task is still being analyzed")
    return task


@route(routes, "/tasks/create/file/", ["POST"])
async def create_file(request: Request) -> Response:
    try:
        task = await submit_upload(request, web_state(request))
    except NotUnique as exc:
        return error("Error adding task to database", errors=[{exc.filename or "file": NOT_UNIQUE}])
    except CompatError as exc:
        if exc.status in KEEP_STATUS:
            raise
        return error(exc.message, errors=[{"file": exc.message}])
    number = number_of(task)
    return ok(
        {
            "task_ids": [number],
            "task_id": number,
            "message": f"Task ID {number} has been submitted",
        },
        errors=[],
        url=[f"{request.base_url}analyses/{task.id}"],
    )


@route(routes, "/tasks/create/url/", ["POST"])
def create_url() -> Response:
    return error(URL_REFUSED)


@route(routes, "/tasks/search/{kind}/{digest}/", ["GET"])
def tasks_search(state: State, kind: str, digest: str) -> Response:
    digest = digest.strip().lower()
    length = HASH_LENGTHS.get(kind)
    if length is None or len(digest) != length or any(c not in "0123456789abcdef" for c in digest):
        return error(f"search by {kind} needs a {length or 'md5, sha1 or sha256'} hex digest")
    found = state.service.find_by_hash(digest)
    return ok([task_dict(t) for t in found])


@route(routes, "/tasks/list/", ["GET"])
@route(routes, "/tasks/list/{limit}/", ["GET"])
@route(routes, "/tasks/list/{limit}/{offset}/", ["GET"])
@route(routes, "/tasks/list/{limit}/{offset}/{window}/", ["GET"])
def tasks_list(state: State, limit: int = 50, offset: int = 0, window: int = 0) -> Response:
    if limit < 0 or offset < 0:
        return error("limit and offset must be 0 or more")
    extra: dict[str, Any] = {}
    if limit > LIST_DEFAULT:
        limit, extra["warning"] = LIST_DEFAULT, "Task limit exceeds API configured limit."
    tasks = list_tasks(state, limit, offset)
    return ok(
        [task_dict(t) for t in tasks],
        config=f"Limit: {limit}, Offset: {offset}",
        buf=len(tasks),
        **extra,
    )


@route(routes, "/tasks/view/{task_id}/", ["GET"])
def tasks_view(state: State, task_id: int) -> Response:
    task = _task(state, task_id, "Task not found in database")
    return ok(task_dict(task))


@route(routes, "/tasks/status/{task_id}/", ["GET"])
def tasks_status(state: State, task_id: int) -> Response:
    return ok(cuckoo_status(_task(state, task_id, "Task does not exist")))


@route(routes, "/tasks/delete/{task_ids}/", ["GET"])
@route(routes, "/tasks/delete/{task_ids}/{status}/", ["GET"])
def tasks_delete(state: State, task_ids: str, status: str | None = None) -> Response:
    deleted, failed = [], []
    for item in task_ids.split(","):
        text = item.strip()
        task = task_by_number(state, int(text)) if text.isdigit() else None
        if task is not None and (status is None or cuckoo_status(task) == status):
            if state.service.delete(task.id):
                deleted.append(text)
                continue
        failed.append(text)
    body: dict[str, Any] = {"error": bool(failed)}
    if deleted:
        body["data"] = f"Task(s) ID(s) {','.join(deleted)} has been deleted"
    if failed:
        body["error_value"] = body["failed"] = f"Task(s) ID(s) {','.join(failed)} failed to remove"
    return JSONResponse(body)


def _attachment(data: bytes, media_type: str, filename: str) -> Response:
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )


@route(routes, "/tasks/get/report/{task_id}/", ["GET"])
@route(routes, "/tasks/get/report/{task_id}/{report_format}/", ["GET"])
@route(routes, "/tasks/get/report/{task_id}/{report_format}/{make_zip}/", ["GET"])
def tasks_report(
    state: State, task_id: int, report_format: str = "json", make_zip: str | None = None
) -> Response:
    kind = report_format.lower()
    if kind not in ("json", "litereport", "html"):
        return error("Invalid report format specified")
    task = _reported(state, task_id)
    if kind == "html":
        data = state.service.report(task.id, "html")
        if data is None:
            return error("Reports directory does not exist")
        if make_zip is None:
            return html_response(data)
        name, media = f"{task_id}_report.html", "text/html"
    else:
        shaped = shaped_report(state, task)
        if shaped is None:
            return error("Reports directory does not exist")
        body = lite_report(shaped) if kind == "litereport" else shaped
        data = json.dumps(body).encode()
        name, media = f"{task_id}_report.json", "application/json; charset=UTF-8"
    if make_zip is None:
        return _attachment(data, media, name)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(name, data)
    return _attachment(archive.getvalue(), "application/zip", f"{kind}.zip")


@route(routes, "/tasks/get/pcap/{task_id}/", ["GET"])
def tasks_pcap(state: State, task_id: int) -> Response:
    task = _reported(state, task_id)
    chunks = pcap_stream(state, task)
    if chunks is None:
        return error("PCAP does not exist")
    return StreamingResponse(
        chunks,
        media_type="application/vnd.tcpdump.pcap",
        headers={"Content-Disposition": f"attachment; filename={task_id}_dump.pcap"},
    )


@route(routes, "/files/view/{kind}/{value}/", ["GET"])
def files_view(state: State, kind: str, value: str) -> Response:
    if kind == "id":
        task = task_by_number(state, int(value)) if value.isdigit() else None
        found = [task] if task is not None else []
    else:
        digest = value.strip().lower()
        length = HASH_LENGTHS.get(kind)
        if length is None or len(digest) != length or digest.strip("0123456789abcdef"):
            return error(f"File View by {kind!r} needs an id or an md5, sha1 or sha256 digest")
        found = state.service.find_by_hash(digest)
    if not found:
        return error("Sample not found in database")
    return ok(sample_dict(found[-1]))


@route(routes, "/machines/list/", ["GET"])
def machines_list(state: State) -> Response:
    return ok(machine_dicts(state))


@route(routes, "/machines/view/{name}/", ["GET"])
def machines_view(state: State, name: str) -> Response:
    for machine in machine_dicts(state):
        if machine["name"] == name:
            return ok(machine)
    return error("Machine not found")


@route(routes, "/cuckoo/status/", ["GET"])
def status(state: State) -> Response:
    machines = machine_dicts(state)
    space = diskspace(state).get("analyses", {})
    gib = 1 << 30
    server = {}
    if space:
        server["storage"] = {
            "free": space["free"] // gib,
            "total": space["total"] // gib,
            "used": space["used"] // gib,
            "used_by": f"{round(100 * space['used'] / max(space['total'], 1))}%",
        }
    return ok(
        {
            "version": VERSION,
            "hostname": socket.gethostname(),
            "machines": {
                "total": len(machines),
                "available": sum(1 for m in machines if m["workers"]),
            },
            "tasks": status_counts(state),
            "server": server,
        }
    )


@route(routes, "/{rest:path}", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(request: Request) -> Response:
    """Any other path under /apiv2: CAPE's envelope, not the HTML error page."""
    raise CompatError(404, f"no such CAPE API endpoint: {request.url.path}")


router = APIRouter()
router.include_router(routes, prefix=PREFIX)

__all__ = ["router"]
