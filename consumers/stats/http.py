"""The statistics on HTTP: a read-only JSON API under `/api/stats`, its OpenAPI document, and the dashboard.

Mounted by `hub.http` (`hub serve`). Every endpoint is one entry of `ENDPOINTS`: its query model (pydantic,
unknown or malformed parameters are a 422 naming the parameter), its response model and the function that
answers it. The routes and the OpenAPI document are both built from that one list, so they cannot drift.

Where the figures come from:
  * without a district or category filter, from the counters the statistics consumer keeps (`stat_counters`,
    through `consumers.stats.queries`): a year is a handful of indexed range reads;
  * with a filter, the counters cannot answer (they are kept per dimension, not per district x subject x hour),
    so the facts that match the filter are read and turned into counter deltas by the SAME functions the
    consumer uses (`consumers.stats.aggregates`), then read like the stored counters. One way of counting, so a
    filtered figure can never mean something else than the unfiltered one.
Medians and work-order SLA figures come from the stored facts either way, as in `hub stats`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import statistics
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.json_schema import models_json_schema
from sqlalchemy import ColumnElement, FromClause, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from consumers.stats import queries
from consumers.stats.aggregates import (
    ALL,
    CALLS,
    CATEGORY,
    CATEGORY_DISTRICT,
    CHANNEL,
    CROSS,
    DISTRICT,
    HOURS,
    NOT_NOTED,
    OUTCOME,
    OUTSIDE,
    REPORTS,
    SPIKES,
    SUBJECT_OUTCOME,
    TOPIC_OUTCOME,
    WORKORDERS,
    CallFact,
    CounterKey,
    IncidentFact,
    PeriodKind,
    ReportFact,
    Tally,
    WorkOrderFact,
    call_deltas,
    incident_deltas,
    period_label,
    report_deltas,
    utc,
    workorder_deltas,
)
from consumers.stats.queries import (
    ABANDONED,
    CallFigures,
    Count,
    Period,
    WorkOrderFigures,
    _Order,
    _orders,
    _tally_orders,
)
from hub.calendar import CityCalendar
from hub.catalogue import Catalogue
from hub.settings import Settings
from infra.db import create_session_factory
from infra.db.models import StatCall, StatCounter, StatIncident, StatReport, StatWorkOrder

log = logging.getLogger(__name__)

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboard"
API = "/api/stats"
OPENAPI_PATH = "/api/openapi.json"
# A read-only public API bounds what one request may cost: three years of days is ~1,100 points per series.
MAX_DAYS = 3 * 366
CATEGORY_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+)*$"


# ========================================================================================================
# Query parameters


class _Params(BaseModel):
    # Unknown parameters are refused: a misspelt `yaer=2021` silently showing this year would be worse.
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(_Params):
    pass


class PeriodParams(_Params):
    """A period of whole local days (Europe/Brussels) and the dashboard's filters."""

    year: int | None = Field(
        default=None, ge=2000, le=2100, description="A calendar year. Default (no year, no from): this year."
    )
    date_from: dt.date | None = Field(
        default=None, alias="from", description="First day of a range, YYYY-MM-DD (instead of year)."
    )
    date_to: dt.date | None = Field(
        default=None, alias="to", description="Last day of the range, inclusive, YYYY-MM-DD (default: today)."
    )
    district: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Only calls and reports in this district (calls without a noted district drop out).",
    )
    category: str | None = Field(
        default=None,
        pattern=CATEGORY_PATTERN,
        max_length=64,
        description="Only reports, work orders and incidents of this category, and calls whose subject counts as it.",
    )

    @model_validator(mode="after")
    def _one_period(self) -> PeriodParams:
        if self.year is not None and (self.date_from is not None or self.date_to is not None):
            raise ValueError("give year, or from (and to), not both")
        if self.date_to is not None and self.date_from is None:
            raise ValueError("to needs from")
        if self.date_from is not None and self.date_to is not None:
            if self.date_to < self.date_from:
                raise ValueError(f"to ({self.date_to}) is before from ({self.date_from})")
            if (self.date_to - self.date_from).days + 1 > MAX_DAYS:
                raise ValueError(f"a range of at most {MAX_DAYS} days")
        return self

    def period(self, today: dt.date) -> Period:
        if self.year is not None:
            return Period.year(self.year)
        if self.date_from is None:
            return Period.year(today.year)
        last = self.date_to or max(today, self.date_from)
        if (last - self.date_from).days + 1 > MAX_DAYS:
            raise ValueError(f"a range of at most {MAX_DAYS} days")
        return Period(self.date_from, last)


class AsOfParams(PeriodParams):
    as_of: dt.date | None = Field(default=None, description="Day work orders are overdue against (default: today).")


Grain = Literal["hour", "day", "week", "month", "year"]


class SeriesParams(PeriodParams):
    grain: Grain = Field(default="day", description="Length of each period of the series.")


ReportGrouping = Literal["category", "district", "channel", "status", "category_district"]


class ReportsParams(PeriodParams):
    by: ReportGrouping = Field(
        default="category",
        description="Grouping; `status` is where the report's work orders stand: open, done, rejected, no work order.",
    )


WorkOrderGrouping = Literal["assignee", "category", "assignee_category"]


class WorkOrdersParams(AsOfParams):
    by: WorkOrderGrouping = Field(default="assignee", description="Grouping of the work orders issued in the period.")


class TimelineParams(_Params):
    incident_id: str = Field(min_length=1, max_length=200, description="Id of the incident (path).")
    before_minutes: int = Field(default=120, ge=15, le=1440, description="Minutes shown before the alert.")
    after_minutes: int | None = Field(
        default=None,
        ge=15,
        le=2880,
        description="Minutes shown after the alert (default: 4 hours, or up to an hour past the resolution, at most 24 hours).",
    )


# ========================================================================================================
# Responses


class PeriodOut(BaseModel):
    first_day: dt.date = Field(description="First local day of the period.")
    last_day: dt.date = Field(description="Last local day, inclusive.")
    days: int
    label: str = Field(description="`2021`, or `2021-03-15..2021-03-21`.")
    timezone: str


class FiltersOut(BaseModel):
    district: str | None
    category: str | None


class Scoped(BaseModel):
    period: PeriodOut
    filters: FiltersOut


class KeyCount(BaseModel):
    key: str
    count: int
    share_pct: float | None = Field(description="Share of the total, in percent (null if the total is 0).")


class CallGroup(BaseModel):
    key: str
    calls: int
    share_pct: float | None
    answered: int
    answered_at_once: int
    first_contact_resolution_pct: float | None = Field(description="Answered at once, of the answered calls.")
    avg_handle_seconds: float | None
    outcomes: dict[str, int] = Field(description="Calls per outcome.")


class CallSummary(BaseModel):
    total: int
    answered: int
    answered_at_once: int
    abandoned: int
    first_contact_resolution_pct: float | None = Field(description="Answered at once, of the answered calls.")
    avg_handle_seconds: float | None = Field(description="Mean handle time of the answered calls.")
    median_handle_seconds: float | None = Field(description="Median handle time of the answered calls.")
    outside_opening_hours: int
    by_topic: list[CallGroup]
    by_outcome: list[KeyCount]
    by_subject: list[CallGroup]


class ReportSummary(BaseModel):
    total: int
    outside_opening_hours: int


class WorkOrderNumbers(BaseModel):
    issued: int
    open: int = Field(description="Issued, neither done nor rejected (overdue ones included).")
    overdue: int = Field(description="Open past their SLA due date, as of `as_of`.")
    done: int
    rejected: int
    done_on_time: int
    sla_compliance_pct: float | None = Field(
        description="Done by the due date, of the orders whose SLA is decided (done, or open and overdue)."
    )
    median_completion_hours: float | None


class SummaryOut(Scoped):
    """Work orders are not in it: their SLA figures read every order of the period (`/workorders` has a total)."""

    calls: CallSummary
    reports: ReportSummary
    incidents: int


class SeriesPoint(BaseModel):
    start: dt.datetime = Field(description="Start of the period (UTC).")
    label: str = Field(description="The period as people read it, in local time.")
    calls: int
    answered: int
    answered_at_once: int
    abandoned: int
    outside_opening_hours: int
    avg_handle_seconds: float | None
    reports: int
    workorders: int
    incidents: int


class SeriesOut(Scoped):
    grain: Grain
    points: list[SeriesPoint] = Field(
        description="Every period of the range in order; with grain `hour`, only the hours that have a figure."
    )


class HourOut(BaseModel):
    hour: int = Field(ge=0, le=23, description="Local hour of the day.")
    calls: int
    outside_opening_hours: int
    reports: int


class HoursOut(Scoped):
    hours: list[HourOut] = Field(description="The 24 hours of the day, 0 to 23, summed over the period.")


class ReportGroup(BaseModel):
    key: str
    category: str | None = Field(default=None, description="With `by=category_district`: the category.")
    district: str | None = Field(default=None, description="With `by=category_district`: the district.")
    reports: int
    share_pct: float | None


class ReportsOut(Scoped):
    by: ReportGrouping
    total: int
    rows: list[ReportGroup]


class WorkOrderGroup(WorkOrderNumbers):
    key: str
    assignee: str | None
    category: str | None


class WorkOrdersOut(Scoped):
    by: WorkOrderGrouping
    as_of: dt.date
    total: WorkOrderNumbers
    rows: list[WorkOrderGroup]


class IncidentOut(BaseModel):
    incident_id: str
    category: str
    waste_fraction: str | None
    district: str
    street: str | None
    first_seen_at: dt.datetime | None
    detected_at: dt.datetime = Field(description="The alert: when the spike was detected.")
    resolved_at: dt.datetime | None
    broadcast_at: dt.datetime | None = Field(
        description="When the communication team's first notice went out (IncidentBroadcast); null before."
    )
    calls_in_window: int | None
    reports_in_window: int | None
    total_calls: int | None
    total_reports: int | None


class IncidentsOut(Scoped):
    incidents: list[IncidentOut]


class TimelineBucketOut(BaseModel):
    start: dt.datetime = Field(description="Start of the 15 minutes (UTC).")
    minutes_from_alert: int
    calls: int
    reports: int


class TimelineOut(BaseModel):
    incident: IncidentOut
    step_minutes: int
    alert_at: dt.datetime
    broadcast_at: dt.datetime | None
    resolved_at: dt.datetime | None
    buckets: list[TimelineBucketOut] = Field(
        description="Calls about the incident's category in its district, and its reports, per step; aligned on the alert."
    )


class NamedCode(BaseModel):
    code: str
    name: str


class MetaOut(BaseModel):
    timezone: str
    today: dt.date
    years: list[int] = Field(description="Years that have figures, oldest first.")
    districts: list[str] = Field(description="Districts that have figures.")
    categories: list[NamedCode] = Field(description="Report categories: those with figures, with their names.")
    assignees: list[NamedCode]


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    error: str
    detail: list[ErrorItem] = Field(default_factory=list)


# ========================================================================================================
# Where figures come from: the stored counters, or the counters of the facts matching a filter


class Source(Protocol):
    async def totals(self, metric: str, dim_key: str) -> dict[str, Count]: ...

    async def series(self, metric: str, dim_key: str, kind: PeriodKind) -> dict[dt.datetime, dict[str, Count]]: ...


@dataclass(frozen=True)
class Scope:
    """The filters, as conditions on each fact table."""

    district: str | None = None
    category: str | None = None
    call_subjects: frozenset[str] = frozenset()

    @property
    def filtered(self) -> bool:
        return self.district is not None or self.category is not None

    def calls(self) -> list[ColumnElement[bool]]:
        c = StatCall.__table__.c
        out: list[ColumnElement[bool]] = []
        if self.district is not None:
            out.append(c.district == self.district)
        if self.category is not None:
            out.append(c.subject.in_(sorted(self.call_subjects)))
        return out

    def reports(self) -> list[ColumnElement[bool]]:
        c = StatReport.__table__.c
        out: list[ColumnElement[bool]] = []
        if self.district is not None:
            out.append(c.district == self.district)
        if self.category is not None:
            out.append(c.category == self.category)
        return out

    def workorders(self) -> list[ColumnElement[bool]]:
        c = StatWorkOrder.__table__.c
        out: list[ColumnElement[bool]] = []
        if self.district is not None:
            # A work order has no district of its own: it is where its report is.
            r = StatReport.__table__.c
            out.append(c.report_id.in_(select(r.report_id).where(r.district == self.district)))
        if self.category is not None:
            out.append(c.category == self.category)
        return out

    def incidents(self) -> list[ColumnElement[bool]]:
        c = StatIncident.__table__.c
        out: list[ColumnElement[bool]] = []
        if self.district is not None:
            out.append(c.district == self.district)
        if self.category is not None:
            out.append(c.category == self.category)
        return out


@dataclass
class CounterSource:
    """The counters `stat_counters` holds (no filter)."""

    session: AsyncSession
    period: Period
    tz: ZoneInfo

    async def totals(self, metric: str, dim_key: str) -> dict[str, Count]:
        return await queries.totals(self.session, metric, dim_key, self.period, self.tz)

    async def series(self, metric: str, dim_key: str, kind: PeriodKind) -> dict[dt.datetime, dict[str, Count]]:
        return await queries.series(self.session, metric, dim_key, kind, self.period, self.tz)


_Deltas = Callable[[Any, ZoneInfo], Iterator[tuple[CounterKey, int, int]]]
_FACTS: dict[str, tuple[FromClause, type[Any], _Deltas]] = {
    CALLS: (StatCall.__table__, CallFact, call_deltas),
    REPORTS: (StatReport.__table__, ReportFact, report_deltas),
    WORKORDERS: (StatWorkOrder.__table__, WorkOrderFact, workorder_deltas),
    SPIKES: (StatIncident.__table__, IncidentFact, incident_deltas),
}


# (grain, dimension) -> [(period start, dimension value, n, seconds)]: counters as `stat_counters` rows.
Counters = dict[tuple[str, str], list[tuple[dt.datetime, str, int, int]]]


async def count_facts(session: AsyncSession, metric: str, period: Period, tz: ZoneInfo, scope: Scope) -> Counters:
    """The counters the facts of the period that match the filter make, by the consumer's own delta functions."""
    table, fact_type, deltas = _FACTS[metric]
    c = table.c
    if metric == SPIKES:
        start, end = period.instants(tz)
        where = [c.detected_at >= start, c.detected_at < end, *scope.incidents()]
    else:
        conditions = {CALLS: scope.calls, REPORTS: scope.reports, WORKORDERS: scope.workorders}
        where = [c.local_date >= period.first, c.local_date <= period.last, *conditions[metric]()]
    # Columns in the facts' field order; their timestamps come back aware and in UTC (UtcDateTime).
    columns = [c[name] for name in fact_type.__dataclass_fields__]
    tally = Tally()
    for row in await session.execute(select(*columns).where(*where)):
        tally.add_all(deltas(fact_type(*row), tz))
    counters: Counters = defaultdict(list)
    for key, (n, seconds) in tally.counts.items():
        counters[key.period_kind, key.dim_key].append((key.period_start, key.dim_value, n, seconds))
    return dict(counters)


class FactMemo:
    """Filtered counters shared by the requests of one dashboard view, computed once.

    A view asks five endpoints at once with the same filter, and counting a district's year of calls costs
    a few hundred milliseconds of CPU: each would count the same facts. An entry is keyed by the metric, period
    and filter AND by the stored counters' running totals of every metric, which grow with each fact the
    consumer counts: a new fact makes new keys, so a memoised answer is never behind the database. Concurrent
    requests for one key await the same task; it runs in its own session, so a client that goes away cancels
    nothing the others wait for."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], size: int = 8) -> None:
        self._sessions = sessions
        self._size = size
        self._entries: OrderedDict[tuple[object, ...], asyncio.Task[Counters]] = OrderedDict()

    async def counters(self, metric: str, period: Period, tz: ZoneInfo, scope: Scope) -> Counters:
        c = StatCounter.__table__.c
        async with self._sessions() as session:
            version = tuple(
                await session.execute(
                    select(c.metric, func.sum(c.n))
                    .where(c.period_kind == "year", c.dim_key == ALL)
                    .group_by(c.metric)
                    .order_by(c.metric)
                )
            )
        key = (metric, period, str(tz), scope, version)
        task = self._entries.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.create_task(self._count(metric, period, tz, scope))
            self._entries[key] = task
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return await asyncio.shield(task)

    async def _count(self, metric: str, period: Period, tz: ZoneInfo, scope: Scope) -> Counters:
        async with self._sessions() as session:
            return await count_facts(session, metric, period, tz, scope)


@dataclass
class FactSource:
    """The counters the facts matching a filter would have made: the consumer's own delta functions, in memory.

    Only the facts of the period are read, so every grain counts only what lies inside the range, as the
    stored counters read over a range do."""

    session: AsyncSession
    period: Period
    tz: ZoneInfo
    scope: Scope
    memo: FactMemo | None = None
    _counters: dict[str, Counters] = field(default_factory=dict)

    async def _load(self, metric: str) -> Counters:
        loaded = self._counters.get(metric)
        if loaded is None:
            if self.memo is not None:
                loaded = await self.memo.counters(metric, self.period, self.tz, self.scope)
            else:
                loaded = await count_facts(self.session, metric, self.period, self.tz, self.scope)
            self._counters[metric] = loaded
        return loaded

    async def totals(self, metric: str, dim_key: str) -> dict[str, Count]:
        out: dict[str, Count] = {}
        # Day counters: every fact read lies in the period, and every grain sums to the same totals.
        for _, value, n, seconds in (await self._load(metric)).get(("day", dim_key), []):
            out[value] = out.get(value, Count()) + Count(n, seconds)
        return out

    async def series(self, metric: str, dim_key: str, kind: PeriodKind) -> dict[dt.datetime, dict[str, Count]]:
        out: dict[dt.datetime, dict[str, Count]] = defaultdict(dict)
        for start, value, n, seconds in (await self._load(metric)).get((kind, dim_key), []):
            out[start][value] = out[start].get(value, Count()) + Count(n, seconds)
        return dict(out)


# ========================================================================================================
# The figures


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _n(counts: dict[str, Count], key: str) -> int:
    return counts.get(key, Count()).n


def _total(counts: Iterable[Count]) -> int:
    return sum(c.n for c in counts)


def _call_groups(crossed: dict[str, Count]) -> list[CallGroup]:
    """`key|outcome` counters -> one row per key, biggest first."""
    per: dict[str, dict[str, Count]] = defaultdict(dict)
    for value, count in crossed.items():
        key, _, outcome = value.rpartition(CROSS)
        per[key][outcome] = count
    total = _total(crossed.values())
    rows = []
    for key, outcomes in per.items():
        f = CallFigures.of(outcomes)
        rows.append(
            CallGroup(
                key=key,
                calls=f.calls,
                share_pct=_pct(f.calls, total),
                answered=f.answered,
                answered_at_once=f.answered_at_once,
                first_contact_resolution_pct=_pct(f.answered_at_once, f.answered),
                avg_handle_seconds=_round(f.avg_handle_seconds),
                outcomes={o: c.n for o, c in sorted(outcomes.items(), key=lambda kv: (-kv[1].n, kv[0]))},
            )
        )
    return sorted(rows, key=lambda r: (-r.calls, r.key))


def _key_counts(counts: dict[str, int]) -> list[KeyCount]:
    total = sum(counts.values())
    return [
        KeyCount(key=k, count=n, share_pct=_pct(n, total))
        for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _wo_numbers(f: WorkOrderFigures) -> dict[str, Any]:
    return {
        "issued": f.issued,
        "open": f.open,
        "overdue": f.overdue,
        "done": f.done,
        "rejected": f.rejected,
        "done_on_time": f.done_on_time,
        "sla_compliance_pct": None if f.sla_compliance is None else round(100 * f.sla_compliance, 1),
        "median_completion_hours": _round(f.median_completion_hours),
    }


async def median_handle_seconds(session: AsyncSession, period: Period, scope: Scope) -> float | None:
    """Median handle time of the answered calls; PostgreSQL computes it (a year is 30,000 durations)."""
    c = StatCall.__table__.c
    where = [c.local_date >= period.first, c.local_date <= period.last, c.outcome != ABANDONED, *scope.calls()]
    if session.get_bind().dialect.name == "postgresql":
        # percentile_cont(0.5) is the mean of the two middle values for an even count, as statistics.median.
        stmt = select(func.percentile_cont(0.5).within_group(c.duration_seconds)).where(*where)
        value = (await session.execute(stmt)).scalar_one_or_none()
        return None if value is None else float(value)
    durations = list((await session.execute(select(c.duration_seconds).where(*where))).scalars())
    return float(statistics.median(durations)) if durations else None


async def _scoped_orders(session: AsyncSession, period: Period, scope: Scope) -> list[_Order]:
    """The work orders issued in the period (status and completion as `hub stats` reads them), filtered."""
    orders = await _orders(session, period)
    if scope.category is not None:
        orders = [o for o in orders if o.category == scope.category]
    if scope.district is not None and orders:
        r = StatReport.__table__.c
        here = set((await session.execute(select(r.report_id).where(r.district == scope.district))).scalars())
        orders = [o for o in orders if o.report_id in here]
    return orders


async def report_status_counts(session: AsyncSession, period: Period, scope: Scope) -> dict[str, int]:
    """As `queries.report_status_counts`, for the reports that match the filter."""
    r = StatReport.__table__.c
    reports = set(
        (
            await session.execute(
                select(r.report_id).where(r.local_date >= period.first, r.local_date <= period.last, *scope.reports())
            )
        ).scalars()
    )
    statuses: dict[str, list[str]] = defaultdict(list)
    for order in await _orders(session, period, of_reports_filed=True):
        if order.report_id in reports:
            statuses[order.report_id].append(order.status)
    return queries.classify_reports(reports, statuses)


def _incident_out(i: queries.Incident) -> IncidentOut:
    return IncidentOut(
        incident_id=i.incident_id,
        category=i.category,
        waste_fraction=i.waste_fraction,
        district=i.district,
        street=i.street,
        first_seen_at=i.first_seen_at,
        detected_at=i.detected_at,
        resolved_at=i.resolved_at,
        broadcast_at=i.broadcast_at,
        calls_in_window=i.calls_in_window,
        reports_in_window=i.reports_in_window,
        total_calls=i.total_calls,
        total_reports=i.total_reports,
    )


# ========================================================================================================
# The endpoints


class BadQuery(ValueError):
    """A query the parameter model accepted but the request cannot be answered for (422)."""


@dataclass
class StatsApi:
    """The endpoints' shared state: database, time zone, catalogue and the clock that says what `today` is."""

    sessions: async_sessionmaker[AsyncSession]
    calendar: CityCalendar
    catalogue: Catalogue
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))  # tests set the day
    memo: FactMemo | None = None

    def __post_init__(self) -> None:
        if self.memo is None:
            self.memo = FactMemo(self.sessions)

    @property
    def tz(self) -> ZoneInfo:
        return self.calendar.tz

    def today(self) -> dt.date:
        return self.clock().astimezone(self.tz).date()

    def scope(self, params: PeriodParams) -> Scope:
        subjects: frozenset[str] = frozenset()
        if params.category is not None:
            known = self.catalogue.category(params.category)
            subjects = frozenset({params.category, *(known.call_subjects if known else ())})
        return Scope(params.district, params.category, subjects)

    def period(self, params: PeriodParams) -> Period:
        try:
            return params.period(self.today())
        except ValueError as exc:
            raise BadQuery(str(exc)) from exc

    def scoped(self, params: PeriodParams, period: Period) -> dict[str, Any]:
        return {
            "period": PeriodOut(
                first_day=period.first,
                last_day=period.last,
                days=(period.end - period.first).days,
                label=period.label,
                timezone=self.calendar.timezone,
            ),
            "filters": FiltersOut(district=params.district, category=params.category),
        }

    def source(self, session: AsyncSession, period: Period, scope: Scope) -> Source:
        if scope.filtered:
            return FactSource(session, period, self.tz, scope, self.memo)
        return CounterSource(session, period, self.tz)

    # --- /api/stats/meta -------------------------------------------------------------------------------

    async def meta(self, session: AsyncSession, _: NoParams) -> MetaOut:
        c = StatCounter.__table__.c
        year_rows = c.period_kind == "year"
        starts = (
            await session.execute(
                select(c.period_start).distinct().where(year_rows, c.dim_key == ALL, c.metric.in_([CALLS, REPORTS]))
            )
        ).scalars()
        years = sorted({utc(s).astimezone(self.tz).year for s in starts})
        districts = (
            await session.execute(
                select(c.dim_value).distinct().where(year_rows, c.dim_key == DISTRICT, c.metric.in_([CALLS, REPORTS]))
            )
        ).scalars()
        categories = (
            await session.execute(
                select(c.dim_value).distinct().where(year_rows, c.dim_key == CATEGORY, c.metric == REPORTS)
            )
        ).scalars()
        return MetaOut(
            timezone=self.calendar.timezone,
            today=self.today(),
            years=years,
            districts=sorted(d for d in set(districts) if d != NOT_NOTED),
            categories=[
                NamedCode(code=code, name=known.name_en if (known := self.catalogue.category(code)) else code)
                for code in sorted(set(categories))
            ],
            assignees=[NamedCode(code=a.code, name=a.name) for a in self.catalogue.assignees.values()],
        )

    # --- /api/stats/summary ----------------------------------------------------------------------------

    async def summary(self, session: AsyncSession, params: PeriodParams) -> SummaryOut:
        period, scope = self.period(params), self.scope(params)
        src = self.source(session, period, scope)
        outcomes = await src.totals(CALLS, OUTCOME)
        calls = CallFigures.of(outcomes)
        return SummaryOut(
            **self.scoped(params, period),
            calls=CallSummary(
                total=calls.calls,
                answered=calls.answered,
                answered_at_once=calls.answered_at_once,
                abandoned=calls.abandoned,
                first_contact_resolution_pct=_pct(calls.answered_at_once, calls.answered),
                avg_handle_seconds=_round(calls.avg_handle_seconds),
                median_handle_seconds=_round(await median_handle_seconds(session, period, scope)),
                outside_opening_hours=_n(await src.totals(CALLS, HOURS), OUTSIDE),
                by_topic=_call_groups(await src.totals(CALLS, TOPIC_OUTCOME)),
                by_outcome=_key_counts({k: c.n for k, c in outcomes.items()}),
                by_subject=_call_groups(await src.totals(CALLS, SUBJECT_OUTCOME)),
            ),
            reports=ReportSummary(
                total=_total((await src.totals(REPORTS, ALL)).values()),
                outside_opening_hours=_n(await src.totals(REPORTS, HOURS), OUTSIDE),
            ),
            incidents=_total((await src.totals(SPIKES, ALL)).values()),
        )

    # --- /api/stats/series -----------------------------------------------------------------------------

    async def series(self, session: AsyncSession, params: SeriesParams) -> SeriesOut:
        period, scope = self.period(params), self.scope(params)
        src = self.source(session, period, scope)
        kind = params.grain
        outcomes = await src.series(CALLS, OUTCOME, kind)
        hours = await src.series(CALLS, HOURS, kind)
        reports = await src.series(REPORTS, ALL, kind)
        orders = await src.series(WORKORDERS, ALL, kind)
        spikes = await src.series(SPIKES, ALL, kind)
        if kind == "hour":
            # A year has 8,760 hours and the ContactCenter is open ~2,700: only the hours with a figure.
            buckets = sorted(set(outcomes) | set(hours) | set(reports) | set(orders) | set(spikes))
        else:
            buckets = period.buckets(kind, self.tz)
        points = []
        for bucket in buckets:
            calls = CallFigures.of(outcomes.get(bucket, {}))
            points.append(
                SeriesPoint(
                    start=bucket,
                    label=period_label(kind, bucket, self.tz),
                    calls=calls.calls,
                    answered=calls.answered,
                    answered_at_once=calls.answered_at_once,
                    abandoned=calls.abandoned,
                    outside_opening_hours=_n(hours.get(bucket, {}), OUTSIDE),
                    avg_handle_seconds=_round(calls.avg_handle_seconds),
                    reports=_total(reports.get(bucket, {}).values()),
                    workorders=_total(orders.get(bucket, {}).values()),
                    incidents=_total(spikes.get(bucket, {}).values()),
                )
            )
        return SeriesOut(**self.scoped(params, period), grain=kind, points=points)

    # --- /api/stats/calls/hours ------------------------------------------------------------------------

    async def hours(self, session: AsyncSession, params: PeriodParams) -> HoursOut:
        period, scope = self.period(params), self.scope(params)
        src = self.source(session, period, scope)
        calls = [0] * 24
        outside = [0] * 24
        reports = [0] * 24
        for start, counts in (await src.series(CALLS, HOURS, "hour")).items():
            hour = start.astimezone(self.tz).hour
            calls[hour] += _total(counts.values())
            outside[hour] += _n(counts, OUTSIDE)
        for start, counts in (await src.series(REPORTS, ALL, "hour")).items():
            reports[start.astimezone(self.tz).hour] += _total(counts.values())
        return HoursOut(
            **self.scoped(params, period),
            hours=[
                HourOut(hour=h, calls=calls[h], outside_opening_hours=outside[h], reports=reports[h]) for h in range(24)
            ],
        )

    # --- /api/stats/reports ----------------------------------------------------------------------------

    async def reports(self, session: AsyncSession, params: ReportsParams) -> ReportsOut:
        period, scope = self.period(params), self.scope(params)
        src = self.source(session, period, scope)
        rows: list[ReportGroup] = []
        if params.by == "status":
            counts = await report_status_counts(session, period, scope)
        else:
            dim = {
                "category": CATEGORY,
                "district": DISTRICT,
                "channel": CHANNEL,
                "category_district": CATEGORY_DISTRICT,
            }
            counts = {k: c.n for k, c in (await src.totals(REPORTS, dim[params.by])).items()}
        total = sum(counts.values())
        for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            category, district = None, None
            if params.by == "category_district":
                # Category codes never contain the separator; district names might: split at the first.
                category, _, district = key.partition(CROSS)
            rows.append(ReportGroup(key=key, category=category, district=district, reports=n, share_pct=_pct(n, total)))
        return ReportsOut(**self.scoped(params, period), by=params.by, total=total, rows=rows)

    # --- /api/stats/workorders -------------------------------------------------------------------------

    async def workorders(self, session: AsyncSession, params: WorkOrdersParams) -> WorkOrdersOut:
        period, scope = self.period(params), self.scope(params)
        as_of = params.as_of or self.today()
        orders = await _scoped_orders(session, period, scope)
        groups: dict[tuple[str | None, str | None], list[_Order]] = defaultdict(list)
        for order in orders:
            assignee = order.assignee if params.by in ("assignee", "assignee_category") else None
            category = order.category if params.by in ("category", "assignee_category") else None
            groups[assignee, category].append(order)
        rows = []
        for (assignee, category), members in groups.items():
            figures = _tally_orders(members, None, as_of, self.tz)[""]
            key = " / ".join(part for part in (assignee, category) if part is not None)
            rows.append(WorkOrderGroup(key=key, assignee=assignee, category=category, **_wo_numbers(figures)))
        rows.sort(key=lambda r: (-r.issued, r.key))
        total = _tally_orders(orders, None, as_of, self.tz).get("", WorkOrderFigures())
        return WorkOrdersOut(
            **self.scoped(params, period),
            by=params.by,
            as_of=as_of,
            total=WorkOrderNumbers(**_wo_numbers(total)),
            rows=rows,
        )

    # --- /api/stats/incidents --------------------------------------------------------------------------

    async def incidents(self, session: AsyncSession, params: PeriodParams) -> IncidentsOut:
        period, scope = self.period(params), self.scope(params)
        found = [
            i
            for i in await queries.incidents(session, period, self.tz)
            if (scope.district is None or i.district == scope.district)
            and (scope.category is None or i.category == scope.category)
        ]
        return IncidentsOut(**self.scoped(params, period), incidents=[_incident_out(i) for i in found])

    async def timeline(self, session: AsyncSession, params: TimelineParams) -> TimelineOut | None:
        after = params.after_minutes
        if after is None:
            # Long enough to show the resolution when there is one, as the drop ends there.
            after = 240
            t = StatIncident.__table__.c
            row = (
                await session.execute(select(t.detected_at, t.resolved_at).where(t.incident_id == params.incident_id))
            ).first()
            if row is not None and row.resolved_at is not None:
                resolved_after = (utc(row.resolved_at) - utc(row.detected_at)).total_seconds() / 60
                after = int(min(max(after, resolved_after + 60), 24 * 60))
        timeline = await queries.incident_timeline(
            session,
            params.incident_id,
            before=dt.timedelta(minutes=params.before_minutes),
            after=dt.timedelta(minutes=after),
        )
        if timeline is None:
            return None
        return TimelineOut(
            incident=_incident_out(timeline.incident),
            step_minutes=timeline.step_minutes,
            alert_at=timeline.incident.detected_at,
            broadcast_at=timeline.incident.broadcast_at,
            resolved_at=timeline.incident.resolved_at,
            buckets=[
                TimelineBucketOut(
                    start=b.start, minutes_from_alert=b.minutes_from_alert, calls=b.calls, reports=b.reports
                )
                for b in timeline.buckets
            ],
        )


@dataclass(frozen=True)
class Endpoint:
    path: str
    summary: str
    description: str
    params: type[_Params]
    response: type[BaseModel]
    answer: Callable[[StatsApi], Callable[[AsyncSession, Any], Awaitable[BaseModel | None]]]
    path_params: tuple[str, ...] = ()
    tag: str = "statistics"


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        f"{API}/meta",
        "What there is to filter on",
        "Years with figures, districts and categories with figures, assignees, the city's time zone and today.",
        NoParams,
        MetaOut,
        lambda api: api.meta,
    ),
    Endpoint(
        f"{API}/summary",
        "Calls, reports and incidents of a period",
        "Calls in total, by topic (with outcomes), by outcome and by subject; first-contact resolution; average and "
        "median handle time; calls outside opening hours; reports; incidents. Work orders: see /workorders.",
        PeriodParams,
        SummaryOut,
        lambda api: api.summary,
    ),
    Endpoint(
        f"{API}/series",
        "Calls, reports, work orders and incidents per hour, day, week, month or year",
        "A time series over the period. A week or month only partly in the range counts the days inside it.",
        SeriesParams,
        SeriesOut,
        lambda api: api.series,
    ),
    Endpoint(
        f"{API}/calls/hours",
        "Calls and reports per hour of the day",
        "Summed over the period: when citizens call, and how many call outside opening hours.",
        PeriodParams,
        HoursOut,
        lambda api: api.hours,
    ),
    Endpoint(
        f"{API}/reports",
        "Reports by category, district, channel or work-order status",
        "Reports filed in the period, grouped.",
        ReportsParams,
        ReportsOut,
        lambda api: api.reports,
    ),
    Endpoint(
        f"{API}/workorders",
        "Work orders per assignee and/or category against their SLA",
        "Work orders issued in the period: issued, open, overdue (as of `as_of`), done, rejected, done on time, "
        "SLA compliance and median time to completion.",
        WorkOrdersParams,
        WorkOrdersOut,
        lambda api: api.workorders,
    ),
    Endpoint(
        f"{API}/incidents",
        "Incidents detected in the period",
        "Spikes of calls and reports about one incident, in order of detection, with alert and resolution times.",
        PeriodParams,
        IncidentsOut,
        lambda api: api.incidents,
    ),
    Endpoint(
        f"{API}/incidents/{{incident_id}}/timeline",
        "Calls and reports per 15 minutes around an incident's alert",
        "Buckets aligned on the alert, so the drop after the broadcast reads directly; the broadcast and the "
        "resolution are given.",
        TimelineParams,
        TimelineOut,
        lambda api: api.timeline,
        path_params=("incident_id",),
    ),
)


# ========================================================================================================
# Starlette glue


def _json(model: BaseModel, status_code: int = 200) -> Response:
    # Figures change as the consumer counts: a browser must not show yesterday's answer from its cache.
    return Response(
        model.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _error(status_code: int, message: str, detail: list[ErrorItem] | None = None) -> Response:
    return _json(ErrorOut(error=message, detail=detail or []), status_code)


def _parse(endpoint: Endpoint, request: Request) -> _Params | Response:
    raw: dict[str, str] = {}
    repeated = []
    for name, value in request.query_params.multi_items():
        if name in raw:
            repeated.append(ErrorItem(loc=["query", name], msg="given more than once", type="repeated"))
        raw[name] = value
    if repeated:
        return _error(422, "invalid query parameters", repeated)
    raw.update(request.path_params)
    try:
        return endpoint.params.model_validate(raw)
    except ValidationError as exc:
        items = []
        for e in exc.errors(include_url=False, include_context=False, include_input=False):
            where = "path" if e["loc"] and e["loc"][0] in endpoint.path_params else "query"
            items.append(ErrorItem(loc=[where, *e["loc"]], msg=e["msg"], type=e["type"]))
        return _error(422, "invalid query parameters", items)


def _route(api: StatsApi, endpoint: Endpoint) -> Route:
    answer = endpoint.answer(api)

    async def handle(request: Request) -> Response:
        params = _parse(endpoint, request)
        if isinstance(params, Response):
            return params
        try:
            async with api.sessions() as session:
                result = await answer(session, params)
        except BadQuery as exc:
            return _error(422, "invalid query parameters", [ErrorItem(loc=["query"], msg=str(exc), type="value_error")])
        except (DBAPIError, OSError):
            # The message of a driver error can name hosts and users: the log has it, the public does not.
            log.warning("statistics query failed: %s", endpoint.path, exc_info=True)
            return _error(503, "the statistics database is not available")
        if result is None:
            return _error(404, "not found")
        return _json(result)

    return Route(endpoint.path, handle, methods=["GET"], name=endpoint.path)


# ========================================================================================================
# OpenAPI 3.1 (its schema dialect is JSON Schema 2020-12: pydantic's schemas go in as they are)

_REF = "#/components/schemas/{model}"


def _parameter(name: str, schema: dict[str, Any], required: bool, where: str) -> dict[str, Any]:
    schema = dict(schema)
    description = schema.pop("description", None)
    schema.pop("title", None)
    # An optional parameter is absent, never `null`: drop the null branch pydantic adds for `X | None`.
    options = schema.pop("anyOf", None)
    if options is not None:
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            schema.update(kept[0])
        else:
            schema["anyOf"] = kept
    if schema.get("default", "") is None:
        schema.pop("default")
    out: dict[str, Any] = {"name": name, "in": where, "required": required or where == "path", "schema": schema}
    if description:
        out["description"] = description
    return out


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    models: list[type[BaseModel]] = [*{e.response for e in ENDPOINTS}, ErrorOut]
    _, top = models_json_schema([(m, "serialization") for m in models], ref_template=_REF)
    schemas: dict[str, Any] = top.get("$defs", {})
    error = {"$ref": _REF.format(model="ErrorOut")}
    paths: dict[str, Any] = {}
    for e in ENDPOINTS:
        schema = e.params.model_json_schema(by_alias=True, ref_template=_REF)
        required = set(schema.get("required", []))
        parameters = [
            _parameter(name, prop, name in required, "path" if name in e.path_params else "query")
            for name, prop in schema.get("properties", {}).items()
        ]
        responses: dict[str, Any] = {
            "200": {
                "description": e.summary,
                "content": {"application/json": {"schema": {"$ref": _REF.format(model=e.response.__name__)}}},
            },
            "422": {"description": "Invalid parameters", "content": {"application/json": {"schema": error}}},
            "503": {"description": "Database unavailable", "content": {"application/json": {"schema": error}}},
        }
        if e.path_params:
            responses["404"] = {"description": "No such incident", "content": {"application/json": {"schema": error}}}
        paths[e.path] = {
            "get": {
                "operationId": e.path.removeprefix(f"{API}/").replace("/{incident_id}", "").replace("/", "_"),
                "summary": e.summary,
                "description": e.description,
                "tags": [e.tag],
                "parameters": parameters,
                "responses": responses,
            }
        }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "City contact hub: statistics",
            "version": "1.0.0",
            "description": (
                "Read-only figures of the city's ContactCenter: calls, reports, work orders and incidents, per "
                "period of whole days in Europe/Brussels, as `hub stats` shows them. The dashboard at /dashboard "
                "reads them."
            ),
            "license": {"name": "EUPL-1.2", "identifier": "EUPL-1.2"},
        },
        "tags": [{"name": "statistics", "description": "Figures kept by the statistics consumer."}],
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


def routes(engine: AsyncEngine, settings: Settings) -> list[BaseRoute]:
    """The API, its OpenAPI document and the dashboard, for `hub.http.create_http_app`."""
    api = StatsApi(
        sessions=create_session_factory(engine),
        calendar=CityCalendar.load(settings.calendar_file),
        catalogue=Catalogue.load(settings.categories_file, settings.assignees_file),
    )
    return stats_routes(api)


def stats_routes(api: StatsApi) -> list[BaseRoute]:
    document = openapi_document()

    async def openapi(_: Request) -> Response:
        return JSONResponse(document)

    async def dashboard(_: Request) -> Response:
        # The page loads app.js and style.css by relative URL: it must be served from the folder URL.
        return RedirectResponse("/dashboard/", status_code=308)

    return [
        *(_route(api, e) for e in ENDPOINTS),
        Route(OPENAPI_PATH, openapi, methods=["GET"]),
        Route("/dashboard", dashboard, methods=["GET"]),
        Mount("/dashboard", app=StaticFiles(directory=DASHBOARD_DIR, html=True), name="dashboard"),
    ]
