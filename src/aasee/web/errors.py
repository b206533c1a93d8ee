"""Error responses: JSON with a clear ``detail`` under /api, an HTML page elsewhere.

Validation errors are flattened into one sentence naming each bad parameter, so a client
sees ``query parameter 'limit': Input should be less than or equal to 200`` rather than a
nested structure. Unexpected exceptions are logged with their traceback and answered with a
500 that leaks nothing of the server's internals.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from aasee.service.db import DatabaseError
from aasee.service.queue import QueueError
from aasee.service.storage import StorageError

from .auth import LoginRequired
from .state import web_state

log = logging.getLogger(__name__)

LOCATIONS = {"query": "query parameter", "path": "path parameter", "body": "field"}


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def describe_validation(errors: Any) -> str:
    """One readable sentence for pydantic/FastAPI validation errors."""
    parts = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ())]
        where = LOCATIONS.get(loc[0], loc[0]) if loc else "request"
        name = ".".join(loc[1:])
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where} {name!r}: {message}" if name else message)
    return "; ".join(parts) or "invalid request"


def error_page(request: Request, status: int, detail: str) -> Response:
    templates = web_state(request).templates
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "detail": detail}, status_code=status
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.url.path}"
        if exc.status_code == 405 and detail == "Method Not Allowed":
            detail = f"{request.method} is not allowed on {request.url.path}"
        if is_api(request):
            return JSONResponse({"detail": detail}, exc.status_code, headers=exc.headers)
        return error_page(request, exc.status_code, detail)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        detail = describe_validation(exc.errors())
        if is_api(request):
            return JSONResponse({"detail": detail}, 422)
        return error_page(request, 422, detail)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", 303)

    async def backend_down(request: Request, exc: Exception) -> Response:
        # A database, queue or storage that cannot be reached is not the client's fault and
        # usually passes: 503 says "try again", and the message says which part failed.
        log.error("backend failure on %s %s: %s", request.method, request.url.path, exc)
        detail = f"the service backend is unavailable: {exc}"
        if is_api(request):
            return JSONResponse({"detail": detail}, 503, headers={"Retry-After": "5"})
        return error_page(request, 503, detail)

    for backend_error in (DatabaseError, QueueError, StorageError):
        app.add_exception_handler(backend_error, backend_down)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        detail = "internal server error: the server log has the details"
        if is_api(request):
            return JSONResponse({"detail": detail}, 500)
        return error_page(request, 500, detail)
