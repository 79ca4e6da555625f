"""The read side of the statistics: figures for a period, grouped, for `hub stats` and the HTTP API.

Counted figures come from `stat_counters`, one indexed range query per figure (metric, grain and dimension
fixed, a range of period starts). Totals over a period read the coarsest grain that tiles it exactly (a
calendar year reads one row per dimension value, a month-aligned range its months, anything else its days);
a grouping by week, month or year over a range those periods do not tile folds the day rows, so a partial
period at either end counts only the days inside the range. Medians and work-order SLA figures are computed
from the stored facts (`stat_calls`, `stat_workorders` and their status changes).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
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
    StatFoldedReport,
    StatIncident,
    StatReport,
    StatWorkOrder,
    StatWorkOrderEvent,
)
from contracts import CallOutcome, RecordedStatus, WorkOrderStatus

ABANDONED = CallOutcome.ABANDONED.value
AT_ONCE = CallOutcome.ANSWERED_AT_ONCE.value
DONE = WorkOrderStatus.DONE.value
REJECTED = WorkOrderStatus.REJECTED.value
# When two status changes carry the same time, the later step of the life cycle is the current one.
_STATUS_RANK = {status.value: rank for rank, status in enumerate(RecordedStatus)}
MERGED = RecordedStatus.MERGED.value
_FINAL = frozenset({WorkOrderStatus.DONE.value, WorkOrderStatus.REJECTED.value})


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


@dataclass
class WorkOrderFigures:
    """Work orders issued in a period, as of a day: where they stand against their SLA due date."""

    issued: int = 0
    done: int = 0
    rejected: int = 0
    overdue: int = 0
    done_on_time: int = 0
    completion_hours: list[float] = field(default_factory=list)
    # Per-report orders closed as merged into an incident order: neither open nor overdue, their SLA not decided.
    merged: int = 0
    # Incident orders (one per incident and assignee, in `issued` too), with an SLA of their own.
    incident_orders: int = 0

    @property
    def open(self) -> int:
        return self.issued - self.done - self.rejected - self.merged

    @property
    def sla_compliance(self) -> float | None:
        """Done by the due date, of the orders whose SLA is decided (done, or open past their due date)."""
        decided = self.done + self.overdue
        return self.done_on_time / decided if decided else None

    @property
    def median_completion_hours(self) -> float | None:
        return statistics.median(self.completion_hours) if self.completion_hours else None


@dataclass(frozen=True)
class Order:
    work_order_id: str
    report_id: str
    assignee: str
    category: str
    issued_at: dt.datetime  # the SLA clock's start in event time: the report's filing
    due_date: dt.date
    status: str
    done_at: dt.datetime | None
    incident_id: str | None = None


def current_status(changes: Sequence[tuple[dt.datetime, str]]) -> str:
    """Only applied changes are stored, and done and rejected are final there: a final status is the last one
    applied whatever its (assignee-given, possibly earlier) time; among open statuses (and `merged`, which staff may
    undo) the latest wins."""
    if not changes:
        return "issued"
    return max(changes, key=lambda ch: (ch[1] in _FINAL, ch[0], _STATUS_RANK.get(ch[1], -1)))[1]


async def orders(
    session: AsyncSession, period: Period, scope: Scope = EVERYTHING, *, of_reports_filed: bool = False
) -> list[Order]:
    """Work orders issued in the period (or: of the reports filed in it) that match the scope, with their
    current status and completion."""
    w = StatWorkOrder.__table__.c
    e = StatWorkOrderEvent.__table__.c
    r = StatReport.__table__.c
    joined = StatWorkOrder.__table__.outerjoin(StatWorkOrderEvent.__table__, e.work_order_id == w.work_order_id)
    if of_reports_filed:
        joined = joined.join(StatReport.__table__, r.report_id == w.report_id)
        day = r.local_date
    else:
        day = w.local_date
    stmt = (
        select(
            w.work_order_id,
            w.report_id,
            w.assignee,
            w.category,
            # Event time: the SLA clock starts at the report's filing (the routing's wall clock for older rows).
            func.coalesce(w.filed_at, w.issued_at),
            w.due_date,
            e.status,
            e.changed_at,
            w.incident_id,
        )
        .select_from(joined)
        .where(day >= period.first, day <= period.last, *scope.workorders())
    )
    base: dict[str, tuple[str, str, str, dt.datetime, dt.date, str | None]] = {}
    events: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    rows = await session.execute(stmt)
    for wid, report_id, assignee, category, issued_at, due_date, status, changed_at, incident_id in rows:
        base[wid] = (report_id, assignee, category, utc(issued_at), due_date, incident_id)
        if status is not None:
            events[wid].append((utc(changed_at), status))
    found = []
    for wid, (report_id, assignee, category, issued_at, due_date, incident_id) in base.items():
        changes = events.get(wid, [])
        # Only applied changes are stored, and done and rejected are final there: a final status is the last one
        # applied whatever its (assignee-given, possibly earlier) time; among open statuses the latest wins.
        status = current_status(changes)
        done_times = [at for at, st in changes if st == DONE]
        done_at = min(done_times) if status == DONE and done_times else None
        found.append(Order(wid, report_id, assignee, category, issued_at, due_date, status, done_at, incident_id))
    return found


def tally_orders(found: Iterable[Order], key: str | None, as_of: dt.date, tz: ZoneInfo) -> dict[str, WorkOrderFigures]:
    """Per value of the `key` attribute (or "" for all): the orders' figures as of `as_of`."""
    out: dict[str, WorkOrderFigures] = defaultdict(WorkOrderFigures)
    for order in found:
        figures = out[getattr(order, key) if key else ""]
        figures.issued += 1
        if order.incident_id is not None:
            figures.incident_orders += 1
        if order.status == MERGED:
            figures.merged += 1
        elif order.status == REJECTED:
            figures.rejected += 1
        elif order.status == DONE and order.done_at is not None:
            figures.done += 1
            figures.completion_hours.append((order.done_at - order.issued_at).total_seconds() / 3600)
            if order.done_at.astimezone(tz).date() <= order.due_date:
                figures.done_on_time += 1
        elif order.due_date < as_of:
            figures.overdue += 1
    return dict(out)


async def workorder_figures(
    session: AsyncSession, period: Period, by: Literal["assignee", "category"] | None, *, tz: ZoneInfo, as_of: dt.date
) -> dict[str, WorkOrderFigures]:
    """Per assignee or category (or "" for all): issued, open, done, overdue as of `as_of`, SLA compliance."""
    return tally_orders(await orders(session, period), by, as_of, tz)


async def report_status_counts(session: AsyncSession, period: Period, scope: Scope = EVERYTHING) -> dict[str, int]:
    """Reports filed in the period (matching the scope) by where their work stands: `open` while any of its work
    orders is open, `done` once all are done or rejected and one is done, `rejected` if all were rejected,
    `no work order`."""
    r = StatReport.__table__.c
    where = [r.local_date >= period.first, r.local_date <= period.last, *scope.reports()]
    reports = set((await session.execute(select(r.report_id).where(*where))).scalars())
    statuses: dict[str, list[str]] = defaultdict(list)
    for order in await orders(session, period, of_reports_filed=True):
        if order.report_id in reports and order.incident_id is None:
            statuses[order.report_id].append(order.status)
    # A folded report's work stands with its incident order; a merged order of its own is not open work.
    for report_id, status in await folded_report_statuses(session, reports):
        statuses[report_id].append(status)
    for states in statuses.values():
        if MERGED in states:
            states[:] = [s for s in states if s != MERGED]
    return classify_reports(reports, statuses)


async def folded_report_statuses(session: AsyncSession, reports: Iterable[str]) -> list[tuple[str, str]]:
    """(report, the current status of the incident order it is folded into), for those of `reports` folded."""
    wanted = sorted(set(reports))
    if not wanted:
        return []
    f = StatFoldedReport.__table__.c
    links: dict[str, set[str]] = defaultdict(set)
    for i in range(0, len(wanted), 5000):
        rows = await session.execute(select(f.report_id, f.work_order_id).where(f.report_id.in_(wanted[i : i + 5000])))
        for report_id, wid in rows:
            links[wid].add(report_id)
    if not links:
        return []
    e = StatWorkOrderEvent.__table__.c
    changes: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    found = await session.execute(
        select(e.work_order_id, e.changed_at, e.status).where(e.work_order_id.in_(sorted(links)))
    )
    for wid, at, status in found:
        changes[wid].append((utc(at), status))
    out: list[tuple[str, str]] = []
    for wid, report_ids in links.items():
        status = current_status(changes.get(wid, []))
        out.extend((rid, status) for rid in sorted(report_ids))
    return out


async def folding_figures(session: AsyncSession, period: Period) -> dict[str, int]:
    """Reports folded into incident orders, the incident orders, and the per-report orders merged, in the period."""
    r = StatReport.__table__.c
    f = StatFoldedReport.__table__.c
    folded = (
        await session.execute(
            select(func.count(func.distinct(f.report_id)))
            .select_from(StatFoldedReport.__table__.join(StatReport.__table__, r.report_id == f.report_id))
            .where(r.local_date >= period.first, r.local_date <= period.last)
        )
    ).scalar_one()
    figures = tally_orders(await orders(session, period), None, period.last, ZoneInfo("UTC")).get(
        "", WorkOrderFigures()
    )
    return {"reports_folded": int(folded), "incident_orders": figures.incident_orders, "orders_merged": figures.merged}


def classify_reports(report_ids: Iterable[str], statuses: Mapping[str, list[str]]) -> dict[str, int]:
    """Reports by where their work orders stand: open if any is open, else done if any is done, else rejected."""
    counts: dict[str, int] = defaultdict(int)
    for report_id in report_ids:
        states = statuses.get(report_id)
        if not states:
            counts["no work order"] += 1
        elif any(s not in (DONE, REJECTED) for s in states):
            counts["open"] += 1
        elif DONE in states:
            counts["done"] += 1
        else:
            counts["rejected"] += 1
    return dict(counts)


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
