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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.stats.aggregates import (
    ALL,
    CALLS,
    CATEGORY,
    CATEGORY_DISTRICT,
    CHANNEL,
    CROSS,
    DISTRICT,
    HOURS,
    OUTCOME,
    OUTSIDE,
    PERIOD_KINDS,
    REPORTS,
    SPIKES,
    SUBJECT_OUTCOME,
    TOPIC_OUTCOME,
    WORKORDERS,
    PeriodKind,
    local_midnight,
    next_period_day,
    period_first_day,
    period_label,
    period_start,
    utc,
)
from contracts import CallOutcome, WorkOrderStatus
from infra.db.models import StatCall, StatCounter, StatIncident, StatReport, StatWorkOrder, StatWorkOrderEvent

Grouping = Literal[
    "hour",
    "day",
    "week",
    "month",
    "year",
    "topic",
    "subject",
    "outcome",
    "category",
    "district",
    "channel",
    "status",
    "assignee",
]
GROUPINGS: tuple[Grouping, ...] = get_args(Grouping)

ABANDONED = CallOutcome.ABANDONED.value
AT_ONCE = CallOutcome.ANSWERED_AT_ONCE.value
DONE = WorkOrderStatus.DONE.value
REJECTED = WorkOrderStatus.REJECTED.value
# When two status changes carry the same time, the later step of the life cycle is the current one.
_STATUS_RANK = {status.value: rank for rank, status in enumerate(WorkOrderStatus)}
_FINAL = frozenset({WorkOrderStatus.DONE.value, WorkOrderStatus.REJECTED.value})

Cell = str | int | float | None


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


def _sum(counts: Iterable[Count]) -> Count:
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
        total = _sum(by_outcome.values())
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


async def median_handle_seconds(session: AsyncSession, period: Period) -> float | None:
    """Median handle time of the answered calls of the period, from the stored calls."""
    c = StatCall.__table__.c
    stmt = select(c.duration_seconds).where(
        c.local_date >= period.first, c.local_date <= period.last, c.outcome != ABANDONED
    )
    durations = list((await session.execute(stmt)).scalars())
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

    @property
    def open(self) -> int:
        return self.issued - self.done - self.rejected

    @property
    def sla_compliance(self) -> float | None:
        """Done by the due date, of the orders whose SLA is decided (done, or open past their due date)."""
        decided = self.done + self.overdue
        return self.done_on_time / decided if decided else None

    @property
    def median_completion_hours(self) -> float | None:
        return statistics.median(self.completion_hours) if self.completion_hours else None


@dataclass(frozen=True)
class _Order:
    work_order_id: str
    report_id: str
    assignee: str
    category: str
    issued_at: dt.datetime
    due_date: dt.date
    status: str
    done_at: dt.datetime | None


async def _orders(session: AsyncSession, period: Period, *, of_reports_filed: bool = False) -> list[_Order]:
    """Work orders issued in the period (or: of the reports filed in it), with current status and completion."""
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
        select(w.work_order_id, w.report_id, w.assignee, w.category, w.issued_at, w.due_date, e.status, e.changed_at)
        .select_from(joined)
        .where(day >= period.first, day <= period.last)
    )
    base: dict[str, tuple[str, str, str, dt.datetime, dt.date]] = {}
    events: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for wid, report_id, assignee, category, issued_at, due_date, status, changed_at in await session.execute(stmt):
        base[wid] = (report_id, assignee, category, utc(issued_at), due_date)
        if status is not None:
            events[wid].append((utc(changed_at), status))
    orders = []
    for wid, (report_id, assignee, category, issued_at, due_date) in base.items():
        changes = events.get(wid, [])
        # Only applied changes are stored, and done and rejected are final there: a final status is the last one
        # applied whatever its (assignee-given, possibly earlier) time; among open statuses the latest wins.
        status = (
            max(changes, key=lambda ch: (ch[1] in _FINAL, ch[0], _STATUS_RANK.get(ch[1], -1)))[1]
            if changes
            else "issued"
        )
        done_times = [at for at, st in changes if st == DONE]
        done_at = min(done_times) if status == DONE and done_times else None
        orders.append(_Order(wid, report_id, assignee, category, issued_at, due_date, status, done_at))
    return orders


def _tally_orders(
    orders: Iterable[_Order], key: str | None, as_of: dt.date, tz: ZoneInfo
) -> dict[str, WorkOrderFigures]:
    out: dict[str, WorkOrderFigures] = defaultdict(WorkOrderFigures)
    for order in orders:
        figures = out[getattr(order, key) if key else ""]
        figures.issued += 1
        if order.status == REJECTED:
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
    return _tally_orders(await _orders(session, period), by, as_of, tz)


async def report_status_counts(session: AsyncSession, period: Period) -> dict[str, int]:
    """Reports filed in the period by where their work stands: `open` while any of its work orders is open,
    `done` once all are done or rejected and one is done, `rejected` if all were rejected, `no work order`."""
    r = StatReport.__table__.c
    reports = set(
        (
            await session.execute(select(r.report_id).where(r.local_date >= period.first, r.local_date <= period.last))
        ).scalars()
    )
    statuses: dict[str, list[str]] = defaultdict(list)
    for order in await _orders(session, period, of_reports_filed=True):
        statuses[order.report_id].append(order.status)
    return classify_reports(reports, statuses)


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


async def incidents(session: AsyncSession, period: Period, tz: ZoneInfo) -> list[Incident]:
    """The incidents detected in the period, in order of detection."""
    start, end = period.instants(tz)
    t = StatIncident.__table__
    stmt = select(t).where(t.c.detected_at >= start, t.c.detected_at < end).order_by(t.c.detected_at)
    return [_incident(tuple(row)) for row in await session.execute(stmt)]


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
    after: dt.timedelta = dt.timedelta(hours=4),
    step: dt.timedelta = dt.timedelta(minutes=15),
) -> Timeline | None:
    """Buckets are aligned on the alert (`detected_at`), so the drop after it reads directly."""
    t = StatIncident.__table__
    row = (await session.execute(select(t).where(t.c.incident_id == incident_id))).first()
    if row is None:
        return None
    incident = _incident(tuple(row))
    alert = incident.detected_at
    steps_before = -(-before // step)
    first = alert - steps_before * step
    last = alert + after
    calls = StatCall.__table__.c
    reports = StatReport.__table__.c
    call_times = (
        await session.execute(
            select(calls.started_at).where(
                calls.subject == incident.category,
                calls.district == incident.district,
                calls.started_at >= first,
                calls.started_at < last,
            )
        )
    ).scalars()
    report_filter = [
        reports.category == incident.category,
        reports.district == incident.district,
        reports.filed_at >= first,
        reports.filed_at < last,
    ]
    if incident.waste_fraction is not None:
        report_filter.append(reports.waste_fraction == incident.waste_fraction)
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
    return Timeline(incident, minutes, buckets)


# --------------------------------------------------------------------------------------------------------
# The tables `hub stats` prints (and the HTTP API serves)


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[Cell]]

    def records(self) -> list[dict[str, Cell]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _share(n: int, total: int) -> float | None:
    return _pct(n / total) if total else None


async def stats_table(
    session: AsyncSession, period: Period, by: Grouping | None, *, tz: ZoneInfo, as_of: dt.date
) -> Table:
    """The figures of `hub stats`: a summary, or one grouping of them."""
    if by is None:
        return await _summary(session, period, tz, as_of)
    if by in PERIOD_KINDS:
        return await _over_time(session, period, by, tz)
    if by in ("topic", "subject"):
        return await _calls_by_cross(session, period, by, tz)
    if by == "outcome":
        outcomes = await totals(session, CALLS, OUTCOME, period, tz)
        total = _sum(outcomes.values()).n
        rows: list[list[Cell]] = [
            [outcome, c.n, _share(c.n, total), _round(c.seconds / c.n) if c.n and outcome != ABANDONED else None]
            for outcome, c in sorted(outcomes.items(), key=lambda kv: -kv[1].n)
        ]
        return Table(f"calls by outcome, {period.label}", ["outcome", "calls", "share_pct", "avg_handle_s"], rows)
    if by == "category":
        return await _by_category(session, period, tz, as_of)
    if by == "district":
        reports = await totals(session, REPORTS, DISTRICT, period, tz)
        calls = await totals(session, CALLS, DISTRICT, period, tz)
        spikes = await totals(session, SPIKES, DISTRICT, period, tz)
        total = _sum(reports.values()).n
        rows = [
            [
                d,
                reports.get(d, Count()).n,
                _share(reports.get(d, Count()).n, total),
                calls.get(d, Count()).n,
                spikes.get(d, Count()).n,
            ]
            for d in sorted(set(reports) | set(calls) | set(spikes), key=lambda d: (-reports.get(d, Count()).n, d))
        ]
        return Table(
            f"reports and calls by district, {period.label}",
            ["district", "reports", "share_pct", "calls", "spikes"],
            rows,
        )
    if by == "channel":
        channels = await totals(session, REPORTS, CHANNEL, period, tz)
        total = _sum(channels.values()).n
        rows = [[ch, c.n, _share(c.n, total)] for ch, c in sorted(channels.items(), key=lambda kv: -kv[1].n)]
        return Table(f"reports by channel, {period.label}", ["channel", "reports", "share_pct"], rows)
    if by == "status":
        statuses = await report_status_counts(session, period)
        total = sum(statuses.values())
        rows = [[s, n, _share(n, total)] for s, n in sorted(statuses.items(), key=lambda kv: -kv[1])]
        return Table(
            f"reports by status of their work orders, {period.label}", ["status", "reports", "share_pct"], rows
        )
    if by == "assignee":
        figures = await workorder_figures(session, period, "assignee", tz=tz, as_of=as_of)
        columns = ["assignee", *_WO_COLUMNS]
        rows = [[a, *_wo_cells(f)] for a, f in sorted(figures.items(), key=lambda kv: (-kv[1].issued, kv[0]))]
        return Table(f"work orders by assignee, issued {period.label}, as of {as_of}", columns, rows)
    raise ValueError(f"unknown grouping {by!r}; one of {', '.join(GROUPINGS)}")


_WO_COLUMNS = ["issued", "open", "overdue", "done", "rejected", "done_on_time", "sla_pct", "median_completion_h"]


def _wo_cells(f: WorkOrderFigures) -> list[Cell]:
    return [
        f.issued, f.open, f.overdue, f.done, f.rejected, f.done_on_time, _pct(f.sla_compliance),
        _round(f.median_completion_hours),
    ]  # fmt: skip


async def _summary(session: AsyncSession, period: Period, tz: ZoneInfo, as_of: dt.date) -> Table:
    calls = CallFigures.of(await totals(session, CALLS, OUTCOME, period, tz))
    outside = (await totals(session, CALLS, HOURS, period, tz)).get(OUTSIDE, Count()).n
    reports = _sum((await totals(session, REPORTS, ALL, period, tz)).values()).n
    spikes = _sum((await totals(session, SPIKES, ALL, period, tz)).values()).n
    orders = (await workorder_figures(session, period, None, tz=tz, as_of=as_of)).get("", WorkOrderFigures())
    rows: list[list[Cell]] = [
        ["calls", calls.calls],
        ["calls answered", calls.answered],
        ["calls answered at once", calls.answered_at_once],
        ["calls abandoned", calls.abandoned],
        ["first-contact resolution %", _pct(calls.first_contact_resolution)],
        ["average handle time s", _round(calls.avg_handle_seconds)],
        ["median handle time s", _round(await median_handle_seconds(session, period))],
        ["calls outside opening hours", outside],
        ["reports", reports],
        ["work orders issued", orders.issued],
        ["work orders open", orders.open],
        ["work orders overdue", orders.overdue],
        ["work orders done", orders.done],
        ["SLA compliance %", _pct(orders.sla_compliance)],
        ["median time to completion h", _round(orders.median_completion_hours)],
        ["spikes", spikes],
    ]
    return Table(f"summary, {period.label}", ["figure", "value"], rows)


async def _over_time(session: AsyncSession, period: Period, kind: PeriodKind, tz: ZoneInfo) -> Table:
    outcomes = await series(session, CALLS, OUTCOME, kind, period, tz)
    hours = await series(session, CALLS, HOURS, kind, period, tz)
    reports = await series(session, REPORTS, ALL, kind, period, tz)
    orders = await series(session, WORKORDERS, ALL, kind, period, tz)
    spikes = await series(session, SPIKES, ALL, kind, period, tz)
    if kind == "hour":
        # Only the hours with something in them: a year has 8,760 hours and the ContactCenter is open ~2,700.
        buckets = sorted(set(outcomes) | set(reports) | set(orders) | set(spikes))
    else:
        buckets = period.buckets(kind, tz)
    rows: list[list[Cell]] = []
    for bucket in buckets:
        calls = CallFigures.of(outcomes.get(bucket, {}))
        rows.append(
            [
                period_label(kind, bucket, tz),
                calls.calls,
                calls.answered,
                calls.answered_at_once,
                _pct(calls.first_contact_resolution),
                _round(calls.avg_handle_seconds),
                hours.get(bucket, {}).get(OUTSIDE, Count()).n,
                _sum(reports.get(bucket, {}).values()).n,
                _sum(orders.get(bucket, {}).values()).n,
                _sum(spikes.get(bucket, {}).values()).n,
            ]
        )
    columns = [
        kind, "calls", "answered", "answered_at_once", "fcr_pct", "avg_handle_s", "outside_hours", "reports",
        "workorders", "spikes",
    ]  # fmt: skip
    return Table(f"per {kind}, {period.label}", columns, rows)


async def _calls_by_cross(session: AsyncSession, period: Period, by: str, tz: ZoneInfo) -> Table:
    """Calls per topic or subject, with first-contact resolution and handle time from the crossed counters."""
    crossed = await totals(session, CALLS, TOPIC_OUTCOME if by == "topic" else SUBJECT_OUTCOME, period, tz)
    per: dict[str, dict[str, Count]] = defaultdict(dict)
    for value, count in crossed.items():
        key, _, outcome = value.rpartition(CROSS)
        per[key][outcome] = count
    figures = {key: CallFigures.of(outcomes) for key, outcomes in per.items()}
    total = sum(f.calls for f in figures.values())
    rows: list[list[Cell]] = [
        [key, f.calls, _share(f.calls, total), f.answered, f.answered_at_once, _pct(f.first_contact_resolution),
         _round(f.avg_handle_seconds)]
        for key, f in sorted(figures.items(), key=lambda kv: (-kv[1].calls, kv[0]))
    ]  # fmt: skip
    columns = [by, "calls", "share_pct", "answered", "answered_at_once", "fcr_pct", "avg_handle_s"]
    return Table(f"calls by {by}, {period.label}", columns, rows)


async def _by_category(session: AsyncSession, period: Period, tz: ZoneInfo, as_of: dt.date) -> Table:
    reports = await totals(session, REPORTS, CATEGORY, period, tz)
    spikes = await totals(session, SPIKES, CATEGORY, period, tz)
    orders = await workorder_figures(session, period, "category", tz=tz, as_of=as_of)
    total = _sum(reports.values()).n
    keys = sorted(set(reports) | set(orders) | set(spikes), key=lambda k: (-reports.get(k, Count()).n, k))
    rows: list[list[Cell]] = [
        [k, reports.get(k, Count()).n, _share(reports.get(k, Count()).n, total), spikes.get(k, Count()).n,
         *_wo_cells(orders.get(k, WorkOrderFigures()))]
        for k in keys
    ]  # fmt: skip
    columns = ["category", "reports", "share_pct", "spikes", *(f"workorders_{c}" for c in _WO_COLUMNS)]
    return Table(f"reports and work orders by category, {period.label}, as of {as_of}", columns, rows)
