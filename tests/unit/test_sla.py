"""SLA due dates: working days in Brussels, skipping weekends and Belgian public holidays."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from consumers.router.rules import RuleSet
from consumers.router.workorders import build_work_orders
from contracts.reports import ReportFiled
from hub.settings import CONFIG_DIR

pytestmark = pytest.mark.unit

CATALOGUE = Catalogue.load(CONFIG_DIR / "categories.yaml", CONFIG_DIR / "assignees.yaml")
CALENDAR = CityCalendar.load(CONFIG_DIR / "calendar.yaml")
RULES = RuleSet.load(CONFIG_DIR / "routing_rules.yaml", CATALOGUE, CALENDAR)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def report(category: str, filed_at: str) -> ReportFiled:
    data: dict[str, Any] = {
        "report_id": "rep-sla",
        "filed_at": filed_at,
        "channel": "app",
        "category": category,
        "location": {"street": "Kerkstraat", "postcode": "3800", "district": "Aalst"},
    }
    return ReportFiled.model_validate(data)


@pytest.mark.parametrize(
    ("issued_at", "sla", "due"),
    [
        # Ordinary weeks.
        ("2021-03-15T10:00:00+01:00", 0, "2021-03-15"),  # Monday, SLA 0: the same day
        ("2021-03-18T10:00:00+01:00", 1, "2021-03-19"),  # Thursday -> Friday
        ("2021-03-19T10:00:00+01:00", 1, "2021-03-22"),  # Friday -> over the weekend to Monday
        ("2021-03-19T10:00:00+01:00", 5, "2021-03-26"),  # Friday + a working week
        ("2021-03-20T10:00:00+01:00", 0, "2021-03-22"),  # Saturday, SLA 0: the next working day
        ("2021-03-20T10:00:00+01:00", 1, "2021-03-22"),  # Saturday: Monday is the first working day after it
        ("2021-03-21T10:00:00+01:00", 1, "2021-03-22"),  # Sunday
        # Belgian public holidays.
        ("2021-07-20T10:00:00+02:00", 1, "2021-07-22"),  # National Day, Wednesday 21 July
        ("2021-07-21T10:00:00+02:00", 0, "2021-07-22"),  # issued on the holiday itself
        ("2021-07-16T10:00:00+02:00", 5, "2021-07-26"),  # a week around National Day
        ("2021-04-02T10:00:00+02:00", 1, "2021-04-06"),  # Good Friday is a working day; Easter Monday 5 April not
        ("2021-04-01T10:00:00+02:00", 3, "2021-04-07"),
        ("2021-03-29T10:00:00+02:00", 10, "2021-04-13"),  # road damage SLA across Easter
        ("2021-05-12T10:00:00+02:00", 1, "2021-05-14"),  # Ascension Day, Thursday 13 May
        ("2021-05-21T10:00:00+02:00", 1, "2021-05-25"),  # Whit Monday, 24 May
        ("2021-10-29T10:00:00+02:00", 1, "2021-11-02"),  # All Saints' Day, Monday 1 November
        ("2021-11-10T10:00:00+01:00", 1, "2021-11-12"),  # Armistice Day, Thursday 11 November
        # Christmas and New Year.
        ("2021-12-24T10:00:00+01:00", 1, "2021-12-27"),  # Christmas on a Saturday: no substitute day in Belgium
        ("2022-12-23T10:00:00+01:00", 1, "2022-12-26"),  # Christmas on a Sunday; 26 December is a working day
        ("2021-12-23T10:00:00+01:00", 2, "2021-12-27"),
        ("2020-12-31T10:00:00+01:00", 1, "2021-01-04"),  # New Year's Day on a Friday
        ("2021-12-31T10:00:00+01:00", 1, "2022-01-03"),
        ("2020-12-24T10:00:00+01:00", 1, "2020-12-28"),  # Christmas Day on a Friday
    ],
)
def test_due_date(issued_at: str, sla: int, due: str) -> None:
    assert CALENDAR.due_date(at(issued_at), sla) == dt.date.fromisoformat(due)


@pytest.mark.parametrize(
    ("issued_at", "sla", "due", "utc_date_would_give"),
    [
        # 23:30 UTC is already the next day in Brussels (00:30 in winter, 01:30 in summer).
        ("2021-03-14T23:30:00+00:00", 1, "2021-03-16", "2021-03-15"),  # Sunday UTC, Monday in Brussels
        ("2021-07-21T22:30:00+00:00", 1, "2021-07-23", "2021-07-22"),  # summer time, Thursday in Brussels
        ("2021-12-30T23:30:00+00:00", 1, "2022-01-03", "2021-12-31"),  # 31 December in Brussels
        # Last days of summer time: Friday 00:30 in Brussels, then the weekend and All Saints' Day.
        ("2021-10-28T22:30:00+00:00", 1, "2021-11-02", "2021-10-29"),
        ("2021-03-15T18:30:00-05:00", 1, "2021-03-17", "2021-03-16"),  # an offset from elsewhere
    ],
)
def test_due_date_counts_from_the_local_date_in_brussels(
    issued_at: str, sla: int, due: str, utc_date_would_give: str
) -> None:
    moment = at(issued_at)
    assert CALENDAR.due_date(moment, sla) == dt.date.fromisoformat(due)
    # The naive mistake (taking the UTC date) gives another day: the case really tests the time zone.
    assert CALENDAR.add_working_days(moment.astimezone(dt.UTC).date(), sla) == dt.date.fromisoformat(
        utc_date_would_give
    )


def test_naive_issue_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        CALENDAR.due_date(dt.datetime(2021, 3, 15, 10), 1)


@pytest.mark.parametrize(
    ("category", "issued_at", "due", "sla"),
    [
        ("waste.missed_collection", "2021-07-20T10:00:00+02:00", "2021-07-22", 1),
        ("lighting.defect", "2021-07-16T10:00:00+02:00", "2021-07-26", 5),
        ("road.damage", "2021-03-29T10:00:00+02:00", "2021-04-13", 10),
        ("green.fallen_tree", "2021-12-24T23:30:00+00:00", "2021-12-27", 1),  # issued on Christmas Day in Brussels
        ("waste.illegal_dumping", "2020-12-31T10:00:00+01:00", "2021-01-06", 3),
        ("no.such_category", "2021-03-19T10:00:00+01:00", "2021-03-26", 5),  # unknown: SLA of `other`
    ],
)
def test_work_orders_carry_the_category_sla_and_due_date(category: str, issued_at: str, due: str, sla: int) -> None:
    rep = report(category, issued_at)
    orders = build_work_orders(rep, RULES.evaluate(rep), CATALOGUE, CALENDAR, at(issued_at), RULES.version)
    assert orders
    for order in orders:
        assert order.sla_working_days == sla
        assert order.due_date == dt.date.fromisoformat(due)


def test_due_date_counts_from_filing_not_from_issue() -> None:
    # A report filed on Friday evening but issued on Monday morning (router down over the weekend): the
    # citizen's SLA started on Friday, and a replay must give the same due date as live processing.
    rep = report("waste.missed_collection", "2021-03-19T20:00:00+01:00")
    orders = build_work_orders(
        rep, RULES.evaluate(rep), CATALOGUE, CALENDAR, at("2021-03-22T08:00:00+01:00"), RULES.version
    )
    assert orders[0].due_date == dt.date(2021, 3, 22)


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 12, 31), timezones=st.just(dt.UTC)
    ),
    sla=st.integers(min_value=0, max_value=20),
)
def test_due_date_is_a_working_day_exactly_sla_working_days_later(moment: dt.datetime, sla: int) -> None:
    due = CALENDAR.due_date(moment, sla)
    start = CALENDAR.local(moment).date()
    assert CALENDAR.is_working_day(due)
    assert due >= start
    working_days_after_start = sum(
        CALENDAR.is_working_day(start + dt.timedelta(days=n)) for n in range(1, (due - start).days + 1)
    )
    if sla == 0:
        assert working_days_after_start == (0 if CALENDAR.is_working_day(start) else 1)
    else:
        assert working_days_after_start == sla
