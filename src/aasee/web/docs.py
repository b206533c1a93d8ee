"""The OpenAPI document (``/api/openapi.json``) and Swagger UI (``/api/docs``), behind auth.

FastAPI's built-in docs page loads Swagger UI from a CDN and starts it with an inline
script; both break the no-CDN rule and the strict CSP. Here the Swagger UI assets (5.x, which
reads OpenAPI 3.1) come from the ``fastapi-offline`` package, served from this origin, and the
start-up code is a static file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import fastapi_offline
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from .auth import Principal, api_principal, ui_principal
from .state import WebState, web_state

SWAGGER_DIR = Path(fastapi_offline.__file__).parent / "static"
STATIC_DIR = Path(__file__).parent / "static"
SWAGGER_FILES = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
}

router = APIRouter(include_in_schema=False)


@router.get("/api/openapi.json")
def openapi(request: Request, user: Annotated[Principal, Depends(api_principal)]) -> Response:
    schema: dict[str, Any] = request.app.openapi()
    return JSONResponse(schema)


@router.get("/api/docs")
def docs(
    request: Request,
    state: Annotated[WebState, Depends(web_state)],
    user: Annotated[Principal, Depends(ui_principal)],
) -> Response:
    return state.templates.TemplateResponse(request, "docs.html", {"user": user, "csrf": ""})


@router.get("/favicon.ico")
def favicon() -> Response:
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


@router.get("/static/swagger/{name}")
def swagger_asset(name: str) -> Response:
    media_type = SWAGGER_FILES.get(name)
    if media_type is None:
        raise HTTPException(404, detail=f"no such asset: {name}")
    return FileResponse(SWAGGER_DIR / name, media_type=media_type)
