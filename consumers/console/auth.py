"""Who is asking: the console's FastAPI dependencies (`require_roles`, `check_csrf`), cookies and the audit trail.

    from consumers.console.auth import ConsoleUser, Form, audit, check_csrf, require_roles

    @router.get("/console/comms/")
    async def page(request: Request, user: Annotated[ConsoleUser, Depends(require_roles("comms"))]) -> HTMLResponse:
        return render(request, "comms/index.html", user=user)

    @router.post("/console/comms/posted")
    async def posted(request: Request, user: ..., form: Annotated[Form, Depends(check_csrf)], session: Session):
        await audit(session, user, "incident.posted", incident_id, {"channels": [...]}, request=request)

A request is identified, in this order, by the trusted SSO header (only when `HUB_AUTH_TRUSTED_HEADER` is set and
the request comes from one of `HUB_AUTH_TRUSTED_PROXIES`), the signed session cookie (checked against its row:
expired, ended or disabled is refused at once), or, under `/api/` only, an `Authorization: Bearer` API token.
Without any: a page redirects to `/console/login?next=...`, an API answers 401. With the wrong role: 403.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from markupsafe import Markup, escape
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send

from consumers.console.accounts import ROLES, Accounts, ConsoleUser, audit_row
from consumers.console.settings import AuthSettings
from infra.clock import utcnow
from infra.http.deps import provided

__all__ = [
    "ROLES",
    "Authenticator",
    "ConsoleUser",
    "CsrfRefused",
    "Form",
    "NotSignedIn",
    "RoleRefused",
    "audit",
    "check_csrf",
    "csrf_field",
    "install",
    "protect",
    "require_roles",
]

log = logging.getLogger("hub.console")

SESSION_COOKIE = "hub_session"
LOGIN_COOKIE = "hub_login"  # a nonce for the login form's CSRF token, before there is a session
CSRF_FIELD = "csrf"
MAX_FORM = 64 * 1024
LOGIN_PATH = "/console/login"

Form = dict[str, str]


class NotSignedIn(Exception):
    """No session, header or token: a page redirects to the login page, an API answers 401."""


class RoleRefused(Exception):
    def __init__(self, user: ConsoleUser, roles: tuple[str, ...]) -> None:
        super().__init__("role refused")
        self.user, self.roles = user, roles


class CsrfRefused(Exception):
    """A form without the right CSRF token (or from another origin)."""


@dataclass
class Authenticator:
    """Provided on the app by the composition root; every dependency here finds it there."""

    accounts: Accounts
    settings: AuthSettings

    def __post_init__(self) -> None:
        self._proxies = self.settings.proxy_networks()

    def from_proxy(self, request: Request) -> bool:
        host = request.client.host if request.client else None
        if not host or not self._proxies:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._proxies)

    def address(self, request: Request) -> str:
        """The client's address: behind a trusted proxy, the last one its X-Forwarded-For names."""
        host = request.client.host if request.client else "?"
        if self.from_proxy(request):
            forwarded = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()]
            if forwarded:
                return forwarded[-1][:64]
        return host[:64]

    async def identify(self, request: Request) -> ConsoleUser | None:
        """The request's user (once per request: kept on `request.state`), with its CSRF token."""
        if hasattr(request.state, "console_user"):
            return request.state.console_user  # type: ignore[no-any-return]
        user = await self._identify(request)
        request.state.console_user = user
        if user is not None:
            request.state.csrf_token = await self.csrf_token(user)
        return user

    async def _identify(self, request: Request) -> ConsoleUser | None:
        header = self.settings.trusted_header
        if header is not None and self.from_proxy(request):
            named = request.headers.get(header, "").strip()
            if named:
                return await self.accounts.header_user(named)
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            session_id, _, signature = cookie.rpartition(".")
            if session_id and await self.accounts.verify("session", session_id, signature):
                user = await self.accounts.session_user(session_id)
                if user is not None:
                    return user
        if request.url.path.startswith("/api/"):
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return await self.accounts.token_user(token.strip())
        return None

    async def csrf_token(self, user: ConsoleUser) -> str:
        if user.session_id is not None:
            return await self.accounts.sign("csrf", user.session_id)
        return await self.accounts.sign("csrf-user", f"{user.via}:{user.name}")

    async def session_cookie(self, session_id: str) -> str:
        return f"{session_id}.{await self.accounts.sign('session', session_id)}"

    def secure(self, request: Request) -> bool:
        return self.settings.cookie_secure or request.url.scheme == "https"

    async def login_nonce(self, request: Request, *, make: bool = False) -> tuple[str, bool]:
        """The login form's nonce (from its cookie; a new one with `make` when missing) and whether it is new; the
        form's CSRF token, signed from it, is put on `request.state`."""
        nonce = request.cookies.get(LOGIN_COOKIE) or ""
        new = False
        if len(nonce) != 43 and make:
            nonce, new = secrets.token_urlsafe(32), True
        request.state.csrf_token = await self.accounts.sign("login", nonce) if nonce else ""
        return nonce, new

    def set_login_cookie(self, request: Request, response: Response, nonce: str) -> None:
        response.set_cookie(
            LOGIN_COOKIE, nonce, httponly=True, samesite="strict", secure=self.secure(request), path=LOGIN_PATH
        )


def authenticator(request: Request) -> Authenticator:
    return provided(request.app, Authenticator)


def require_roles(*roles: str) -> Callable[[Request], Awaitable[ConsoleUser]]:
    """A dependency giving the signed-in user holding one of `roles` (none given: any signed-in user)."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}: roles are {ROLES}")

    async def dependency(request: Request) -> ConsoleUser:
        user = await authenticator(request).identify(request)
        if user is None:
            raise NotSignedIn()
        if roles and not user.roles.intersection(roles):
            raise RoleRefused(user, roles)
        return user

    dependency.__name__ = f"require_{'_'.join(roles) or 'user'}"
    return dependency


SignedIn = Annotated[ConsoleUser, Depends(require_roles())]


def csrf_field(request: Request) -> Markup:
    """The hidden input every console form carries (`{{ csrf_field() }}` in a template)."""
    token = getattr(request.state, "csrf_token", None)
    if not token:
        raise RuntimeError("csrf_field: the request was not identified (require_roles) nor a login form")
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, escape(token))


async def read_form(request: Request) -> Form:
    """An urlencoded form body (at most 64 KiB); each field once (the first)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise CsrfRefused()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise CsrfRefused()
    form: Form = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(key, value)
    return form


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # a browser sends Origin on every POST; "null" (sandboxed, privacy) is refused
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


async def check_csrf(request: Request) -> Form:
    """A dependency for every form: the parsed form, when its CSRF token is this user's (else 403)."""
    auth = authenticator(request)
    user = await auth.identify(request)
    if user is None:
        raise NotSignedIn()
    form = await read_form(request)
    expected = getattr(request.state, "csrf_token", "")
    if not _same_origin(request) or not expected or not secrets.compare_digest(form.get(CSRF_FIELD, ""), expected):
        log.warning("console: form refused (CSRF)", extra={"path": request.url.path, "user": user.name})
        raise CsrfRefused()
    return form


async def audit(
    session: AsyncSession,
    user: ConsoleUser | str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    *,
    request: Request | None = None,
) -> None:
    """Add an audit row to `session` (committed with the action's own transaction). No personal data in `detail`."""
    actor = user if isinstance(user, str) else user.name
    address = authenticator(request).address(request) if request is not None else None
    session.add(audit_row(actor, action, target, detail, address, utcnow()))


def _wants_html(request: Request) -> bool:
    """A page (a redirect to the login page), unless under /api/ or asked for JSON only."""
    accept = request.headers.get("accept", "")
    return not request.url.path.startswith("/api/") and not ("application/json" in accept and "text/html" not in accept)


def safe_next(value: str | None) -> str:
    """Only a path of this site (never `//elsewhere` or `/\\elsewhere`) is followed after login."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or "\n" in value or "\r" in value:
        return "/console/"
    return value


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)


def _unauthorized() -> JSONResponse:
    return JSONResponse(
        {"error": "sign in or give an API token (Authorization: Bearer ...)", "detail": []},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="hub"', "Cache-Control": "no-store"},
    )


def install(app: FastAPI) -> None:
    """The answers to NotSignedIn (login page or 401), RoleRefused and CsrfRefused (403)."""
    from consumers.console.templates import render

    async def not_signed_in(request: Request, _: Exception) -> Response:
        return login_redirect(request) if _wants_html(request) else _unauthorized()

    async def role_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RoleRefused)
        if not _wants_html(request):
            return JSONResponse({"error": f"needs the role {' or '.join(exc.roles)}", "detail": []}, status_code=403)
        return render(request, "forbidden.html", user=exc.user, status=403, roles=exc.roles)

    async def csrf_refused(request: Request, _: Exception) -> Response:
        user = getattr(request.state, "console_user", None)
        return render(request, "message.html", user=user, status=403, message_key="csrf.refused")

    app.add_exception_handler(NotSignedIn, not_signed_in)
    app.add_exception_handler(RoleRefused, role_refused)
    app.add_exception_handler(CsrfRefused, csrf_refused)


class protect:
    """An ASGI app (a mounted folder: the dashboard) only for users with one of `roles`: else the login page
    (or 401 for a non-HTML request) or 403."""

    def __init__(self, inner: ASGIApp, *roles: str) -> None:
        self.inner = inner
        self.check = require_roles(*roles)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        request = Request(scope, receive)
        from consumers.console.templates import render

        try:
            await self.check(request)
        except NotSignedIn:
            response: Response = login_redirect(request) if _wants_html(request) else _unauthorized()
            await response(scope, receive, send)
            return
        except RoleRefused as exc:
            response = render(request, "forbidden.html", user=exc.user, status=403, roles=exc.roles)
            await response(scope, receive, send)
            return
        await self.inner(scope, receive, send)
