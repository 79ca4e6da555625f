import datetime as dt

from consumers.domain.calendar import CityCalendar, dutch_date


def test_a_day_in_dutch_and_a_moment_in_the_citys_time() -> None:
    assert dutch_date(dt.date(2026, 12, 3)) == "donderdag 3 december 2026"
    moment = dt.datetime(2026, 7, 5, 8, 30, tzinfo=dt.UTC)
    assert CityCalendar().when(moment) == "Sunday 2026-07-05 10:30 Europe/Brussels"
