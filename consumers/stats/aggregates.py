"""Which counters a fact increments: pure functions, no I/O.

A message becomes a *fact* (what the statistics store about it, no personal data, times in UTC plus the
Europe/Brussels view at ingest), and a fact becomes *counter deltas*. The consumer applies the deltas of new
facts incrementally; `hub stats rebuild` applies the deltas of every stored fact. Both use the functions
below, so the two can only differ if a message was counted twice or not at all.

Counters are kept per local period (hour, day, ISO week, month, year), each identified by the UTC instant of
its local start: unambiguous on DST days (the two 02:00 hours of the last Sunday of October are two buckets)
and directly comparable with the UTC times of the facts. Hour buckets carry only the few dimensions the
hourly views need; the coarser grains carry them all, including the crossed ones (topic x outcome, ...)
that give first-contact resolution and handle time per topic in one query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from consumers.domain.calendar import CityCalendar
from consumers.domain.places import UNPLACED_DISTRICT
from contracts import CallLogged, CallOutcome, ReportFiled, SpikeDetected, SpikeResolved, WorkOrderIssued
from infra.clock import utc as utc  # re-exported: the statistics modules import it from here

PeriodKind = Literal["hour", "day", "week", "month", "year"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("hour", "day", "week", "month", "year")

# Metrics (what is counted).
CALLS = "calls"
REPORTS = "reports"
WORKORDERS = "workorders"
SPIKES = "spikes"

# Dimension keys. `all` has the single value "" and holds the totals.
ALL = "all"
TOPIC = "topic"
SUBJECT = "subject"
OUTCOME = "outcome"
DISTRICT = "district"
HOURS = "hours"
TOPIC_OUTCOME = "topic_outcome"
SUBJECT_OUTCOME = "subject_outcome"
CATEGORY = "category"
CHANNEL = "channel"
CATEGORY_DISTRICT = "category_district"
ASSIGNEE = "assignee"

# Values of the `hours` dimension, and of a call whose agent noted no district.
INSIDE = "inside"
OUTSIDE = "outside"
NOT_NOTED = "(not noted)"
# Joins the parts of a crossed dimension value. Split a topic|outcome or subject|outcome at the LAST `|` and a
# category|district at the FIRST: outcomes and category codes (pattern `[a-z0-9_.]`) never contain one.
CROSS = "|"

# Which dimensions each metric keeps at the hour grain (few: hourly views) and at the coarser grains (all).
HOURLY_DIMS: dict[str, tuple[str, ...]] = {
    CALLS: (ALL, TOPIC, OUTCOME, HOURS),
    REPORTS: (ALL, CATEGORY, HOURS),
    WORKORDERS: (ALL, ASSIGNEE),
    SPIKES: (ALL, CATEGORY),
}

UTC = dt.UTC


# --------------------------------------------------------------------------------------------------------
# Facts: what the statistics store about each message


@dataclass(frozen=True, slots=True)
class CallFact:
    call_id: str
    started_at: dt.datetime  # UTC
    local_date: dt.date
    local_hour: int
    weekday: int  # 0 = Monday
    topic: str
    subject: str
    outcome: str
    duration_seconds: int
    district: str | None
    outside_opening_hours: bool
    related_report_id: str | None


@dataclass(frozen=True, slots=True)
class ReportFact:
    report_id: str
    filed_at: dt.datetime  # UTC
    local_date: dt.date
    local_hour: int
    weekday: int
    category: str
    waste_fraction: str | None
    district: str
    channel: str
    outside_opening_hours: bool
    call_id: str | None


@dataclass(frozen=True, slots=True)
class WorkOrderFact:
    work_order_id: str
    report_id: str
    assignee: str
    category: str
    issued_at: dt.datetime  # UTC, the hub's wall clock when routed
    local_date: dt.date  # of the report's filing: the period the order counts in
    due_date: dt.date
    sla_working_days: int
    filed_at: dt.datetime | None  # UTC, when the report was filed (None: stored before 1.2, issued_at stands in)
    incident_id: str | None = None  # an incident order's incident (WorkOrderIssued 1.3)

    @property
    def counted_at(self) -> dt.datetime:
        """The event time the order counts at: its report's filing, so a replayed year counts in that year."""
        return self.filed_at if self.filed_at is not None else self.issued_at


@dataclass(frozen=True, slots=True)
class IncidentFact:
    incident_id: str
    incident_key: str
    category: str
    waste_fraction: str | None
    district: str
    street: str | None
    first_seen_at: dt.datetime | None  # UTC
    detected_at: dt.datetime  # UTC
    resolved_at: dt.datetime | None  # UTC
    calls_in_window: int | None
    reports_in_window: int | None
    total_calls: int | None
    total_reports: int | None


def call_fact(call: CallLogged, calendar: CityCalendar) -> CallFact:
    local = calendar.local(call.started_at)
    return CallFact(
        call_id=call.call_id,
        started_at=utc(call.started_at),
        local_date=local.date(),
        local_hour=local.hour,
        weekday=local.weekday(),
        topic=call.topic.value,
        subject=call.subject,
        outcome=call.outcome.value,
        duration_seconds=call.duration_seconds,
        district=call.district,
        outside_opening_hours=not calendar.is_open(call.started_at),
        related_report_id=call.related_report_id,
    )


def report_fact(report: ReportFiled, calendar: CityCalendar) -> ReportFact:
    """Where and what; the reporter's contact data and the free-text description are left behind."""
    local = calendar.local(report.filed_at)
    return ReportFact(
        report_id=report.report_id,
        filed_at=utc(report.filed_at),
        local_date=local.date(),
        local_hour=local.hour,
        weekday=local.weekday(),
        category=report.category,
        waste_fraction=report.waste_fraction,
        district=report.location.district or UNPLACED_DISTRICT,
        channel=report.channel.value,
        outside_opening_hours=not calendar.is_open(report.filed_at),
        call_id=report.call_id,
    )


def workorder_fact(order: WorkOrderIssued, calendar: CityCalendar) -> WorkOrderFact:
    """The SLA facts of a work order; its location, description and any reporter data are left behind.

    Counted in event time: in the period of the report it came from (its filing), not when the hub routed it."""
    filed = order.report_filed_at if order.report_filed_at is not None else order.issued_at
    return WorkOrderFact(
        work_order_id=order.work_order_id,
        report_id=order.report_id,
        assignee=order.assignee,
        category=order.category,
        issued_at=utc(order.issued_at),
        local_date=calendar.local(filed).date(),
        due_date=order.due_date,
        sla_working_days=order.sla_working_days,
        filed_at=utc(filed),
        incident_id=order.incident.incident_id if order.incident is not None else None,
    )


def incident_fact(spike: SpikeDetected | SpikeResolved) -> IncidentFact:
    if isinstance(spike, SpikeDetected):
        return IncidentFact(
            incident_id=spike.incident_id,
            incident_key=spike.incident_key,
            category=spike.category,
            waste_fraction=spike.waste_fraction,
            district=spike.district,
            street=spike.street,
            first_seen_at=utc(spike.first_seen_at),
            detected_at=utc(spike.detected_at),
            resolved_at=None,
            calls_in_window=spike.calls_in_window,
            reports_in_window=spike.reports_in_window,
            total_calls=None,
            total_reports=None,
        )
    return IncidentFact(
        incident_id=spike.incident_id,
        incident_key=spike.incident_key,
        category=spike.category,
        waste_fraction=None,
        district=spike.district,
        street=spike.street,
        first_seen_at=None,
        detected_at=utc(spike.detected_at),
        resolved_at=utc(spike.resolved_at),
        calls_in_window=None,
        reports_in_window=None,
        total_calls=spike.total_calls,
        total_reports=spike.total_reports,
    )


# --------------------------------------------------------------------------------------------------------
# Periods


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant at which `day` begins in `tz`."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(UTC)


def period_first_day(kind: PeriodKind, day: dt.date) -> dt.date:
    """The first local day of the period of `kind` that contains `day` (ISO weeks start on Monday)."""
    if kind in ("hour", "day"):
        return day
    if kind == "week":
        return day - dt.timedelta(days=day.weekday())
    if kind == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def next_period_day(kind: PeriodKind, first: dt.date) -> dt.date:
    """The first local day of the period after the one starting on `first` (day grains and up)."""
    if kind in ("hour", "day"):
        return first + dt.timedelta(days=1)
    if kind == "week":
        return first + dt.timedelta(days=7)
    if kind == "month":
        return (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first.replace(year=first.year + 1)


def period_start(kind: PeriodKind, moment: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """UTC instant of the local start of the `kind` period containing `moment`."""
    instant = utc(moment)
    if kind == "hour":
        # Every UTC offset is a multiple of 15 minutes, so all instants of one UTC quarter hour share their local
        # hour: cache per quarter hour.
        return _hour_start(instant.replace(minute=instant.minute - instant.minute % 15, second=0, microsecond=0), tz)
    return _day_period_start(kind, instant.astimezone(tz).date(), tz)


@lru_cache(maxsize=4096)
def _hour_start(quarter: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    # `astimezone` sets `fold` on the repeated hour of a DST fall-back; `replace` keeps it, so the second 02:00
    # maps back to its own instant.
    return quarter.astimezone(tz).replace(minute=0).astimezone(UTC)


@lru_cache(maxsize=4096)
def _day_period_start(kind: PeriodKind, day: dt.date, tz: ZoneInfo) -> dt.datetime:
    # Cached: every call of a day asks the same five questions, and a year has only 365 days.
    return local_midnight(period_first_day(kind, day), tz)


def period_label(kind: PeriodKind, start: dt.datetime, tz: ZoneInfo) -> str:
    """How a period reads for people: `2021-03-15 09:00`, `2021-03-15`, `2021-W11`, `2021-03`, `2021`."""
    local = utc(start).astimezone(tz)
    if kind == "hour":
        text = local.strftime("%Y-%m-%d %H:%M")
        # The repeated hour of a DST fall-back needs its offset to be told apart.
        return f"{text}{local.strftime('%z')[:3]}" if _is_ambiguous(local) else text
    if kind == "day":
        return local.date().isoformat()
    if kind == "week":
        year, week, _ = local.date().isocalendar()
        return f"{year}-W{week:02d}"
    if kind == "month":
        return local.strftime("%Y-%m")
    return str(local.year)


def _is_ambiguous(local: dt.datetime) -> bool:
    other = local.replace(fold=1 - local.fold)
    return other.utcoffset() != local.utcoffset()


# --------------------------------------------------------------------------------------------------------
# Counters


class CounterKey(NamedTuple):
    """Ordered like the table's primary key: transactions take row locks in this order (no deadlocks).

    A named tuple, not a dataclass: a year's rebuild makes and hashes a million of them."""

    metric: str
    period_kind: str
    dim_key: str
    period_start: dt.datetime  # UTC
    dim_value: str


class Tally:
    """Counter deltas summed per key: what one transaction adds to `stat_counters`."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[CounterKey, list[int]] = {}

    def add(self, key: CounterKey, n: int = 1, seconds: int = 0) -> None:
        entry = self.counts.get(key)
        if entry is None:
            self.counts[key] = [n, seconds]
        else:
            entry[0] += n
            entry[1] += seconds

    def add_all(self, deltas: Iterable[tuple[CounterKey, int, int]]) -> None:
        counts = self.counts  # `add` inlined: this loop runs a million times in a year's rebuild
        for key, n, seconds in deltas:
            entry = counts.get(key)
            if entry is None:
                counts[key] = [n, seconds]
            else:
                entry[0] += n
                entry[1] += seconds

    def rows(self) -> list[dict[str, object]]:
        """Rows for `stat_counters`, in key order."""
        return [
            {
                "metric": key.metric,
                "period_kind": key.period_kind,
                "dim_key": key.dim_key,
                "period_start": key.period_start,
                "dim_value": key.dim_value,
                "n": n,
                "sum_seconds": seconds,
            }
            for key, (n, seconds) in sorted(self.counts.items())
        ]

    def __len__(self) -> int:
        return len(self.counts)


def _deltas(
    metric: str, moment: dt.datetime, dims: dict[str, str], tz: ZoneInfo, seconds: int = 0
) -> Iterator[tuple[CounterKey, int, int]]:
    hourly = HOURLY_DIMS[metric]
    for kind in PERIOD_KINDS:
        start = period_start(kind, moment, tz)
        for dim_key, dim_value in dims.items():
            if kind == "hour" and dim_key not in hourly:
                continue
            yield CounterKey(metric, kind, dim_key, start, dim_value), 1, seconds


def call_deltas(fact: CallFact, tz: ZoneInfo) -> Iterator[tuple[CounterKey, int, int]]:
    """One per grain and dimension; `sum_seconds` holds the handle time of answered calls only, so that
    `sum_seconds / (n - abandoned)` is the average handle time whatever an abandoned call's duration says."""
    answered = fact.outcome != CallOutcome.ABANDONED.value
    dims = {
        ALL: "",
        TOPIC: fact.topic,
        SUBJECT: fact.subject,
        OUTCOME: fact.outcome,
        DISTRICT: fact.district or NOT_NOTED,
        HOURS: OUTSIDE if fact.outside_opening_hours else INSIDE,
        TOPIC_OUTCOME: f"{fact.topic}{CROSS}{fact.outcome}",
        SUBJECT_OUTCOME: f"{fact.subject}{CROSS}{fact.outcome}",
    }
    return _deltas(CALLS, fact.started_at, dims, tz, fact.duration_seconds if answered else 0)


def report_deltas(fact: ReportFact, tz: ZoneInfo) -> Iterator[tuple[CounterKey, int, int]]:
    dims = {
        ALL: "",
        CATEGORY: fact.category,
        DISTRICT: fact.district,
        CHANNEL: fact.channel,
        HOURS: OUTSIDE if fact.outside_opening_hours else INSIDE,
        CATEGORY_DISTRICT: f"{fact.category}{CROSS}{fact.district}",
    }
    return _deltas(REPORTS, fact.filed_at, dims, tz)


def workorder_deltas(fact: WorkOrderFact, tz: ZoneInfo) -> Iterator[tuple[CounterKey, int, int]]:
    dims = {ALL: "", ASSIGNEE: fact.assignee, CATEGORY: fact.category}
    return _deltas(WORKORDERS, fact.counted_at, dims, tz)


def incident_deltas(fact: IncidentFact, tz: ZoneInfo) -> Iterator[tuple[CounterKey, int, int]]:
    """A spike counts once, in the period of its first detection."""
    dims = {ALL: "", CATEGORY: fact.category, DISTRICT: fact.district}
    return _deltas(SPIKES, fact.detected_at, dims, tz)
