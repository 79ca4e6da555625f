"""The read side of the statistics: figures for a period, grouped, for `hub stats` and the HTTP API.

Counted figures come from `stat_counters`, one indexed range query per figure (metric, grain and dimension
fixed, a range of period starts). Totals over a period read the coarsest grain that tiles it exactly (a
calendar year reads one row per dimension value, a month-aligned range its months, anything else its days);
a grouping by week, month or year over a range those periods do not tile folds the day rows, so a partial
period at either end counts only the days inside the range. Medians and incident timelines are computed from
the stored facts (`stat_calls`, `stat_incidents`); the work orders' SLA figures are in `workorders`.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import FromClause, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.stats.aggregates import (
    ALL,
    CALLS,
    CATEGORY,
    CATEGORY_DISTRICT,
    CROSS,
    DISTRICT,
    NOT_NOTED,
    REPORTS,
    SPIKES,
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
    local_midnight,
    next_period_day,
    period_first_day,
    period_start,
    report_deltas,
    utc,
    workorder_deltas,
)
from consumers.stats.scope import EVERYTHING, Scope
from consumers.stats.tables import (
    StatCall,
    StatCounter,
    StatIncident,
    StatReport,
    StatWorkOrder,
)
from contracts import CallOutcome

ABANDONED = CallOutcome.ABANDONED.value
AT_ONCE = CallOutcome.ANSWERED_AT_ONCE.value


# --------------------------------------------------------------------------------------------------------
# Periods


@dataclass(frozen=True)
class Period:
    """Whole local days, `first` to `last` inclusive (Europe/Brussels)."""

    first: dt.date
    last: dt.date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"the period ends ({self.last}) before it starts ({self.first})")

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(dt.date(year, 1, 1), dt.date(year, 12, 31))

    @property
    def end(self) -> dt.date:
        """The first day after the period."""
        return self.last + dt.timedelta(days=1)

    @property
    def label(self) -> str:
        if self == Period.year(self.first.year):
            return str(self.first.year)
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    def tiled_by(self, kind: PeriodKind) -> bool:
        """True if whole periods of `kind` make up exactly this range."""
        return period_first_day(kind, self.first) == self.first and period_first_day(kind, self.end) == self.end

    def totals_grain(self) -> PeriodKind:
        """The coarsest grain that tiles the range: the fewest counter rows to read."""
        coarse: tuple[PeriodKind, ...] = ("year", "month")
        for kind in coarse:
            if self.tiled_by(kind):
                return kind
        return "day"

    def instants(self, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) as UTC instants of local midnights."""
        return local_midnight(self.first, tz), local_midnight(self.end, tz)

    def buckets(self, kind: PeriodKind, tz: ZoneInfo) -> list[dt.datetime]:
        """Start of every `kind` period that overlaps the range (day grains and up), in order."""
        out: list[dt.datetime] = []
        day = period_first_day(kind, self.first)
        while day < self.end:
            out.append(local_midnight(day, tz))
            day = next_period_day(kind, day)
        return out


# --------------------------------------------------------------------------------------------------------
# Counters


@dataclass(frozen=True)
class Count:
    n: int = 0
    seconds: int = 0

    def __add__(self, other: Count) -> Count:
        return Count(self.n + other.n, self.seconds + other.seconds)


async def totals(session: AsyncSession, metric: str, dim_key: str, period: Period, tz: ZoneInfo) -> dict[str, Count]:
    """dimension value -> count over the whole period."""
    start, end = period.instants(tz)
    c = StatCounter.__table__.c
    stmt = (
        select(c.dim_value, func.sum(c.n), func.sum(c.sum_seconds))
        .where(
            c.metric == metric,
            c.period_kind == period.totals_grain(),
            c.dim_key == dim_key,
            c.period_start >= start,
            c.period_start < end,
        )
        .group_by(c.dim_value)
    )
    return {value: Count(int(n), int(s)) for value, n, s in await session.execute(stmt)}


async def series(
    session: AsyncSession, metric: str, dim_key: str, kind: PeriodKind, period: Period, tz: ZoneInfo
) -> dict[dt.datetime, dict[str, Count]]:
    """period start (UTC) -> dimension value -> count, per `kind` period of the range."""
    start, end = period.instants(tz)
    read: PeriodKind = kind if period.tiled_by(kind) else "day"
    c = StatCounter.__table__.c
    stmt = select(c.period_start, c.dim_value, c.n, c.sum_seconds).where(
        c.metric == metric,
        c.period_kind == read,
        c.dim_key == dim_key,
        c.period_start >= start,
        c.period_start < end,
    )
    out: dict[dt.datetime, dict[str, Count]] = defaultdict(dict)
    for stored, value, n, seconds in await session.execute(stmt):
        bucket = utc(stored) if read == kind else period_start(kind, utc(stored), tz)
        out[bucket][value] = out[bucket].get(value, Count()) + Count(int(n), int(seconds))
    return dict(out)


def sum_counts(counts: Iterable[Count]) -> Count:
    total = Count()
    for count in counts:
        total += count
    return total


async def reports_by_category_and_district(
    session: AsyncSession, period: Period, tz: ZoneInfo
) -> dict[tuple[str, str], int]:
    """(category, district) -> reports filed in the period: one query on the crossed counters."""
    crossed = await totals(session, REPORTS, CATEGORY_DISTRICT, period, tz)
    out: dict[tuple[str, str], int] = {}
    for value, count in crossed.items():
        category, _, district = value.partition(CROSS)
        out[category, district] = count.n
    return out


# --------------------------------------------------------------------------------------------------------
# Figures


@dataclass(frozen=True)
class CallFigures:
    calls: int
    answered: int
    answered_at_once: int
    abandoned: int
    handle_seconds: int

    @classmethod
    def of(cls, by_outcome: dict[str, Count]) -> CallFigures:
        total = sum_counts(by_outcome.values())
        abandoned = by_outcome.get(ABANDONED, Count()).n
        return cls(
            calls=total.n,
            answered=total.n - abandoned,
            answered_at_once=by_outcome.get(AT_ONCE, Count()).n,
            abandoned=abandoned,
            handle_seconds=total.seconds,
        )

    @property
    def first_contact_resolution(self) -> float | None:
        """Answered at once, of the answered calls (abandoned callers were not helped, nor turned away)."""
        return self.answered_at_once / self.answered if self.answered else None

    @property
    def avg_handle_seconds(self) -> float | None:
        return self.handle_seconds / self.answered if self.answered else None


async def median_handle_seconds(session: AsyncSession, period: Period, scope: Scope = EVERYTHING) -> float | None:
    """Median handle time of the answered calls of the period that match the scope, from the stored calls.

    The one definition `hub stats` and the HTTP API share: the mean of the two middle values for an even count
    (`statistics.median`); PostgreSQL computes it (`percentile_cont(0.5)`, the same value) instead of sending a
    year's 30,000 durations over."""
    c = StatCall.__table__.c
    where = [c.local_date >= period.first, c.local_date <= period.last, c.outcome != ABANDONED, *scope.calls()]
    if session.get_bind().dialect.name == "postgresql":
        stmt = select(func.percentile_cont(0.5).within_group(c.duration_seconds)).where(*where)
        value = (await session.execute(stmt)).scalar_one_or_none()
        return None if value is None else float(value)
    durations = list((await session.execute(select(c.duration_seconds).where(*where))).scalars())
    return float(statistics.median(durations)) if durations else None


# --------------------------------------------------------------------------------------------------------
# Incidents


@dataclass(frozen=True)
class Incident:
    incident_id: str
    category: str
    waste_fraction: str | None
    district: str
    street: str | None
    first_seen_at: dt.datetime | None
    detected_at: dt.datetime
    resolved_at: dt.datetime | None
    broadcast_at: dt.datetime | None
    calls_in_window: int | None
    reports_in_window: int | None
    total_calls: int | None
    total_reports: int | None


def _incident(row: Sequence[object]) -> Incident:
    values = dict(zip(StatIncident.__table__.c.keys(), row, strict=True))
    for name in ("first_seen_at", "detected_at", "resolved_at", "broadcast_at"):
        moment = values[name]
        values[name] = utc(moment) if isinstance(moment, dt.datetime) else None
    values.pop("incident_key")
    return Incident(**values)  # type: ignore[arg-type]


async def incidents(session: AsyncSession, period: Period, tz: ZoneInfo, scope: Scope = EVERYTHING) -> list[Incident]:
    """The incidents detected in the period that match the scope, in order of detection."""
    start, end = period.instants(tz)
    t = StatIncident.__table__
    stmt = (
        select(t).where(t.c.detected_at >= start, t.c.detected_at < end, *scope.incidents()).order_by(t.c.detected_at)
    )
    return [_incident(tuple(row)) for row in await session.execute(stmt)]


async def incident(session: AsyncSession, incident_id: str) -> Incident | None:
    t = StatIncident.__table__
    row = (await session.execute(select(t).where(t.c.incident_id == incident_id))).first()
    return None if row is None else _incident(tuple(row))


@dataclass(frozen=True)
class TimelineBucket:
    start: dt.datetime  # UTC
    minutes_from_alert: int
    calls: int
    reports: int


@dataclass(frozen=True)
class Timeline:
    """Calls and reports about an incident's category in its district, per step, around the alert."""

    incident: Incident
    step_minutes: int
    buckets: list[TimelineBucket]


async def incident_timeline(
    session: AsyncSession,
    incident_id: str,
    *,
    before: dt.timedelta = dt.timedelta(hours=2),
    after: dt.timedelta | None = dt.timedelta(hours=4),
    step: dt.timedelta = dt.timedelta(minutes=15),
) -> Timeline | None:
    """Buckets are aligned on the alert (`detected_at`), so the drop after it reads directly. Without `after`,
    long enough to show the resolution when there is one (the drop ends there): 4 hours, or up to an hour past
    the resolution, at most 24 hours."""
    found = await incident(session, incident_id)
    if found is None:
        return None
    alert = found.detected_at
    if after is None:
        after = dt.timedelta(hours=4)
        if found.resolved_at is not None:
            after = min(max(after, found.resolved_at - alert + dt.timedelta(hours=1)), dt.timedelta(hours=24))
    steps_before = -(-before // step)
    first = alert - steps_before * step
    last = alert + after
    calls = StatCall.__table__.c
    reports = StatReport.__table__.c
    call_times = (
        await session.execute(
            select(calls.started_at).where(
                calls.subject == found.category,
                calls.district == found.district,
                calls.started_at >= first,
                calls.started_at < last,
            )
        )
    ).scalars()
    report_filter = [
        reports.category == found.category,
        reports.district == found.district,
        reports.filed_at >= first,
        reports.filed_at < last,
    ]
    if found.waste_fraction is not None:
        report_filter.append(reports.waste_fraction == found.waste_fraction)
    report_times = (await session.execute(select(reports.filed_at).where(*report_filter))).scalars()
    n = -(-(last - first) // step)
    call_counts = [0] * n
    report_counts = [0] * n
    for moment in call_times:
        call_counts[int((utc(moment) - first) / step)] += 1
    for moment in report_times:
        report_counts[int((utc(moment) - first) / step)] += 1
    minutes = int(step.total_seconds() // 60)
    buckets = [
        TimelineBucket(first + i * step, (i - steps_before) * minutes, call_counts[i], report_counts[i])
        for i in range(n)
    ]
    return Timeline(found, minutes, buckets)


# --------------------------------------------------------------------------------------------------------
# Facts as counters (a filter the stored counters cannot answer), and what there is to filter on


def _fact_tables() -> dict[str, tuple[FromClause, type[Any], Deltas]]:
    return {
        CALLS: (StatCall.__table__, CallFact, call_deltas),
        REPORTS: (StatReport.__table__, ReportFact, report_deltas),
        WORKORDERS: (StatWorkOrder.__table__, WorkOrderFact, workorder_deltas),
        SPIKES: (StatIncident.__table__, IncidentFact, incident_deltas),
    }


Deltas = Callable[[Any, ZoneInfo], Iterator[tuple[CounterKey, int, int]]]
# (grain, dimension) -> [(period start, dimension value, n, seconds)]: counters as `stat_counters` rows.
Counters = dict[tuple[str, str], list[tuple[dt.datetime, str, int, int]]]


async def count_facts(session: AsyncSession, metric: str, period: Period, tz: ZoneInfo, scope: Scope) -> Counters:
    """The counters the facts of the period that match the scope make, by the consumer's own delta functions."""
    table, fact_type, deltas = _fact_tables()[metric]
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


async def counters_version(session: AsyncSession) -> tuple[tuple[str, int], ...]:
    """The running total of every metric's year counters: it grows with each fact the consumer counts."""
    c = StatCounter.__table__.c
    stmt = (
        select(c.metric, func.sum(c.n))
        .where(c.period_kind == "year", c.dim_key == ALL)
        .group_by(c.metric)
        .order_by(c.metric)
    )
    return tuple((metric, int(n)) for metric, n in await session.execute(stmt))


@dataclass(frozen=True)
class Available:
    """What has figures: years (local), districts (calls or reports) and report categories."""

    years: list[int]
    districts: list[str]
    categories: list[str]


async def available(session: AsyncSession, tz: ZoneInfo) -> Available:
    c = StatCounter.__table__.c
    year_rows = c.period_kind == "year"
    counted = c.metric.in_([CALLS, REPORTS])
    starts = (
        await session.execute(select(c.period_start).distinct().where(year_rows, c.dim_key == ALL, counted))
    ).scalars()
    districts = (
        await session.execute(select(c.dim_value).distinct().where(year_rows, c.dim_key == DISTRICT, counted))
    ).scalars()
    categories = (
        await session.execute(
            select(c.dim_value).distinct().where(year_rows, c.dim_key == CATEGORY, c.metric == REPORTS)
        )
    ).scalars()
    return Available(
        years=sorted({utc(s).astimezone(tz).year for s in starts}),
        districts=sorted(d for d in set(districts) if d != NOT_NOTED),
        categories=sorted(set(categories)),
    )
