"""Builds the web application: REST API, web UI, docs, static files, security middleware.

``create_app(settings)`` is what ``aasee serve`` and ``aasee web`` run under uvicorn;
``create_app_from_env()`` is the same for ``uvicorn --factory`` (settings from the usual
file and environment variables).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChainableUndefined, Environment, FileSystemLoader

from aasee import __version__
from aasee.service.facade import TaskService
from aasee.service.settings import Settings, load_settings

from . import api, cape_api, cuckoo_api, docs, ui
from .errors import install_error_handlers
from .metrics import HttpMetrics, HttpMetricsMiddleware
from .security_headers import SecurityHeadersMiddleware
from .sessions import Signer, load_or_create_secret
from .state import WebState

HERE = Path(__file__).parent
SECRET_FILE = "web.secret"


def _templates() -> Jinja2Templates:
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = ui.format_time
    environment.filters["duration"] = ui.format_duration
    environment.globals["version"] = __version__
    return Jinja2Templates(env=environment)


def create_app(settings: Settings) -> FastAPI:
    """The whole web application on the given settings (opens the database and storage)."""
    service = TaskService(settings)
    signer = Signer(load_or_create_secret(settings.service_dir / SECRET_FILE))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(
        title="AASEE",
        version=__version__,
        summary="Automated malware sandbox: submit samples, follow analyses, fetch reports.",
        description="Every endpoint needs `Authorization: Bearer <token>`; create a token "
        "with `aasee token create NAME`.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.web = WebState(settings, service, signer, _templates())
    app.state.http_metrics = HttpMetrics()
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(cape_api.router)
    app.include_router(cuckoo_api.router)
    app.include_router(docs.router)
    app.include_router(ui.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(HttpMetricsMiddleware, metrics=app.state.http_metrics)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def create_app_from_env() -> FastAPI:
    """``uvicorn --factory aasee.web.app:create_app_from_env``: settings from file and env."""
    return create_app(load_settings())
