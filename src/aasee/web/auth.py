"""Who is asking: API tokens (``Authorization: Bearer``) and UI sessions, for every route.

The API takes a bearer token, or the UI's session cookie so the pages' own scripts can read
it; a state-changing API call made with the cookie must also carry the session's CSRF value
in ``X-CSRF-Token``. UI pages take only the session. Sessions die with their token: each
request checks that the token they were opened with still exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aasee.service.facade import TaskService

from .sessions import SESSION_COOKIE, Session, csrf_matches
from .state import WebState, web_state

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_TOKEN_CHARS = 512
HOW_TO_AUTHENTICATE = (
    "send 'Authorization: Bearer <token>' (create a token with `aasee token create NAME`)"
)

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An API token from `aasee token create NAME`.",
)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the token's name and, for UI callers, their session."""

    name: str
    session: Session | None = None


class LoginRequired(Exception):
    """A UI page was asked for without a valid session: the handler redirects to the login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def token_stamp(service: TaskService, name: str) -> str | None:
    """The creation stamp of the active token called ``name``, or None if there is none."""
    created = service.token_created(name)
    return None if created is None else created.isoformat()


def session_of(request: Request, state: WebState) -> Session | None:
    """The request's session if its cookie is genuine, unexpired, and its token still live."""
    session = state.signer.read_session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    if token_stamp(state.service, session.name) != session.stamp:
        return None
    return session


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def api_principal(
    request: Request,
    state: Annotated[WebState, Depends(web_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """Dependency of every API route: a valid token or session, else 401 (403 on CSRF)."""
    header = request.headers.get("authorization")
    if header is not None:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _unauthorized(
                f"the Authorization header is not a bearer token: {HOW_TO_AUTHENTICATE}"
            )
        token = credentials.credentials.strip()
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise _unauthorized("the bearer token is empty or too long")
        name = state.service.verify_token(token)
        if name is None:
            raise _unauthorized("the token is invalid or has been revoked")
        return Principal(name)
    session = session_of(request, state)
    if session is None:
        raise _unauthorized(f"authentication required: {HOW_TO_AUTHENTICATE}")
    if request.method not in SAFE_METHODS and not csrf_matches(
        session, request.headers.get("x-csrf-token")
    ):
        raise HTTPException(
            403, detail="a session-authenticated change needs the X-CSRF-Token header"
        )
    return Principal(session.name, session)


def ui_principal(request: Request, state: Annotated[WebState, Depends(web_state)]) -> Principal:
    """Dependency of every UI page: a valid session, else a redirect to the login page."""
    session = session_of(request, state)
    if session is None:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        raise LoginRequired(target if request.method == "GET" else "/")
    return Principal(session.name, session)


ApiUser = Annotated[Principal, Depends(api_principal)]
UiUser = Annotated[Principal, Depends(ui_principal)]
