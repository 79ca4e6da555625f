"""What the notice saved: the calls an incident would have brought in the hours after its broadcast, had it
gone on at its pre-notice rate, against the calls that came.

`open_spans` (opening hours cut out of the calendar) and `notice_saved` (the estimator) are pure functions;
`notice_figure` counts an incident's calls from `stat_calls` and applies them. The method, stated in docs/statistics.md:

- before: the calls about the incident (its category, in its district) in the last `BEFORE` (1 hour) of
  opening hours before the notice, `a` calls over `h_b` hours;
- after: the calls in the first `WINDOW` (3 hours) of opening hours from the notice, `c` calls over `h_a`;
- expected = a x h_a / h_b (the pre-notice rate projected over the window), fewer = expected - c;
- uncertainty: a and c are taken as independent Poisson counts, so Var(fewer) = (h_a / h_b)^2 x a + c
  (each count's variance estimated by the count itself); the interval is fewer +- 1.96 sd (normal
  approximation, about 95 %). No figure without a call in the hour before: there is no rate to project.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.domain.calendar import CityCalendar
from consumers.stats.tables import StatCall

BEFORE = dt.timedelta(hours=1)
WINDOW = dt.timedelta(hours=3)
Z95 = 1.959964
_SEARCH_DAYS = 14

Span = tuple[dt.datetime, dt.datetime]


def _open_intervals(calendar: CityCalendar, day: dt.date) -> Span | None:
    span = calendar.opening_hours.get(day.weekday())
    if span is None or not calendar.is_open_day(day):
        return None
    tz = calendar.tz
    start = dt.datetime.combine(day, span[0], tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(day, span[1], tzinfo=tz).astimezone(dt.UTC)
    return start, end


def open_spans(calendar: CityCalendar, at: dt.datetime, length: dt.timedelta, *, backwards: bool = False) -> list[Span]:
    """The first `length` of opening hours from `at` (or the last before it, `backwards`), as UTC spans in time
    order; shorter if the calendar has less open time within two weeks."""
    at = at.astimezone(dt.UTC)
    day = calendar.local(at).date()
    left = length
    spans: list[Span] = []
    for _ in range(_SEARCH_DAYS + 1):
        if left <= dt.timedelta(0):
            break
        interval = _open_intervals(calendar, day)
        if interval is not None:
            start, end = interval
            if backwards:
                end = min(end, at)
                start = max(start, end - left)
            else:
                start = max(start, at)
                end = min(end, start + left)
            if end > start:
                spans.append((start, end))
                left -= end - start
        day += dt.timedelta(days=-1 if backwards else 1)
    return sorted(spans)


def hours(spans: list[Span]) -> float:
    return sum((end - start).total_seconds() for start, end in spans) / 3600


@dataclass(frozen=True)
class NoticeSaved:
    calls_before: int
    hours_before: float
    calls_after: int
    hours_after: float
    expected: float
    fewer: float
    low: float
    high: float

    @property
    def text(self) -> str:
        """'about N calls fewer than expected (95 % interval L to H)'."""
        n = round(self.fewer)
        what = f"about {n:,} calls fewer than expected" if n >= 0 else f"about {-n:,} calls more than expected"
        return f"{what} (95 % interval {self.low:+.0f} to {self.high:+.0f})"


def notice_saved(
    calls_before: int, hours_before: float, calls_after: int, hours_after: float, *, z: float = Z95
) -> NoticeSaved | None:
    """The pre-notice rate projected over the window minus the calls that came, with its interval; None when
    there is nothing to project (no call, or no open time, before the notice; no open time after it)."""
    if calls_before <= 0 or hours_before <= 0 or hours_after <= 0:
        return None
    ratio = hours_after / hours_before
    expected = calls_before * ratio
    fewer = expected - calls_after
    sd = math.sqrt(ratio * ratio * calls_before + calls_after)
    return NoticeSaved(
        calls_before=calls_before,
        hours_before=hours_before,
        calls_after=calls_after,
        hours_after=hours_after,
        expected=expected,
        fewer=fewer,
        low=fewer - z * sd,
        high=fewer + z * sd,
    )


@dataclass(frozen=True)
class NoticeFigure:
    """The estimate for one incident, with the windows it was counted over."""

    saved: NoticeSaved | None
    before: list[Span]
    after: list[Span]


async def _calls(session: AsyncSession, category: str, district: str, spans: list[Span]) -> int:
    if not spans:
        return 0
    c = StatCall.__table__.c
    stmt = select(func.count()).where(
        c.subject == category,
        c.district == district,
        or_(*((c.started_at >= start) & (c.started_at < end) for start, end in spans)),
    )
    return int((await session.execute(stmt)).scalar_one())


async def notice_figure(
    session: AsyncSession,
    calendar: CityCalendar,
    *,
    category: str,
    district: str,
    broadcast_at: dt.datetime | None,
) -> NoticeFigure | None:
    """The incident's calls (its category, in its district; as its timeline counts them) in the hour of
    opening before its notice and the window after it; None without a notice."""
    if broadcast_at is None:
        return None
    before = open_spans(calendar, broadcast_at, BEFORE, backwards=True)
    after = open_spans(calendar, broadcast_at, WINDOW)
    a = await _calls(session, category, district, before)
    c = await _calls(session, category, district, after)
    return NoticeFigure(notice_saved(a, hours(before), c, hours(after)), before, after)
