"""The statistics API's answers: each endpoint's figures, computed from `consumers.stats.queries`.

`StatsApi` holds what the answers share (sessions, the city's calendar and catalogue, the clock that says what
`today` is); `consumers.stats.http` puts each method on a route.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from consumers.stats import queries
from consumers.stats import workorders as order_queries
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
    REPORTS,
    SPIKES,
    SUBJECT_OUTCOME,
    TOPIC_OUTCOME,
    WORKORDERS,
    period_label,
)
from consumers.stats.comparison import Change, change, compare_counts, same_period_last_year
from consumers.stats.queries import CallFigures, Count, Period
from consumers.stats.saved import NoticeFigure, hours, notice_figure
from consumers.stats.schemas import (
    CallGroup,
    CallSummary,
    CompareOut,
    CompareParams,
    CompareRow,
    FiltersOut,
    HourOut,
    HoursOut,
    IncidentOut,
    IncidentsOut,
    KeyCount,
    MetaOut,
    NamedCode,
    NoticeSavedOut,
    PeriodOut,
    PeriodParams,
    ReportGroup,
    ReportsOut,
    ReportsParams,
    ReportSummary,
    SeriesOut,
    SeriesParams,
    SeriesPoint,
    SummaryOut,
    TimelineBucketOut,
    TimelineOut,
    TimelineParams,
    WorkOrderGroup,
    WorkOrderNumbers,
    WorkOrdersOut,
    WorkOrdersParams,
)
from consumers.stats.scope import Scope
from consumers.stats.sources import CounterSource, FactMemo, FactSource, Source
from consumers.stats.workorders import Order, WorkOrderFigures, tally_orders


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
        "merged": f.merged,
        "incident_orders": f.incident_orders,
        "done_on_time": f.done_on_time,
        "sla_compliance_pct": None if f.sla_compliance is None else round(100 * f.sla_compliance, 1),
        "median_completion_hours": _round(f.median_completion_hours),
    }


def notice_out(figure: NoticeFigure | None, now: dt.datetime) -> NoticeSavedOut | None:
    """The API's view of what the notice saved (null without a broadcast)."""
    if figure is None:
        return None
    s = figure.saved
    calls_before = s.calls_before if s else 0
    return NoticeSavedOut(
        text=s.text if s else "no call about it in the hour before the notice: no rate to project",
        calls_fewer=None if s is None else round(s.fewer, 1),
        low=None if s is None else round(s.low, 1),
        high=None if s is None else round(s.high, 1),
        expected_calls=None if s is None else round(s.expected, 1),
        calls_after=s.calls_after if s else 0,
        calls_before=calls_before,
        hours_before=round(hours(figure.before), 2),
        hours_after=round(hours(figure.after), 2),
        before_from=figure.before[0][0] if figure.before else None,
        window_to=figure.after[-1][1] if figure.after else None,
        provisional=not figure.after or figure.after[-1][1] > now,
    )


def _incident_out(i: queries.Incident, notice: NoticeSavedOut | None = None) -> IncidentOut:
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
        notice_saved=notice,
    )


# ========================================================================================================


class BadQuery(ValueError):
    """A query the parameter model accepted but the request cannot be answered for (422); `code` its error type."""

    def __init__(self, message: str, code: str = "value_error") -> None:
        super().__init__(message)
        self.code = code


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
            raise BadQuery(str(exc), getattr(exc, "type", "value_error")) from exc

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

    async def meta(self, session: AsyncSession) -> MetaOut:
        found = await queries.available(session, self.tz)
        return MetaOut(
            timezone=self.calendar.timezone,
            today=self.today(),
            years=found.years,
            districts=found.districts,
            categories=[
                NamedCode(code=code, name=known.name_en if (known := self.catalogue.category(code)) else code)
                for code in found.categories
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
                median_handle_seconds=_round(await queries.median_handle_seconds(session, period, scope)),
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
            counts = await order_queries.report_status_counts(session, period, scope)
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
        orders = await order_queries.orders(session, period, scope)
        groups: dict[tuple[str | None, str | None], list[Order]] = defaultdict(list)
        for order in orders:
            assignee = order.assignee if params.by in ("assignee", "assignee_category") else None
            category = order.category if params.by in ("category", "assignee_category") else None
            groups[assignee, category].append(order)
        rows = []
        for (assignee, category), members in groups.items():
            figures = tally_orders(members, None, as_of, self.tz)[""]
            key = " / ".join(part for part in (assignee, category) if part is not None)
            rows.append(WorkOrderGroup(key=key, assignee=assignee, category=category, **_wo_numbers(figures)))
        rows.sort(key=lambda r: (-r.issued, r.key))
        total = tally_orders(orders, None, as_of, self.tz).get("", WorkOrderFigures())
        return WorkOrdersOut(
            **self.scoped(params, period),
            by=params.by,
            as_of=as_of,
            total=WorkOrderNumbers(**_wo_numbers(total)),
            rows=rows,
        )

    # --- /api/stats/compare ----------------------------------------------------------------------------

    async def compare(self, session: AsyncSession, params: CompareParams) -> CompareOut:
        now, before = same_period_last_year(self.period(params), self.today())
        if params.by == "figures":
            rows = [*await self._key_figures(session, params, now, before)]
        else:
            counts = []
            for period in (now, before):
                answer = await self.reports(
                    session, ReportsParams.model_validate(self._within(params, period, params.by))
                )
                counts.append({r.key: r.reports for r in answer.rows})
            rows = compare_counts(counts[0], counts[1])
        return CompareOut(
            **self.scoped(params, now),
            previous=self.scoped(params, before)["period"],
            by=params.by,
            rows=[self._compare_row(r, params.by) for r in rows],
        )

    @staticmethod
    def _within(params: CompareParams, period: Period, by: str | None = None) -> dict[str, Any]:
        q: dict[str, Any] = {"from": period.first, "to": period.last, "district": params.district}
        q["category"] = params.category
        if by is not None:
            q["by"] = by
        return q

    async def _key_figures(
        self, session: AsyncSession, params: CompareParams, now: Period, before: Period
    ) -> list[Change]:
        figures: list[dict[str, float | None]] = []
        for period in (now, before):
            within = self._within(params, period)
            summary = await self.summary(session, PeriodParams.model_validate(within))
            orders = await self.workorders(session, WorkOrdersParams.model_validate({**within, "as_of": params.as_of}))
            figures.append(
                {
                    "calls": summary.calls.total,
                    "first_contact_resolution_pct": summary.calls.first_contact_resolution_pct,
                    "abandoned": summary.calls.abandoned,
                    "reports": summary.reports.total,
                    "workorders": orders.total.issued,
                    "sla_compliance_pct": orders.total.sla_compliance_pct,
                    "incidents": summary.incidents,
                }
            )
        return [change(k, v, figures[1][k], rate=k.endswith("_pct")) for k, v in figures[0].items()]

    def _compare_row(self, row: Change, by: str) -> CompareRow:
        known = self.catalogue.category(row.key) if by == "category" else None
        return CompareRow(
            key=row.key,
            name=known.name_nl if known else None,
            now=row.now,
            before=row.before,
            change=row.change,
            change_pct=row.change_pct,
        )

    # --- /api/stats/incidents --------------------------------------------------------------------------

    async def incidents(self, session: AsyncSession, params: PeriodParams) -> IncidentsOut:
        period, scope = self.period(params), self.scope(params)
        found = await queries.incidents(session, period, self.tz, scope)
        out = [_incident_out(i, await self.notice(session, i)) for i in found]
        return IncidentsOut(**self.scoped(params, period), incidents=out)

    async def notice(self, session: AsyncSession, i: queries.Incident) -> NoticeSavedOut | None:
        figure = await notice_figure(
            session, self.calendar, category=i.category, district=i.district, broadcast_at=i.broadcast_at
        )
        return notice_out(figure, self.clock())

    async def timeline(self, session: AsyncSession, incident_id: str, params: TimelineParams) -> TimelineOut | None:
        after = None if params.after_minutes is None else dt.timedelta(minutes=params.after_minutes)
        timeline = await queries.incident_timeline(
            session,
            incident_id,
            before=dt.timedelta(minutes=params.before_minutes),
            after=after,
        )
        if timeline is None:
            return None
        return TimelineOut(
            incident=_incident_out(timeline.incident, await self.notice(session, timeline.incident)),
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
