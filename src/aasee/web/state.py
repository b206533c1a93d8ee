"""What every request handler shares: settings, the task service, the signer, templates."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.templating import Jinja2Templates

from aasee.service.facade import TaskService
from aasee.service.settings import Settings

from .sessions import Signer


@dataclass
class WebState:
    settings: Settings
    service: TaskService
    signer: Signer
    templates: Jinja2Templates


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state
