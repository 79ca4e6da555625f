"""The city's calendar: opening hours, working days and Belgian public holidays, in Europe/Brussels.

Pure code: load it once from `calendar.yaml`, then ask it questions. Days and moments as the hub writes them for
people live here too: `dutch_date` (e-mails and notices to citizens and contractors) and `CityCalendar.when`
(explanations of the routing rules).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import yaml

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
"""English weekday names, indexed by `date.weekday()`."""
_DUTCH_DAYS = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")
_DUTCH_MONTHS = (
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
)


def dutch_date(day: dt.date) -> str:
    """A day as Dutch prose: `donderdag 3 december 2026`."""
    return f"{_DUTCH_DAYS[day.weekday()]} {day.day} {_DUTCH_MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True)
class CityCalendar:
    """Opening hours per weekday, working weekdays and closed days."""

    timezone: str = "Europe/Brussels"
    opening_hours: dict[int, tuple[dt.time, dt.time]] = field(
        default_factory=lambda: {
            **{d: (dt.time(9), dt.time(16)) for d in range(5)},
            5: (dt.time(9), dt.time(12)),
        }
    )
    working_weekdays: frozenset[int] = frozenset(range(5))
    holidays_country: str = "BE"
    extra_closed_days: frozenset[dt.date] = frozenset()
    version: str = "builtin"

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _holidays(self) -> holidays.HolidayBase:
        return holidays.country_holidays(self.holidays_country)

    @classmethod
    def load(cls, path: Path) -> CityCalendar:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        hours = {
            int(day): (dt.time.fromisoformat(span[0]), dt.time.fromisoformat(span[1]))
            for day, span in (raw.get("opening_hours") or {}).items()
        }
        for day, (start, end) in hours.items():
            if not 0 <= day <= 6 or start >= end:
                raise ValueError(f"{path}: opening_hours for weekday {day} must be 0..6 with open < close")
        return cls(
            timezone=raw.get("timezone", "Europe/Brussels"),
            opening_hours=hours,
            working_weekdays=frozenset(int(d) for d in raw.get("working_weekdays", range(5))),
            holidays_country=raw.get("public_holidays_country", "BE"),
            extra_closed_days=frozenset(dt.date.fromisoformat(str(d)) for d in raw.get("extra_closed_days") or []),
            version=str(raw.get("version", "unversioned")),
        )

    def local(self, moment: dt.datetime) -> dt.datetime:
        """The moment in the city's time zone (naive moments are refused: they are ambiguous)."""
        if moment.tzinfo is None:
            raise ValueError("naive datetime: every time in the hub carries its offset")
        return moment.astimezone(self.tz)

    def when(self, moment: dt.datetime) -> str:
        """The moment in the city's time, its weekday and zone named: `Thursday 2026-12-03 15:00 Europe/Brussels`."""
        local = self.local(moment)
        return f"{DAY_NAMES[local.weekday()]} {local:%Y-%m-%d %H:%M} {self.timezone}"

    def holiday_name(self, day: dt.date) -> str | None:
        if day in self.extra_closed_days:
            return "closed"
        name = self._holidays.get(day)
        return str(name) if name else None

    def is_public_holiday(self, day: dt.date) -> bool:
        return self.holiday_name(day) is not None

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() in self.working_weekdays and not self.is_public_holiday(day)

    def is_open_day(self, day: dt.date) -> bool:
        return day.weekday() in self.opening_hours and not self.is_public_holiday(day)

    def is_open(self, moment: dt.datetime) -> bool:
        """True while the ContactCenter is open (office hours, public holidays excluded)."""
        local = self.local(moment)
        span = self.opening_hours.get(local.weekday())
        if span is None or self.is_public_holiday(local.date()):
            return False
        return span[0] <= local.time() < span[1]

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The date `days` working days after `start` (0 days: `start` itself, or the next working day)."""
        if days < 0:
            raise ValueError("days must be >= 0")
        day = start
        if days == 0:
            while not self.is_working_day(day):
                day += dt.timedelta(days=1)
            return day
        remaining = days
        while remaining:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def due_date(self, issued_at: dt.datetime, sla_working_days: int) -> dt.date:
        """Due date of a work order issued at `issued_at` with an SLA in working days, in the city's time zone."""
        return self.add_working_days(self.local(issued_at).date(), sla_working_days)
