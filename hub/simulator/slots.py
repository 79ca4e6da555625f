"""The time grid of a run: opening-hour and online slots with their weights, weighted draws, planned rows."""

from __future__ import annotations

import bisect
import datetime as dt
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Generic, TypeVar

from consumers.domain.calendar import CityCalendar
from contracts import (
    CallOutcome,
    CallTopic,
    ReportChannel,
    ReporterContact,
)
from hub.simulator.profile import IncidentKind, TrafficProfile

# --------------------------------------------------------------------------------------------------------
# Generation

T = TypeVar("T")


class Weighted(Generic[T]):
    """A weighted choice with its cumulative weights computed once (the generator draws ~10^5 times)."""

    def __init__(self, weights: Mapping[T, float]) -> None:
        items = [(key, weight) for key, weight in weights.items() if weight > 0]
        if not items:
            raise ValueError("no positive weight to choose from")
        self.keys = [key for key, _ in items]
        self.cum = list(accumulate(weight for _, weight in items))

    def pick(self, rng: random.Random) -> T:
        index = bisect.bisect_right(self.cum, rng.random() * self.cum[-1])
        return self.keys[min(index, len(self.keys) - 1)]


@dataclass(slots=True)
class PlannedReport:
    filed: int  # epoch seconds
    channel: ReportChannel
    category: str
    fraction: str | None
    district: str
    postcode: str
    street: str
    house_number: str | None
    description: str
    reporter: ReporterContact | None
    call: PlannedCall | None = None
    report_id: str = ""


@dataclass(slots=True)
class PlannedCall:
    started: int  # epoch seconds
    duration: int
    topic: CallTopic
    subject: str
    outcome: CallOutcome
    district: str | None
    agent: int | None
    report: PlannedReport | None = None
    call_id: str = ""

    @property
    def ended(self) -> int:
        return self.started + self.duration


@dataclass(slots=True)
class Slot:
    """One opening hour (or the open part of it) of one day, in epoch seconds."""

    start: int
    end: int
    open: int  # when the ContactCenter opens and closes that day: a call must end before closing
    close: int
    weight: float


@dataclass(slots=True)
class PlannedIncident:
    kind: str
    spec: IncidentKind
    district: str
    streets: tuple[str, ...]
    fraction: str | None
    started: int
    burst_end: int  # the broadcast, or when it would have come
    broadcast: int | None
    ended: int
    calls: list[PlannedCall] = field(default_factory=list)
    reports: list[PlannedReport] = field(default_factory=list)


def epoch_seconds(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def local_midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz)


def day_range(start: dt.date, days: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(days)]


def _after_closed_weekday(calendar: CityCalendar, day: dt.date) -> bool:
    previous = day - dt.timedelta(days=1)
    return previous.weekday() in calendar.opening_hours and calendar.is_public_holiday(previous)


def opening_hour_slots(profile: TrafficProfile, calendar: CityCalendar, days: Iterable[dt.date]) -> list[Slot]:
    """The weighted opening hours of the given days: where phone calls can land."""
    rhythm = profile.rhythm
    tz = calendar.tz
    slots: list[Slot] = []
    for day in days:
        if not calendar.is_open_day(day):
            continue
        open_at, close_at = calendar.opening_hours[day.weekday()]
        # Opening hours never fall in a DST gap, so local wall times are safe here.
        open_ts = epoch_seconds(dt.datetime.combine(day, open_at, tzinfo=tz))
        close_ts = epoch_seconds(dt.datetime.combine(day, close_at, tzinfo=tz))
        day_weight = rhythm.weekday_weights.get(day.weekday(), 1.0) * rhythm.month_weights[day.month - 1]
        after_closed = _after_closed_weekday(calendar, day)
        for hour in range(open_at.hour, close_at.hour + (1 if close_at.minute else 0)):
            hour_start = epoch_seconds(dt.datetime.combine(day, dt.time(hour), tzinfo=tz))
            start, end = max(open_ts, hour_start), min(close_ts, hour_start + 3600)
            if end <= start:
                continue
            weight = day_weight * rhythm.hour_weights.get(hour, 1.0) * (end - start) / 3600
            for boost in rhythm.boosts:
                if (
                    (boost.weekdays is None or day.weekday() in boost.weekdays)
                    and (boost.hours is None or hour in boost.hours)
                    and (not boost.after_closed_weekday or after_closed)
                ):
                    weight *= boost.factor
            slots.append(Slot(start, end, open_ts, close_ts, weight))
    return slots


def online_hour_slots(profile: TrafficProfile, calendar: CityCalendar, start: dt.date, days: int) -> list[Slot]:
    """Every hour of the range, weighted for web/app reports. Stepping in UTC handles DST days (23 or 25 h)."""
    reports, rhythm, tz = profile.reports, profile.rhythm, calendar.tz
    first = epoch_seconds(local_midnight(start, tz))
    last = epoch_seconds(local_midnight(start + dt.timedelta(days=days), tz))
    slots = []
    for hour_start in range(first, last, 3600):
        local = dt.datetime.fromtimestamp(hour_start, tz)
        weight = (
            reports.online_hour_weights[local.hour]
            * reports.online_weekday_weights.get(local.weekday(), 1.0)
            * rhythm.month_weights[local.month - 1]
        )
        slots.append(Slot(hour_start, hour_start + 3600, first, last, weight))
    return slots


def _reference_days(profile: TrafficProfile) -> list[dt.date]:
    year = profile.reference_year
    return day_range(dt.date(year, 1, 1), (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days)


def expected_calls(profile: TrafficProfile, calendar: CityCalendar, start: dt.date, days: int) -> int:
    """Calls a range gets at the profile's yearly rate: its share of the reference year's opening-hour weight."""
    reference = sum(s.weight for s in opening_hour_slots(profile, calendar, _reference_days(profile)))
    in_range = sum(s.weight for s in opening_hour_slots(profile, calendar, day_range(start, days)))
    return round(profile.calls_per_year * in_range / reference) if reference else 0


def expected_online_reports(
    profile: TrafficProfile, calendar: CityCalendar, start: dt.date, days: int, *, load: float = 1.0
) -> int:
    """Web/app/e-mail reports a range gets: the yearly number implied by the phone reports and `online_share`,
    spread by the online rhythm (every hour of every day). `load` scales it along with a non-default call total.
    """
    topics = profile.topics
    report = topics.get(CallTopic.REPORT)
    if report is None:
        return 0
    topic_share = report.weight / sum(t.weight for t in topics.values())
    filed_share = report.outcomes.get(CallOutcome.REPORT_FILED, 0.0) / sum(report.outcomes.values())
    share = profile.reports.online_share
    per_year = profile.calls_per_year * topic_share * filed_share * share / (1 - share)
    year = profile.reference_year
    reference = sum(
        s.weight for s in online_hour_slots(profile, calendar, dt.date(year, 1, 1), len(_reference_days(profile)))
    )
    in_range = sum(s.weight for s in online_hour_slots(profile, calendar, start, days))
    return round(per_year * load * in_range / reference) if reference else 0
