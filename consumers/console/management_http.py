"""`/console/management/`: management's page (role `management`), in the user's language (Dutch by default): the
period's key figures and its reports per category and per district against the same period last year
(`StatsApi.compare`, the figures of `/api/stats/compare`), the dashboard behind the same login, and each figure
as CSV, read through the statistics API's own `StatsApi` with the same query parameters, so a CSV
holds exactly the API's figures (`/console/management/export/{figure}.csv?year=2021`, `from`/`to`, `district`,
`category`, and `grain` / `by` / `as_of` where the API takes them)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError

from consumers.console import i18n
from consumers.console.auth import ConsoleUser, require_roles
from consumers.console.reasons import reason, reasons
from consumers.console.templates import language_of, render
from consumers.stats.api import BadQuery, StatsApi
from consumers.stats.schemas import (
    CompareOut,
    CompareParams,
    PeriodParams,
    ReportsParams,
    SeriesParams,
    WorkOrdersParams,
)
from infra.http.deps import Session, service

Management = Annotated[ConsoleUser, Depends(require_roles("management"))]
Stats = Annotated[StatsApi, Depends(service(StatsApi))]
router = APIRouter(include_in_schema=False)

# figure -> (what it is, the API path it equals)
FIGURES: dict[str, tuple[str, str]] = {
    "series": ("mgmt.fig.series", "/api/stats/series"),
    "hours": ("mgmt.fig.hours", "/api/stats/calls/hours"),
    "topics": ("mgmt.fig.topics", "/api/stats/summary"),
    "reports": ("mgmt.fig.reports", "/api/stats/reports"),
    "workorders": ("mgmt.fig.workorders", "/api/stats/workorders"),
    "incidents": ("mgmt.fig.incidents", "/api/stats/incidents"),
    "compare": ("mgmt.fig.compare", "/api/stats/compare"),
}
COMPARISONS = ("figures", "category", "district")
_PAGE_QUERY = ("year", "from", "to", "district", "category")


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def to_csv(rows: Iterable[BaseModel]) -> str:
    records = [flatten(r.model_dump(mode="json")) for r in rows]
    columns: list[str] = list(dict.fromkeys(c for r in records for c in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({c: "" if record.get(c) is None else record.get(c) for c in columns})
    return buffer.getvalue()


def number(value: float | None, language: str, *, sign: bool = False) -> str:
    """1234.5 -> '1.234,5' (nl), '1 234,5' (fr), '1,234.5' (en); None -> '–'."""
    if value is None:
        return "–"
    text = f"{value:+,.1f}" if sign else f"{value:,.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    if language == "en":
        return text
    thousands = "." if language == "nl" else "\u202f"
    return text.replace(",", "\0").replace(".", ",").replace("\0", thousands)


@router.get("/console/management/")
async def management(request: Request, user: Management, api: Stats, session: Session) -> HTMLResponse:
    """The comparison with the same period last year, the filters, the dashboard and the CSV exports."""
    given = {k: v for k, v in request.query_params.items() if k in _PAGE_QUERY and v != ""}
    query = "&".join(f"{k}={v}" for k, v in request.query_params.multi_items() if k in _PAGE_QUERY and v != "")
    tables: dict[str, CompareOut] = {}
    error = None
    try:
        for by in COMPARISONS:
            tables[by] = await api.compare(session, CompareParams.model_validate({**given, "by": by}))
    except ValidationError as exc:
        error = reasons(language_of(request, user), exc.errors())
        tables = {}
    except BadQuery as exc:
        error = reason(language_of(request, user), exc.code, msg=str(exc))
        tables = {}
    meta = await api.meta(session)
    return render(
        request,
        "management/index.html",
        user=user,
        status=422 if error else 200,
        figures=FIGURES,
        query=request.url.query,
        page_query=query,
        given=given,
        tables=tables,
        error=error,
        meta=meta,
        number=number,
        category_name=lambda code, lang: category_name(api, code, lang),
    )


def category_name(api: StatsApi, code: str, language: str) -> str:
    """A category's name in `language` from the catalogue, the Dutch one where it has none; the code if unknown."""
    known = api.catalogue.category(code)
    return code if known is None else known.name(language)


async def _rows(
    figure: str,
    api: StatsApi,
    session: Any,
    period: PeriodParams,
    request: Request,
) -> list[BaseModel]:
    q = dict(request.query_params)
    if figure == "series":
        return list((await api.series(session, SeriesParams.model_validate(q))).points)
    if figure == "hours":
        return list((await api.hours(session, period)).hours)
    if figure == "topics":
        return list((await api.summary(session, period)).calls.by_topic)
    if figure == "reports":
        return list((await api.reports(session, ReportsParams.model_validate(q))).rows)
    if figure == "workorders":
        return list((await api.workorders(session, WorkOrdersParams.model_validate(q))).rows)
    if figure == "compare":
        return list((await api.compare(session, CompareParams.model_validate(q))).rows)
    return list((await api.incidents(session, period)).incidents)


@router.get("/console/management/export/{figure}.csv")
async def export(request: Request, user: Management, api: Stats, session: Session, figure: str) -> Response:
    del user
    if figure not in FIGURES:
        raise HTTPException(404, "no such figure")
    try:
        period = PeriodParams.model_validate(
            {k: v for k, v in request.query_params.items() if k in ("year", "from", "to", "district", "category")}
        )
        rows = await _rows(figure, api, session, period, request)
    except (BadQuery, ValueError) as exc:
        raise HTTPException(422, str(exc).splitlines()[0]) from None
    name = f"{figure}-{period.year or ''}{period.date_from or ''}{'_' + str(period.date_to) if period.date_to else ''}"
    return Response(
        to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name.strip("-")}.csv"', "Cache-Control": "no-store"},
    )


i18n.add(
    {
        "mgmt.title": {"nl": "Management", "en": "Management", "fr": "Direction"},
        "mgmt.dashboard": {"nl": "Dashboard openen", "en": "Open the dashboard", "fr": "Ouvrir le tableau de bord"},
        "mgmt.csv": {"nl": "Cijfers als CSV", "en": "Figures as CSV", "fr": "Chiffres en CSV"},
        "mgmt.csv_note": {
            "nl": "Dezelfde cijfers als de statistiek-API, voor dezelfde periode en filters (jaar, van/tot, deelgemeente, categorie).",
            "en": "The same figures as the statistics API, for the same period and filters (year, from/to, district, category).",
            "fr": "Les mêmes chiffres que l'API statistique, pour la même période et les mêmes filtres.",
        },
        "mgmt.year": {"nl": "Jaar", "en": "Year", "fr": "Année"},
        "mgmt.apply": {"nl": "Toepassen", "en": "Apply", "fr": "Appliquer"},
        "mgmt.fig.series": {
            "nl": "Oproepen, meldingen, werkorders per dag",
            "en": "Calls, reports, work orders per day",
            "fr": "Appels, signalements, bons par jour",
        },
        "mgmt.fig.hours": {
            "nl": "Oproepen per uur van de dag",
            "en": "Calls per hour of the day",
            "fr": "Appels par heure",
        },
        "mgmt.fig.topics": {"nl": "Oproepen per onderwerp", "en": "Calls per topic", "fr": "Appels par sujet"},
        "mgmt.fig.reports": {
            "nl": "Meldingen per categorie",
            "en": "Reports per category",
            "fr": "Signalements par catégorie",
        },
        "mgmt.fig.workorders": {
            "nl": "Werkorders per uitvoerder (SLA)",
            "en": "Work orders per assignee (SLA)",
            "fr": "Bons par exécutant (SLA)",
        },
        "mgmt.fig.incidents": {"nl": "Incidenten", "en": "Incidents", "fr": "Incidents"},
        "mgmt.fig.compare": {
            "nl": "Kerncijfers tegenover vorig jaar",
            "en": "Key figures against last year",
            "fr": "Chiffres clés par rapport à l'an dernier",
        },
        "mgmt.compare.title": {
            "nl": "Vergeleken met dezelfde periode vorig jaar",
            "en": "Compared with the same period last year",
            "fr": "Comparé à la même période l'an dernier",
        },
        "mgmt.compare.periods": {
            "nl": "{now} tegenover {before}.",
            "en": "{now} against {before}.",
            "fr": "{now} par rapport à {before}.",
        },
        "mgmt.compare.so_far": {
            "nl": "Een periode die nog loopt, telt tot vandaag, en vorig jaar tot dezelfde dag.",
            "en": "A period still running counts up to today, and last year up to the same day.",
            "fr": "Une période en cours compte jusqu'à aujourd'hui, et l'an dernier jusqu'au même jour.",
        },
        "mgmt.period": {"nl": "{first} t/m {last}", "en": "{first} to {last}", "fr": "du {first} au {last}"},
        "mgmt.from": {"nl": "Van", "en": "From", "fr": "Du"},
        "mgmt.to": {"nl": "Tot en met", "en": "To", "fr": "Au"},
        "mgmt.district": {"nl": "Deelgemeente", "en": "District", "fr": "Section"},
        "mgmt.category": {"nl": "Categorie", "en": "Category", "fr": "Catégorie"},
        "mgmt.all": {"nl": "alle", "en": "all", "fr": "toutes"},
        "mgmt.bad_query": {
            "nl": "Deze periode of filter kan niet: {reason}",
            "en": "This period or filter cannot be shown: {reason}",
            "fr": "Cette période ou ce filtre n'est pas possible : {reason}",
        },
        "mgmt.col.figure": {"nl": "Cijfer", "en": "Figure", "fr": "Chiffre"},
        "mgmt.col.now": {"nl": "Deze periode", "en": "This period", "fr": "Cette période"},
        "mgmt.col.before": {"nl": "Vorig jaar", "en": "Last year", "fr": "L'an dernier"},
        "mgmt.col.change": {"nl": "Verschil", "en": "Change", "fr": "Écart"},
        "mgmt.col.change_pct": {"nl": "Verschil %", "en": "Change %", "fr": "Écart %"},
        "mgmt.table.figures": {"nl": "Kerncijfers", "en": "Key figures", "fr": "Chiffres clés"},
        "mgmt.table.category": {
            "nl": "Meldingen per categorie",
            "en": "Reports per category",
            "fr": "Signalements par catégorie",
        },
        "mgmt.table.district": {
            "nl": "Meldingen per deelgemeente",
            "en": "Reports per district",
            "fr": "Signalements par section",
        },
        "mgmt.none": {
            "nl": "Geen meldingen in beide periodes.",
            "en": "No reports in either period.",
            "fr": "Aucun signalement dans les deux périodes.",
        },
        "mgmt.points": {"nl": "procentpunt", "en": "percentage points", "fr": "points de pourcentage"},
        "mgmt.key.calls": {"nl": "Oproepen", "en": "Calls", "fr": "Appels"},
        "mgmt.key.first_contact_resolution_pct": {
            "nl": "Meteen geholpen (% van de beantwoorde oproepen)",
            "en": "Resolved at first contact (% of answered calls)",
            "fr": "Résolus au premier contact (% des appels répondus)",
        },
        "mgmt.key.abandoned": {"nl": "Opgehangen oproepen", "en": "Abandoned calls", "fr": "Appels abandonnés"},
        "mgmt.key.reports": {"nl": "Meldingen", "en": "Reports", "fr": "Signalements"},
        "mgmt.key.workorders": {"nl": "Werkorders", "en": "Work orders", "fr": "Bons de travail"},
        "mgmt.key.sla_compliance_pct": {
            "nl": "Op tijd afgehandeld (% SLA)",
            "en": "Done on time (% SLA)",
            "fr": "Traités à temps (% SLA)",
        },
        "mgmt.key.incidents": {"nl": "Incidenten", "en": "Incidents", "fr": "Incidents"},
    }
)
