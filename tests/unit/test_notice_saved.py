"""What the notice saved: the estimator and the opening-hours windows it counts over."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pytest

from consumers.domain.calendar import CityCalendar
from consumers.stats.saved import BEFORE, WINDOW, hours, notice_saved, open_spans

TZ = ZoneInfo("Europe/Brussels")
CAL = CityCalendar()  # Mon-Fri 9-16, Sat 9-12, BE public holidays closed


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=TZ)  # 2 March 2026 is a Monday


def test_pre_notice_rate_projected_over_the_window_minus_what_came() -> None:
    s = notice_saved(12, 1.0, 9, 3.0)
    assert s is not None
    assert s.expected == 36
    assert s.fewer == 27
    sd = math.sqrt(9 * 12 + 9)  # Var = (3/1)^2 * 12 + 9
    assert s.low == pytest.approx(27 - 1.959964 * sd)
    assert s.high == pytest.approx(27 + 1.959964 * sd)
    assert s.text == "about 27 calls fewer than expected (95 % interval +6 to +48)"


def test_more_calls_than_expected_and_nothing_to_project() -> None:
    more = notice_saved(2, 1.0, 10, 3.0)
    assert more is not None
    assert more.fewer == -4
    assert more.text.startswith("about 4 calls more than expected")
    assert notice_saved(0, 1.0, 5, 3.0) is None  # no rate before the notice
    assert notice_saved(5, 0.0, 5, 3.0) is None
    assert notice_saved(5, 1.0, 5, 0.0) is None


def test_windows_within_opening_hours() -> None:
    # Tuesday 11:00: the hour before is 10-11, the window 11-14.
    assert open_spans(CAL, at(3, 11), BEFORE, backwards=True) == [(at(3, 10), at(3, 11))]
    assert open_spans(CAL, at(3, 11), WINDOW) == [(at(3, 11), at(3, 14))]
    # Tuesday 15:00: the window runs to closing at 16:00, then Wednesday 9-11.
    after = open_spans(CAL, at(3, 15), WINDOW)
    assert after == [(at(3, 15), at(3, 16)), (at(4, 9), at(4, 11))]
    assert hours(after) == 3
    # Monday 9:30: half an hour on Monday, half an hour on Saturday before it (Sunday is closed).
    before = open_spans(CAL, at(2, 9, 30), BEFORE, backwards=True)
    assert before == [(dt.datetime(2026, 2, 28, 11, 30, tzinfo=TZ), dt.datetime(2026, 2, 28, 12, tzinfo=TZ)),
                      (at(2, 9), at(2, 9, 30))]  # fmt: skip
    # A notice posted in the evening: the window starts at the next opening.
    assert open_spans(CAL, at(3, 20), WINDOW) == [(at(4, 9), at(4, 12))]


def test_public_holiday_is_skipped() -> None:
    easter_monday = dt.datetime(2026, 4, 6, 10, tzinfo=TZ)
    assert open_spans(CAL, easter_monday, WINDOW) == [
        (dt.datetime(2026, 4, 7, 9, tzinfo=TZ), dt.datetime(2026, 4, 7, 12, tzinfo=TZ))
    ]
