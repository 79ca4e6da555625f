"""The same period last year (pure): a running period is compared up to today, 29 February maps to 28 February,
and a figure's change is absolute, relative where that means something."""

from __future__ import annotations

import datetime as dt

from consumers.stats.comparison import Change, change, compare_counts, same_period_last_year
from consumers.stats.queries import Period

D = dt.date


def test_a_past_year_is_compared_with_the_whole_year_before() -> None:
    assert same_period_last_year(Period.year(2022), D(2026, 12, 4)) == (Period.year(2022), Period.year(2021))


def test_this_year_so_far_is_compared_with_the_same_days_last_year() -> None:
    now, before = same_period_last_year(Period.year(2026), D(2026, 12, 4))
    assert now == Period(D(2026, 1, 1), D(2026, 12, 4))
    assert before == Period(D(2025, 1, 1), D(2025, 12, 4))


def test_a_range_ending_today_or_not_yet_begun_is_kept_as_it_is() -> None:
    week = Period(D(2026, 11, 28), D(2026, 12, 4))
    assert same_period_last_year(week, D(2026, 12, 4)) == (week, Period(D(2025, 11, 28), D(2025, 12, 4)))
    later = Period(D(2027, 1, 1), D(2027, 1, 31))
    assert same_period_last_year(later, D(2026, 12, 4))[0] == later


def test_29_february_maps_to_28_february() -> None:
    leap = Period(D(2024, 2, 1), D(2024, 2, 29))
    assert same_period_last_year(leap, D(2026, 1, 1))[1] == Period(D(2023, 2, 1), D(2023, 2, 28))


def test_a_change_is_absolute_and_relative_but_a_rate_only_in_points() -> None:
    assert change("calls", 120, 100) == Change("calls", 120, 100, 20, 20.0)
    assert change("calls", 5, 0) == Change("calls", 5, 0, 5, None)
    assert change("first_contact_resolution_pct", 61.5, 58.0, rate=True) == Change(
        "first_contact_resolution_pct", 61.5, 58.0, 3.5, None
    )
    assert change("sla_compliance_pct", None, 80.0, rate=True) == Change("sla_compliance_pct", None, 80.0, None, None)


def test_counts_of_either_period_make_a_row_and_the_biggest_comes_first() -> None:
    rows = compare_counts({"Brustem": 3, "Velm": 7}, {"Velm": 2, "Zepperen": 4})
    assert rows == [
        Change("Velm", 7, 2, 5, 250.0),
        Change("Brustem", 3, 0, 3, None),
        Change("Zepperen", 0, 4, -4, -100.0),
    ]
