"""`/console/`: the login, the start page, the language choice and the console's static files (an APIRouter).

The composition root provides an `Authenticator` (consumers.console.auth), includes `router`, mounts
`static_files()` at `/console/static` and calls `auth.install(app)` for the login redirects and refusals. The pages
of each role are their own routers (ops: consumers.console.ops_http; management: consumers.console.management_http).
"""

from __future__ import annotations

import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from consumers.console import i18n
from consumers.console.accounts import LANGUAGES
from consumers.console.auth import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    LOGIN_PATH,
    SESSION_COOKIE,
    ConsoleUser,
    CsrfRefused,
    Form,
    SignedIn,
    _same_origin,
    authenticator,
    check_csrf,
    read_form,
    safe_next,
)
from consumers.console.templates import STATIC_DIR, render

router = APIRouter(include_in_schema=False)


def static_files() -> StaticFiles:
    """The console's own style and script, to mount at `/console/static` (no external resources)."""
    return StaticFiles(directory=STATIC_DIR)


@router.get("/console", response_class=RedirectResponse, status_code=308)
async def console_folder() -> str:
    return "/console/"


@router.get("/console/")
async def home(request: Request, user: SignedIn) -> HTMLResponse:
    return render(request, "home.html", user=user)


@router.get(LOGIN_PATH)
async def login_page(request: Request) -> HTMLResponse:
    auth = authenticator(request)
    user = await auth.identify(request)
    if user is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)  # type: ignore[return-value]
    return await _login_form(request)


async def _login_form(
    request: Request,
    *,
    error: str | None = None,
    status: int = 200,
    name: str = "",
    next_: str | None = None,
    **fields: object,
) -> HTMLResponse:
    auth = authenticator(request)
    nonce, new = await auth.login_nonce(request, make=True)
    page = render(
        request,
        "login.html",
        status=status,
        error=error,
        error_fields=fields,
        name=name,
        next=safe_next(next_ if next_ is not None else request.query_params.get("next")),
        signed_out="signed_out" in request.query_params,
    )
    if new:
        auth.set_login_cookie(request, page, nonce)
    return page


@router.post(LOGIN_PATH)
async def login(request: Request) -> Response:
    auth = authenticator(request)
    try:
        form = await read_form(request)
    except CsrfRefused:
        return await _login_form(request, error="login.expired", status=403)
    nonce, _ = await auth.login_nonce(request)
    expected = getattr(request.state, "csrf_token", "")
    if not nonce or not _same_origin(request) or not secrets.compare_digest(form.get(CSRF_FIELD, ""), expected):
        return await _login_form(request, error="login.expired", status=403, next_=form.get("next"))
    name, password = form.get("name", ""), form.get("password", "")
    result = await auth.accounts.login(name, password, auth.address(request))
    if result.refused == "throttled":
        minutes = max(1, math.ceil(result.retry_after_s / 60))
        page = await _login_form(
            request, error="login.throttled", status=429, name=name, next_=form.get("next"), minutes=minutes
        )
        page.headers["Retry-After"] = str(result.retry_after_s)
        return page
    if result.principal is None or result.session_id is None:
        return await _login_form(request, error="login.wrong", status=401, name=name, next_=form.get("next"))
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        await auth.session_cookie(result.session_id),
        max_age=int(auth.settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=auth.secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
    return response


@router.post("/console/logout")
async def logout(request: Request, user: SignedIn, _: Annotated[Form, Depends(check_csrf)]) -> Response:
    auth = authenticator(request)
    if user.session_id is not None:
        await auth.accounts.logout(user.session_id, address=auth.address(request))
    response = RedirectResponse(f"{LOGIN_PATH}?signed_out=1&lang={user.language}", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/console/language")
async def language_page(request: Request, user: SignedIn) -> HTMLResponse:
    # `next`: the page to go back to once chosen (the dashboard's link sends its own view).
    given = request.query_params.get("next")
    return render(request, "language.html", user=user, next=safe_next(given) if given else "")


@router.post("/console/language")
async def set_language(request: Request, user: SignedIn, form: Annotated[Form, Depends(check_csrf)]) -> Response:
    language = form.get("language", "")
    if language in LANGUAGES and user.via != "token":
        await authenticator(request).accounts.set_language(user.name, language)
    return RedirectResponse(safe_next(form.get("next")) if form.get("next") else "/console/", status_code=303)


def signed_in_user(user: ConsoleUser) -> str:
    return i18n.translate(user.language, "nav.signed_in_as", name=user.name)
