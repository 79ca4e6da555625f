"""The same period last year, and a figure now against then: pure, no I/O (`StatsApi.compare` reads both).

A period that runs past today is compared up to today: this year so far (1 January to 4 December) against
1 January to 4 December of last year, not against last year's twelve months. 29 February maps to 28 February.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from consumers.stats.queries import Period


def year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def so_far(period: Period, today: dt.date) -> Period:
    """The period up to today when it runs past it (and has begun); else the period as it is."""
    if period.first <= today < period.last:
        return Period(period.first, today)
    return period


def same_period_last_year(period: Period, today: dt.date) -> tuple[Period, Period]:
    """(the period compared, its counterpart a year before)."""
    now = so_far(period, today)
    return now, Period(year_before(now.first), year_before(now.last))


@dataclass(frozen=True)
class Change:
    key: str
    now: float | None
    before: float | None
    change: float | None  # now - before; for a percentage, in percentage points
    change_pct: float | None  # relative to before; null for a percentage or when before is 0 or unknown


def change(key: str, now: float | None, before: float | None, *, rate: bool = False) -> Change:
    if now is None or before is None:
        return Change(key, now, before, None, None)
    delta = round(now - before, 1)
    relative = None if rate or not before else round(100 * (now - before) / before, 1)
    return Change(key, now, before, delta, relative)


def compare_counts(now: Mapping[str, int], before: Mapping[str, int]) -> list[Change]:
    """One row per key of either period (a key missing from one counts 0 there), biggest now first."""
    keys = set(now) | set(before)
    rows = [change(k, now.get(k, 0), before.get(k, 0)) for k in keys]
    return sorted(rows, key=lambda r: (-(r.now or 0), -(r.before or 0), r.key))
