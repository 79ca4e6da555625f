"""The statistics on HTTP: a read-only JSON API under `/api/stats` (a FastAPI `APIRouter`) and the dashboard.

Mounted by the composition root (`hub.http`). Each route validates its query with a parameter model of
`consumers.stats.schemas` (unknown, repeated or malformed parameters are a 422 naming the parameter), answers
with `StatsApi` (`consumers.stats.api`, figures read through `consumers.stats.queries`) and is described in the
OpenAPI document FastAPI generates from the same models. Answers are never cached: figures change as the
consumer counts.
"""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path as FilePath
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

from consumers.stats.api import BadQuery, StatsApi
from consumers.stats.schemas import (
    CompareOut,
    CompareParams,
    HoursOut,
    IncidentsOut,
    MetaOut,
    NoParams,
    PeriodParams,
    ReportsOut,
    ReportsParams,
    SeriesOut,
    SeriesParams,
    SummaryOut,
    TimelineOut,
    TimelineParams,
    WorkOrdersOut,
    WorkOrdersParams,
)
from infra.http.deps import Session, service
from infra.http.errors import invalid, responses, single_valued_query

DASHBOARD_DIR = FilePath(__file__).resolve().parent / "dashboard"
API = "/api/stats"

T = TypeVar("T")

Stats = Annotated[StatsApi, Depends(service(StatsApi))]
Period = Annotated[PeriodParams, Query()]


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


router = APIRouter(
    tags=["statistics"],
    dependencies=[Depends(single_valued_query), Depends(_no_store)],
    responses=responses(422, 503),
)


async def _answer(figures: Awaitable[T]) -> T:
    try:
        return await figures
    except BadQuery as exc:
        # A rule across parameters (a range too long from `from` to today) names no single one.
        raise invalid(("query",), str(exc), exc.code) from None


@router.get(
    f"{API}/meta",
    operation_id="meta",
    summary="What there is to filter on",
    description="Years with figures, districts and categories with figures, assignees, the city's time zone and today.",
)
async def meta(api: Stats, session: Session, _: Annotated[NoParams, Query()]) -> MetaOut:
    return await api.meta(session)


@router.get(
    f"{API}/summary",
    operation_id="summary",
    summary="Calls, reports and incidents of a period",
    description="Calls in total, by topic (with outcomes), by outcome and by subject; first-contact resolution; "
    "average and median handle time; calls outside opening hours; reports; incidents. Work orders: see /workorders.",
)
async def summary(api: Stats, session: Session, params: Period) -> SummaryOut:
    return await _answer(api.summary(session, params))


@router.get(
    f"{API}/series",
    operation_id="series",
    summary="Calls, reports, work orders and incidents per hour, day, week, month or year",
    description="A time series over the period. A week or month only partly in the range counts the days inside it.",
)
async def series(api: Stats, session: Session, params: Annotated[SeriesParams, Query()]) -> SeriesOut:
    return await _answer(api.series(session, params))


@router.get(
    f"{API}/calls/hours",
    operation_id="calls_hours",
    summary="Calls and reports per hour of the day",
    description="Summed over the period: when citizens call, and how many call outside opening hours.",
)
async def hours(api: Stats, session: Session, params: Period) -> HoursOut:
    return await _answer(api.hours(session, params))


@router.get(
    f"{API}/reports",
    operation_id="reports",
    summary="Reports by category, district, channel or work-order status",
    description="Reports filed in the period, grouped.",
)
async def reports(api: Stats, session: Session, params: Annotated[ReportsParams, Query()]) -> ReportsOut:
    return await _answer(api.reports(session, params))


@router.get(
    f"{API}/workorders",
    operation_id="workorders",
    summary="Work orders per assignee and/or category against their SLA",
    description="Work orders issued in the period: issued, open, overdue (as of `as_of`), done, rejected, done on "
    "time, SLA compliance and median time to completion.",
)
async def workorders(api: Stats, session: Session, params: Annotated[WorkOrdersParams, Query()]) -> WorkOrdersOut:
    return await _answer(api.workorders(session, params))


@router.get(
    f"{API}/compare",
    operation_id="compare",
    summary="A period against the same period a year before",
    description="The key figures, or reports per category or district, now and a year before, with the change. "
    "A period that runs past today is compared up to today (this year so far against the same days last year).",
)
async def compare(api: Stats, session: Session, params: Annotated[CompareParams, Query()]) -> CompareOut:
    return await _answer(api.compare(session, params))


@router.get(
    f"{API}/incidents",
    operation_id="incidents",
    summary="Incidents detected in the period",
    description="Spikes of calls and reports about one incident, in order of detection, with alert and resolution "
    "times.",
)
async def incidents(api: Stats, session: Session, params: Period) -> IncidentsOut:
    return await _answer(api.incidents(session, params))


@router.get(
    f"{API}/incidents/{{incident_id}}/timeline",
    operation_id="incidents_timeline",
    summary="Calls and reports per 15 minutes around an incident's alert",
    description="Buckets aligned on the alert, so the drop after the broadcast reads directly; the broadcast and "
    "the resolution are given.",
    responses=responses(404),
)
async def timeline(
    api: Stats,
    session: Session,
    incident_id: Annotated[str, Path(min_length=1, max_length=200, description="Id of the incident.")],
    params: Annotated[TimelineParams, Query()],
) -> TimelineOut:
    found = await api.timeline(session, incident_id, params)
    if found is None:
        raise HTTPException(404, "not found")
    return found


@router.get("/dashboard", include_in_schema=False, response_class=RedirectResponse, status_code=308)
async def dashboard_folder() -> str:
    # The page loads app.js and style.css by relative URL: it must be served from the folder URL.
    return "/dashboard/"


def dashboard_files() -> StaticFiles:
    """The dashboard's script and style, to mount at `/dashboard` (its page, in the user's language, is the
    console's: consumers.console.dashboard_http)."""
    return StaticFiles(directory=DASHBOARD_DIR)
