"""Authentication and error plumbing shared by the Cuckoo- and CAPE-compatible APIs.

A caller proves itself with one of the service's API tokens, sent as
``Authorization: Bearer <token>`` (Cuckoo 2) or ``Authorization: Token <token>`` (CAPE,
Django REST framework). Without a token a request is refused, unless the operator listed the
caller's address in ``compat_anonymous_networks`` (for clients that cannot send a token, such
as InQuest's ``sandboxapi``). An empty token (``Bearer `` with nothing after it, what MISP
sends when no key is configured) counts as no token; a wrong one is always refused.

Errors must reach these clients in their own JSON shape, not the HTML page the application
shows outside ``/api``: :func:`error_route` builds the route class that renders every error
raised while handling a compat route (auth, validation, backend outages) with the style's
renderer.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from aasee.service.db import DatabaseError
from aasee.service.queue import QueueError
from aasee.service.storage import StorageError

from .auth import MAX_TOKEN_CHARS
from .errors import describe_validation
from .state import WebState

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
SCHEMES = ("bearer", "token")
HOW = (
    "send 'Authorization: Bearer <token>' or 'Authorization: Token <token>' "
    "(create a token with `aasee token create NAME`)"
)

Renderer = Callable[[int, str, Mapping[str, str] | None], Response]
Endpoint = Callable[..., Any]


class CompatError(Exception):
    """An error to answer in the API's own style: HTTP status and message."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def bearer_or_token(header: str | None) -> str | None:
    """The token of an ``Authorization`` header in either scheme; None if there is none (no
    header, another scheme, or an empty token)."""
    if header is None:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() not in SCHEMES:
        return None
    return rest.strip() or None


def anonymous_allowed(host: str | None, networks: list[str]) -> bool:
    """Whether a client at ``host`` may call without a token (an IP in a listed network)."""
    if not host or not networks:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(network) for network in networks)


def compat_caller(request: Request, state: WebState, auth_scheme: str) -> str:
    """The calling token's name, or ``ANONYMOUS``; raises a 401 ``CompatError``."""
    challenge = {"WWW-Authenticate": auth_scheme}
    token = bearer_or_token(request.headers.get("authorization"))
    if token is not None:
        if len(token) > MAX_TOKEN_CHARS or " " in token:
            raise CompatError(401, "the token is malformed or too long", challenge)
        name = state.service.verify_token(token)
        if name is None:
            raise CompatError(401, "the token is invalid or has been revoked", challenge)
        return name
    client = request.client.host if request.client else None
    if anonymous_allowed(client, state.settings.compat_anonymous_networks):
        return ANONYMOUS
    raise CompatError(401, f"authentication required: {HOW}", challenge)


def error_route(render: Renderer) -> type[APIRoute]:
    """A route class whose handler answers every error with ``render(status, message)``."""

    class CompatRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    return await handler(request)
                except CompatError as exc:
                    return render(exc.status, exc.message, exc.headers)
                except HTTPException as exc:
                    return render(exc.status_code, str(exc.detail), exc.headers)
                except RequestValidationError as exc:
                    return render(400, describe_validation(exc.errors()), None)
                except (DatabaseError, QueueError, StorageError) as exc:
                    log.error("backend failure on %s %s: %s", request.method, request.url, exc)
                    detail = f"the service backend is unavailable: {exc}"
                    return render(503, detail, {"Retry-After": "5"})

            return guarded

    return CompatRoute


def route(router: APIRouter, path: str, methods: list[str]) -> Callable[[Endpoint], Endpoint]:
    """Register an endpoint at ``path`` with and without a trailing slash (Cuckoo clients
    send none, CAPE's URLs end with one), outside the OpenAPI document."""

    def register(endpoint: Endpoint) -> Endpoint:
        bare = path.rstrip("/")
        for variant in (bare, bare + "/"):
            router.add_api_route(variant, endpoint, methods=methods, include_in_schema=False)
        return endpoint

    return register
