"""`/dashboard/`: management's charts (role `management`), in the user's language (Dutch by default).

The page is a console template (`management/dashboard.html`, the words of consumers.console.dashboard_text); its
script and style stay with the statistics (`consumers/stats/dashboard/app.js`, served under `/dashboard/` by the
composition root behind the same login). The script draws from `/api/stats/*` and takes its words, its number and
date formats (`Intl` with the locale) and the categories' names from a JSON block on the page, so nothing it shows
is English to a Dutch user. Include this router before the `/dashboard` mount, which would otherwise answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from consumers.console import i18n
from consumers.console.auth import ConsoleUser, require_roles
from consumers.console.comms import CommsConsole
from consumers.console.dashboard_text import register_messages
from consumers.console.management_http import category_name
from consumers.console.reasons import client_words
from consumers.console.templates import language_of, render
from consumers.spikes.config import Names
from consumers.stats.api import StatsApi
from infra.http.deps import service

register_messages()

Management = Annotated[ConsoleUser, Depends(require_roles("management"))]
Stats = Annotated[StatsApi, Depends(service(StatsApi))]
Comms = Annotated[CommsConsole, Depends(service(CommsConsole))]
router = APIRouter(include_in_schema=False)

# The locale of each console language for the script's numbers and dates: 1.234,5 and "15 mrt." in Dutch.
LOCALES = {"nl": "nl-BE", "en": "en-GB", "fr": "fr-BE"}


def client(api: StatsApi, language: str, fractions: Mapping[str, Names]) -> dict[str, Any]:
    """What the script needs to speak the user's language (waste fractions named as the drafts name them)."""
    return {
        "lang": language,
        "locale": LOCALES.get(language, LOCALES[i18n.DEFAULT]),
        "messages": i18n.messages(language, "dash"),
        "categories": {code: category_name(api, code, language) for code in api.catalogue.categories},
        **client_words(language),
        "fractions": {
            code: {"nl": names.nl, "en": names.en}.get(language, names.french) for code, names in fractions.items()
        },
    }


@router.get("/dashboard/")
async def dashboard(request: Request, user: Management, api: Stats, comms: Comms) -> HTMLResponse:
    """The charts; the period, filters, grain and incident shown are in the URL (the script keeps them there)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return render(
        request,
        "management/dashboard.html",
        user=user,
        client=client(api, language_of(request, user), comms.config.fractions),
        next=here,
    )
