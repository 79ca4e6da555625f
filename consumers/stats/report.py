"""The tables `hub stats` prints: a summary of a period, or one grouping of its figures.

Every figure is read through `consumers.stats.queries`, as the HTTP API reads them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from consumers.domain.calendar import CityCalendar
from consumers.stats.aggregates import (
    ALL,
    CALLS,
    CATEGORY,
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
    period_label,
)
from consumers.stats.queries import (
    ABANDONED,
    CallFigures,
    Count,
    Period,
    incidents,
    median_handle_seconds,
    series,
    sum_counts,
    totals,
)
from consumers.stats.saved import notice_figure
from consumers.stats.workorders import WorkOrderFigures, folding_figures, report_status_counts, workorder_figures

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
    "incidents",
]
GROUPINGS: tuple[Grouping, ...] = get_args(Grouping)

Cell = str | int | float | None


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
    session: AsyncSession,
    period: Period,
    by: Grouping | None,
    *,
    tz: ZoneInfo,
    as_of: dt.date,
    calendar: CityCalendar | None = None,
) -> Table:
    """The figures of `hub stats`: a summary, or one grouping of them."""
    if by == "incidents":
        return await _incidents(session, period, calendar or CityCalendar(timezone=str(tz)))
    if by is None:
        return await _summary(session, period, tz, as_of)
    if by in PERIOD_KINDS:
        return await _over_time(session, period, by, tz)
    if by in ("topic", "subject"):
        return await _calls_by_cross(session, period, by, tz)
    if by == "outcome":
        return await _by_outcome(session, period, tz)
    if by == "category":
        return await _by_category(session, period, tz, as_of)
    if by == "district":
        return await _by_district(session, period, tz)
    if by == "channel":
        channels = await totals(session, REPORTS, CHANNEL, period, tz)
        total = sum_counts(channels.values()).n
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


async def _by_outcome(session: AsyncSession, period: Period, tz: ZoneInfo) -> Table:
    outcomes = await totals(session, CALLS, OUTCOME, period, tz)
    total = sum_counts(outcomes.values()).n
    rows: list[list[Cell]] = [
        [outcome, c.n, _share(c.n, total), _round(c.seconds / c.n) if c.n and outcome != ABANDONED else None]
        for outcome, c in sorted(outcomes.items(), key=lambda kv: -kv[1].n)
    ]
    return Table(f"calls by outcome, {period.label}", ["outcome", "calls", "share_pct", "avg_handle_s"], rows)


async def _by_district(session: AsyncSession, period: Period, tz: ZoneInfo) -> Table:
    reports = await totals(session, REPORTS, DISTRICT, period, tz)
    calls = await totals(session, CALLS, DISTRICT, period, tz)
    spikes = await totals(session, SPIKES, DISTRICT, period, tz)
    total = sum_counts(reports.values()).n
    rows: list[list[Cell]] = [
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


async def _incidents(session: AsyncSession, period: Period, calendar: CityCalendar) -> Table:
    """The incidents detected in the period, with what their notice saved (docs/statistics.md)."""
    rows: list[list[Cell]] = []
    for i in await incidents(session, period, calendar.tz):
        figure = await notice_figure(
            session, calendar, category=i.category, district=i.district, broadcast_at=i.broadcast_at
        )
        s = figure.saved if figure else None
        rows.append(
            [
                i.incident_id,
                calendar.local(i.detected_at).strftime("%Y-%m-%d %H:%M"),
                None if i.broadcast_at is None else calendar.local(i.broadcast_at).strftime("%Y-%m-%d %H:%M"),
                None if s is None else s.calls_before,
                None if s is None else round(s.expected, 1),
                None if s is None else s.calls_after,
                None if s is None else round(s.fewer, 1),
                None if s is None else f"{s.low:+.0f} to {s.high:+.0f}",
            ]
        )
    columns = ["incident", "alert", "broadcast", "calls_hour_before", "expected_3h", "came_3h", "fewer", "ci95"]
    return Table(f"incidents and what the notice saved, detected {period.label}", columns, rows)


_WO_COLUMNS = ["issued", "open", "overdue", "done", "rejected", "done_on_time", "sla_pct", "median_completion_h"]


def _wo_cells(f: WorkOrderFigures) -> list[Cell]:
    return [
        f.issued, f.open, f.overdue, f.done, f.rejected, f.done_on_time, _pct(f.sla_compliance),
        _round(f.median_completion_hours),
    ]  # fmt: skip


async def _summary(session: AsyncSession, period: Period, tz: ZoneInfo, as_of: dt.date) -> Table:
    calls = CallFigures.of(await totals(session, CALLS, OUTCOME, period, tz))
    outside = (await totals(session, CALLS, HOURS, period, tz)).get(OUTSIDE, Count()).n
    reports = sum_counts((await totals(session, REPORTS, ALL, period, tz)).values()).n
    spikes = sum_counts((await totals(session, SPIKES, ALL, period, tz)).values()).n
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
        ["incident orders issued (one per incident and assignee)", orders.incident_orders],
        ["per-report orders merged into incident orders", orders.merged],
        ["reports folded into incident orders", (await folding_figures(session, period))["reports_folded"]],
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
                sum_counts(reports.get(bucket, {}).values()).n,
                sum_counts(orders.get(bucket, {}).values()).n,
                sum_counts(spikes.get(bucket, {}).values()).n,
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
    total = sum_counts(reports.values()).n
    keys = sorted(set(reports) | set(orders) | set(spikes), key=lambda k: (-reports.get(k, Count()).n, k))
    rows: list[list[Cell]] = [
        [k, reports.get(k, Count()).n, _share(reports.get(k, Count()).n, total), spikes.get(k, Count()).n,
         *_wo_cells(orders.get(k, WorkOrderFigures()))]
        for k in keys
    ]  # fmt: skip
    columns = ["category", "reports", "share_pct", "spikes", *(f"workorders_{c}" for c in _WO_COLUMNS)]
    return Table(f"reports and work orders by category, {period.label}, as of {as_of}", columns, rows)
