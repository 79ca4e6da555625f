"""Server-rendered pages: Jinja2 (autoescaped) with the console's base layout, in the user's language.

`render(request, "page.html", user=..., **context)` gives an `HTMLResponse` with the console's own security
policy (infra/http/security.py's, with forms allowed to post to this origin) and `Cache-Control: no-store`.
Every template gets `t` (the translator in the page's language), `lang`, `user`, `nav`, `csrf_field()` and
`path`. Templates live in `consumers/console/templates/` (a page module may keep its own in a sub-folder).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from consumers.console import i18n
from consumers.console.accounts import LANGUAGES, ROLES, ConsoleUser
from infra.http.security import CONTENT_SECURITY_POLICY

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

# The hub's policy, except that the console's forms post to the console itself.
CONSOLE_POLICY = CONTENT_SECURITY_POLICY.replace("form-action 'none'", "form-action 'self'")
# Same-origin referrers: with the hub's `no-referrer`, a browser sends `Origin: null` with a form, and the forms'
# origin check (consumers.console.auth) could not tell the console from a sandboxed page elsewhere.
HEADERS = {"Content-Security-Policy": CONSOLE_POLICY, "Cache-Control": "no-store", "Referrer-Policy": "same-origin"}

# The sections of the navigation: role -> (its start page, its message key). A user sees the ones of their roles.
SECTIONS: dict[str, tuple[str, str]] = {
    "comms": ("/console/comms/", "nav.comms"),
    "agent": ("/console/agent/", "nav.agent"),
    "ops": ("/console/ops/", "nav.ops"),
    "management": ("/console/management/", "nav.management"),
}

environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"], default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Column:
    """A column of a console table (`_table.html`'s one builder): its heading, and each row's cell, the row's field
    of that name or what a macro makes of the row. Every cell carries its heading as `data-label`: on a phone the
    table reads as one card per row."""

    label: str
    cell: str | Callable[[Any], object]
    num: bool = False
    key: str | None = None  # the cell's `data-col`
    heading: bool = False  # the row's name: a `<th scope="row">`
    css: Callable[[Any], object] | None = None  # classes that depend on the row
    fields: Mapping[str, str] | None = None  # the cell's own attributes (attribute name -> the row's field)

    def value(self, row: Any) -> object:
        return self.cell(row) if callable(self.cell) else field_of(row, self.cell)

    def classes(self, row: Any) -> str:
        return " ".join(c for c in ("num" if self.num else "", str(self.css(row)).strip() if self.css else "") if c)


def field_of(row: Any, name: str) -> object:
    """A row's field: a key of a mapping, an attribute of anything else."""
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def row_attributes(row: Any, fields: Mapping[str, str]) -> dict[str, str]:
    """The row's own attributes (`data-*`, for scripts and tests): attribute name -> the row's field ("" for None)."""
    values = {attribute: field_of(row, name) for attribute, name in fields.items()}
    return {attribute: "" if value is None else str(value) for attribute, value in values.items()}


environment.globals |= {"column": Column, "row_attributes": row_attributes}
environment.filters["role_name"] = lambda role, language: i18n.translate(language, f"role.{role}")


def language_of(request: Request, user: ConsoleUser | None) -> str:
    if user is not None and user.language in LANGUAGES:
        return user.language
    return i18n.pick(request.query_params.get("lang"))


def navigation(user: ConsoleUser | None, language: str) -> list[dict[str, str]]:
    if user is None:
        return []
    return [
        {"role": role, "href": SECTIONS[role][0], "label": i18n.translate(language, SECTIONS[role][1])}
        for role in ROLES
        if role in user.roles
    ]


def render(
    request: Request,
    template: str,
    *,
    user: ConsoleUser | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    from consumers.console.auth import csrf_field

    language = language_of(request, user)

    def t(key: str, **fields: object) -> str:
        return i18n.translate(language, key, **fields)

    def field() -> Markup:
        return csrf_field(request)

    page = environment.get_template(template).render(
        request=request,
        user=user,
        lang=language,
        languages=i18n.LANGUAGE_NAMES,
        t=t,
        nav=navigation(user, language),
        csrf_field=field,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(page, status_code=status, headers={**HEADERS, **(headers or {})})
