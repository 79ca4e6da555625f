"""`/console/management/`: management's page (role `management`): the dashboard (behind the same login) and each
of its figures as CSV, read through the statistics API's own `StatsApi` with the same query parameters, so a CSV
holds exactly the API's figures (`/console/management/export/{figure}.csv?year=2021`, `from`/`to`, `district`,
`category`, and `grain` / `by` / `as_of` where the API takes them)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from consumers.console import i18n
from consumers.console.auth import ConsoleUser, require_roles
from consumers.console.templates import render
from consumers.stats.api import BadQuery, StatsApi
from consumers.stats.schemas import PeriodParams, ReportsParams, SeriesParams, WorkOrdersParams
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
}


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


@router.get("/console/management/")
async def management(request: Request, user: Management) -> HTMLResponse:
    query = request.url.query
    return render(request, "management/index.html", user=user, figures=FIGURES, query=query)


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
    }
)
