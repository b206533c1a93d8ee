"""The server-rendered web UI: login, analyses list, submit form, analysis page, actions,
the workers of the service.

Pages need a session (``ui_principal``; without one they redirect to the login). Every POST
form carries the session's CSRF value; the login form carries a double-submit value of its
own. Templates get data, never markup: Jinja's autoescape renders every sample-controlled
string as text.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from aasee.processing.signatures.models import VERDICTS
from aasee.service.facade import ARTEFACTS, Page, SubmitOptions, TaskView

from .api import receive_submission
from .auth import Principal, UiUser, session_of, token_stamp
from .report_view import analysis_context
from .sessions import LOGIN_CSRF_COOKIE, SESSION_COOKIE, SESSION_SECONDS, csrf_matches
from .state import WebState, web_state

STATUSES = ("pending", "starting_vm", "running", "postprocessing", "reported", "failed")
FINAL = ("reported", "failed")
PAGE_SIZES = (10, 25, 50, 100, 200)
HASH = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
MAX_SMALL_FORM = 16 << 10
MAX_REPORT_BYTES = 64 << 20

router = APIRouter(include_in_schema=False)
State = Annotated[WebState, Depends(web_state)]


def _render(
    request: Request,
    state: WebState,
    template: str,
    context: dict[str, Any],
    user: Principal | None = None,
    status_code: int = 200,
) -> Response:
    csrf = user.session.csrf if user and user.session else ""
    return state.templates.TemplateResponse(
        request,
        template,
        {"user": user, "csrf": csrf, **context},
        status_code=status_code,
    )


async def _small_form(request: Request) -> dict[str, str]:
    """A small urlencoded form (login, actions), refused above 16 KiB."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SMALL_FORM:
            raise HTTPException(413, detail="form too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, detail="the form is not valid urlencoded UTF-8") from None
    return {key: values[0] for key, values in fields.items()}


def _safe_next(target: str | None) -> str:
    # Only same-site paths: "//host" and "/\\host" would leave the site.
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/analyses"
    if any(ord(c) < 0x20 for c in target) or len(target) > 2000:
        return "/analyses"
    return target


def _check_csrf(user: Principal, submitted: str | None) -> None:
    if user.session is None or not csrf_matches(user.session, submitted):
        raise HTTPException(
            403, detail="the form's CSRF token is missing or stale: reload the page"
        )


# --- login -----------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, state: State, next: str | None = None) -> Response:
    if session_of(request, state) is not None:
        return RedirectResponse(_safe_next(next), 303)
    return _login_form(request, state, next, None, 200)


def _login_form(
    request: Request, state: WebState, next_path: str | None, error: str | None, status: int
) -> Response:
    value, cookie = state.signer.new_login_csrf()
    response = _render(
        request,
        state,
        "login.html",
        {"next": _safe_next(next_path), "login_csrf": value, "error": error},
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        cookie,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/login",
    )
    return response


@router.post("/login")
async def login(request: Request, state: State) -> Response:
    form = await _small_form(request)
    next_path = form.get("next")
    if not state.signer.check_login_csrf(request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf")):
        return _login_form(
            request, state, next_path, "The login form expired: please try again.", 403
        )
    token = form.get("token", "").strip()
    name = state.service.verify_token(token) if 0 < len(token) <= 512 else None
    stamp = token_stamp(state.service, name) if name else None
    if name is None or stamp is None:
        return _login_form(
            request, state, next_path, "That token is not valid or has been revoked.", 401
        )
    _, cookie = state.signer.new_session(name, stamp)
    response = RedirectResponse(_safe_next(next_path), 303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, user: UiUser) -> Response:
    form = await _small_form(request)
    _check_csrf(user, form.get("csrf"))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- analyses list ---------------------------------------------------------------------------


def _parse_day(text: str, end_of_day: bool) -> datetime:
    """A date (``YYYY-MM-DD``, the whole day) or an ISO datetime; naive means UTC."""
    text = text.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        moment = datetime.combine(day, time.max if end_of_day else time.min)
        return moment.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class ListQuery:
    """The list page's filters, parsed leniently: a bad filter is reported, not fatal."""

    def __init__(self, params: dict[str, str]) -> None:
        self.errors: list[str] = []
        self.q = params.get("q", "").strip()[:255]
        self.status = params.get("status", "")
        if self.status and self.status not in STATUSES:
            self.errors.append(f"unknown status {self.status!r}")
            self.status = ""
        self.verdict = params.get("verdict", "")
        if self.verdict and self.verdict not in VERDICTS:
            self.errors.append(f"unknown verdict {self.verdict!r}")
            self.verdict = ""
        self.since_text = params.get("since", "").strip()
        self.until_text = params.get("until", "").strip()
        self.since = self._moment("since", self.since_text, end_of_day=False)
        self.until = self._moment("until", self.until_text, end_of_day=True)
        self.offset = self._int(params.get("offset"), 0, 0, 10_000_000)
        self.limit = self._int(params.get("limit"), 50, 1, 200)
        self.hash = self.q.lower() if HASH.fullmatch(self.q) else ""

    def _moment(self, label: str, text: str, end_of_day: bool) -> datetime | None:
        if not text:
            return None
        try:
            return _parse_day(text, end_of_day)
        except ValueError:
            self.errors.append(f"{label}: {text!r} is not a date (YYYY-MM-DD)")
            return None

    @staticmethod
    def _int(text: str | None, default: int, low: int, high: int) -> int:
        try:
            return min(high, max(low, int(text))) if text else default
        except ValueError:
            return default

    def params(self, **changes: Any) -> str:
        values = {
            "q": self.q,
            "status": self.status,
            "verdict": self.verdict,
            "since": self.since_text,
            "until": self.until_text,
            "limit": str(self.limit),
            "offset": str(self.offset),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return urlencode({k: v for k, v in values.items() if v and v != "0"})

    def api_url(self) -> str:
        """The API call that returns this page's rows, for the live status script."""
        if self.hash:
            return "/api/v1/search?" + urlencode({"hash": self.hash})
        params: dict[str, str] = {"offset": str(self.offset), "limit": str(self.limit)}
        if self.q:
            params["name"] = self.q
        if self.status:
            params["status"] = self.status
        if self.verdict:
            params["verdict"] = self.verdict
        if self.since:
            params["since"] = self.since.isoformat()
        if self.until:
            params["until"] = self.until.isoformat()
        return "/api/v1/tasks?" + urlencode(params)


@router.get("/")
def home(user: UiUser) -> Response:
    return RedirectResponse("/analyses", 303)


@router.get("/analyses")
def analyses(request: Request, state: State, user: UiUser) -> Response:
    query = ListQuery(dict(request.query_params))
    if query.hash:
        found = state.service.find_by_hash(query.hash)
        page: Page[TaskView] = Page(items=found, total=len(found), offset=0, limit=len(found))
    else:
        page = state.service.list(
            status=query.status or None,
            verdict=query.verdict or None,
            name=query.q or None,
            since=query.since,
            until=query.until,
            offset=query.offset,
            limit=query.limit,
        )
    previous = max(0, query.offset - query.limit) if query.offset > 0 else None
    following = query.offset + query.limit if query.offset + query.limit < page.total else None
    return _render(
        request,
        state,
        "list.html",
        {
            "page": page,
            "query": query,
            "statuses": STATUSES,
            "verdicts": VERDICTS,
            "page_sizes": PAGE_SIZES,
            "final": FINAL,
            "previous": None if previous is None else query.params(offset=previous),
            "following": None if following is None else query.params(offset=following),
        },
        user,
    )


# --- submit ----------------------------------------------------------------------------------


def _submit_context(state: WebState) -> dict[str, Any]:
    return {
        "images": state.service.images(),
        "defaults": SubmitOptions.model_validate({}),
        "default_timeout": state.settings.default_timeout,
        "max_timeout": state.settings.max_timeout,
        "internet": state.settings.internet_enabled,
        "max_upload": state.settings.max_upload_bytes,
    }


@router.get("/submit")
def submit_page(request: Request, state: State, user: UiUser) -> Response:
    return _render(request, state, "submit.html", _submit_context(state), user)


@router.post("/submit")
async def submit_form(request: Request, state: State, user: UiUser) -> Response:
    # The CSRF value travels inside the multipart body, so it is checked once the body is
    # parsed; the session itself was verified before any byte of the body was read.
    try:
        task = await receive_submission(request, state, csrf_check=lambda v: _check_csrf(user, v))
    except HTTPException as exc:
        context = {**_submit_context(state), "error": exc.detail}
        return _render(request, state, "submit.html", context, user, exc.status_code)
    suffix = "?reused=1" if task.reused else ""
    return RedirectResponse(f"/analyses/{task.id}{suffix}", 303)


# --- analysis page ---------------------------------------------------------------------------


@router.get("/analyses/{task_id}")
def analysis_page(
    request: Request, state: State, user: UiUser, task_id: str, reused: str | None = None
) -> Response:
    task = state.service.get(task_id) if len(task_id) <= 64 else None
    if task is None:
        raise HTTPException(404, detail=f"no analysis with id {task_id!r}")
    context: dict[str, Any] = {
        "task": task,
        "final": FINAL,
        "reused": bool(reused),
        "artefacts": list(ARTEFACTS),
        "report_error": None,
    }
    # A sample that was not executed fails its task, but its report (static analysis, the
    # reason) is stored all the same and worth showing.
    if task.status == "reported" or task.verdict == "not executed":
        raw = state.service.report(task_id, "json")
        if raw is None:
            context["report_error"] = "the report is missing from storage"
        elif len(raw) > MAX_REPORT_BYTES:
            context["report_error"] = "the report is too large to show here: download it"
        else:
            try:
                report = json.loads(raw)
                if not isinstance(report, dict):
                    raise ValueError("the report is not a JSON object")
                context.update(analysis_context(report, task_id))
            except ValueError as exc:
                context["report_error"] = f"the report cannot be read: {exc}"
    return _render(request, state, "analysis.html", context, user)


@router.post("/analyses/{task_id}/delete")
async def delete_analysis(request: Request, state: State, user: UiUser, task_id: str) -> Response:
    form = await _small_form(request)
    _check_csrf(user, form.get("csrf"))
    if not state.service.delete(task_id):
        raise HTTPException(404, detail=f"no analysis with id {task_id!r}")
    return RedirectResponse("/analyses", 303)


@router.post("/analyses/{task_id}/reprocess")
async def reprocess_analysis(
    request: Request, state: State, user: UiUser, task_id: str
) -> Response:
    form = await _small_form(request)
    _check_csrf(user, form.get("csrf"))
    if state.service.get(task_id) is None:
        raise HTTPException(404, detail=f"no analysis with id {task_id!r}")
    try:
        state.service.reprocess(task_id)
    except KeyError:
        raise HTTPException(404, detail=f"no analysis with id {task_id!r}") from None
    except ValueError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    return RedirectResponse(f"/analyses/{task_id}", 303)


# --- workers ---------------------------------------------------------------------------------


@router.get("/workers")
def workers_page(request: Request, state: State, user: UiUser) -> Response:
    """The worker fleet: every worker, its host, what it runs and whether it is alive; kept
    live by /static/workers.js polling ``GET /api/v1/workers``."""
    workers = state.service.workers()
    return _render(
        request,
        state,
        "workers.html",
        {
            "workers": workers,
            "alive": sum(1 for worker in workers if worker.alive),
            "stale_after": state.settings.stale_after_seconds,
        },
        user,
    )


def format_time(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def format_duration(task: TaskView) -> str:
    if task.started is None:
        return ""
    end = task.finished or datetime.now(UTC)
    started = task.started if task.started.tzinfo else task.started.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    seconds = max(timedelta(0), end - started).total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
