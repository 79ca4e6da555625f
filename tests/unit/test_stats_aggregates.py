"""Which counters a call, report, work order or spike increments: local time, opening hours, DST, ISO weeks."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from consumers.stats.aggregates import (
    CALLS,
    HOURLY_DIMS,
    INSIDE,
    NOT_NOTED,
    OUTSIDE,
    PERIOD_KINDS,
    CounterKey,
    Tally,
    call_deltas,
    call_fact,
    period_label,
    period_start,
    report_deltas,
    report_fact,
    workorder_fact,
)
from consumers.stats.cli import resolve_period
from consumers.stats.queries import Period
from contracts import CallLogged, ReportFiled, WorkOrderIssued
from hub.settings import Settings
from hub.simulator import load_calendar

pytestmark = pytest.mark.unit

CALENDAR = load_calendar(Settings().domain.calendar_file)
TZ = ZoneInfo("Europe/Brussels")
UTC = dt.UTC


def brussels(*args: int, fold: int = 0) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ, fold=fold)  # type: ignore[misc]


def call(started_at: dt.datetime, **overrides: object) -> CallLogged:
    fields: dict[str, object] = {
        "call_id": "call-1",
        "started_at": started_at,
        "duration_seconds": 184,
        "topic": "appointment",
        "subject": "civil_affairs",
        "outcome": "appointment_made",
        "district": "Brustem",
        "agent_id": "agent-3",
    }
    return CallLogged.model_validate(fields | overrides)


def hours_value(c: CallLogged) -> str:
    """The `hours` dimension value every grain of the call gets (they must agree)."""
    values = {key.dim_value for key, _, _ in call_deltas(call_fact(c, CALENDAR), TZ) if key.dim_key == "hours"}
    assert len(values) == 1
    return values.pop()


def buckets(c: CallLogged) -> dict[str, dt.datetime]:
    fact = call_fact(c, CALENDAR)
    return {key.period_kind: key.period_start for key, _, _ in call_deltas(fact, TZ) if key.dim_key == "all"}


# --- opening hours ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (brussels(2021, 3, 15, 8, 59, 59), OUTSIDE),  # Monday, a second before opening
        (brussels(2021, 3, 15, 9, 0), INSIDE),  # opening time is inside
        (brussels(2021, 3, 15, 15, 59), INSIDE),
        (brussels(2021, 3, 15, 16, 0), OUTSIDE),  # closing time is outside: [open, close)
        (brussels(2021, 3, 20, 11, 59), INSIDE),  # Saturday morning
        (brussels(2021, 3, 20, 12, 0), OUTSIDE),  # Saturday closes at noon
        (brussels(2021, 3, 21, 10, 0), OUTSIDE),  # Sunday
        (brussels(2021, 4, 5, 10, 0), OUTSIDE),  # Easter Monday
        (brussels(2021, 5, 13, 10, 0), OUTSIDE),  # Ascension Day, a Thursday
        (brussels(2021, 7, 21, 10, 0), OUTSIDE),  # National Day, a Wednesday
        (brussels(2021, 7, 22, 10, 0), INSIDE),  # the day after
    ],
)
def test_opening_hours_flag_follows_the_calendar(moment: dt.datetime, expected: str) -> None:
    assert hours_value(call(moment)) == expected
    assert call_fact(call(moment), CALENDAR).outside_opening_hours is (expected == OUTSIDE)


def test_opening_hours_are_judged_in_brussels_time_whatever_the_offset_sent() -> None:
    # 08:30 UTC on a winter Monday is 09:30 in Brussels: open. The same instant written in UTC or +01:00.
    assert hours_value(call(dt.datetime(2021, 3, 15, 8, 30, tzinfo=UTC))) == INSIDE
    assert hours_value(call(dt.datetime(2021, 3, 15, 7, 59, tzinfo=UTC))) == OUTSIDE
    fact = call_fact(call(dt.datetime(2021, 3, 15, 8, 30, tzinfo=UTC)), CALENDAR)
    assert (fact.local_date, fact.local_hour, fact.weekday) == (dt.date(2021, 3, 15), 9, 0)
    assert fact.started_at == dt.datetime(2021, 3, 15, 8, 30, tzinfo=UTC)


def test_the_first_hour_after_the_spring_dst_switch_opens_at_nine_local() -> None:
    # Monday 29 March 2021, CEST (+02:00): 09:00 local is 07:00 UTC.
    assert hours_value(call(dt.datetime(2021, 3, 29, 7, 0, tzinfo=UTC))) == INSIDE
    assert hours_value(call(dt.datetime(2021, 3, 29, 6, 59, tzinfo=UTC))) == OUTSIDE


# --- periods and DST -------------------------------------------------------------------------------------


def test_buckets_are_utc_instants_of_local_period_starts() -> None:
    got = buckets(call(brussels(2021, 3, 17, 10, 42)))  # a Wednesday in winter time
    assert got == {
        "hour": dt.datetime(2021, 3, 17, 9, 0, tzinfo=UTC),
        "day": dt.datetime(2021, 3, 16, 23, 0, tzinfo=UTC),
        "week": dt.datetime(2021, 3, 14, 23, 0, tzinfo=UTC),  # Monday 15 March, local midnight
        "month": dt.datetime(2021, 2, 28, 23, 0, tzinfo=UTC),
        "year": dt.datetime(2020, 12, 31, 23, 0, tzinfo=UTC),
    }


def test_spring_forward_day_has_23_hours_and_one_day_bucket() -> None:
    before = call(brussels(2021, 3, 28, 1, 30))  # CET, 00:30 UTC
    after = call(brussels(2021, 3, 28, 3, 30))  # CEST, 01:30 UTC: 02:xx does not exist that night
    assert buckets(before)["day"] == buckets(after)["day"] == dt.datetime(2021, 3, 27, 23, 0, tzinfo=UTC)
    assert buckets(before)["hour"] == dt.datetime(2021, 3, 28, 0, 0, tzinfo=UTC)
    assert buckets(after)["hour"] == dt.datetime(2021, 3, 28, 1, 0, tzinfo=UTC)
    assert period_label("hour", buckets(after)["hour"], TZ) == "2021-03-28 03:00"
    next_day = buckets(call(brussels(2021, 3, 29, 0, 10)))["day"]
    assert next_day - buckets(after)["day"] == dt.timedelta(hours=23)
    assert call_fact(after, CALENDAR).local_hour == 3


def test_fall_back_day_keeps_the_two_0200_hours_apart() -> None:
    first = call(brussels(2021, 10, 31, 2, 30, fold=0))  # CEST, 00:30 UTC
    second = call(brussels(2021, 10, 31, 2, 30, fold=1))  # CET, 01:30 UTC
    assert first.started_at.utcoffset() != second.started_at.utcoffset()
    h1, h2 = buckets(first)["hour"], buckets(second)["hour"]
    assert (h1, h2) == (dt.datetime(2021, 10, 31, 0, 0, tzinfo=UTC), dt.datetime(2021, 10, 31, 1, 0, tzinfo=UTC))
    assert period_label("hour", h1, TZ) == "2021-10-31 02:00+02"
    assert period_label("hour", h2, TZ) == "2021-10-31 02:00+01"
    assert period_label("hour", buckets(call(brussels(2021, 10, 31, 9, 0)))["hour"], TZ) == "2021-10-31 09:00"
    assert buckets(first)["day"] == buckets(second)["day"] == dt.datetime(2021, 10, 30, 22, 0, tzinfo=UTC)
    next_day = buckets(call(brussels(2021, 11, 1, 0, 10)))["day"]
    assert next_day - buckets(first)["day"] == dt.timedelta(hours=25)
    assert call_fact(first, CALENDAR).local_hour == call_fact(second, CALENDAR).local_hour == 2


def test_a_call_just_before_local_midnight_counts_on_its_local_day() -> None:
    late = call(dt.datetime(2021, 6, 30, 21, 59, tzinfo=UTC))  # 23:59 CEST, 30 June
    early = call(dt.datetime(2021, 6, 30, 22, 0, tzinfo=UTC))  # 00:00 CEST, 1 July
    assert call_fact(late, CALENDAR).local_date == dt.date(2021, 6, 30)
    assert call_fact(early, CALENDAR).local_date == dt.date(2021, 7, 1)
    assert period_label("month", buckets(late)["month"], TZ) == "2021-06"
    assert period_label("month", buckets(early)["month"], TZ) == "2021-07"


@pytest.mark.parametrize(
    ("day", "week_label", "monday"),
    [
        (dt.date(2021, 1, 1), "2020-W53", dt.date(2020, 12, 28)),  # Friday: ISO week 53 of 2020
        (dt.date(2021, 1, 3), "2020-W53", dt.date(2020, 12, 28)),  # Sunday ends that week
        (dt.date(2021, 1, 4), "2021-W01", dt.date(2021, 1, 4)),
        (dt.date(2021, 3, 15), "2021-W11", dt.date(2021, 3, 15)),
        (dt.date(2021, 12, 31), "2021-W52", dt.date(2021, 12, 27)),
        (dt.date(2024, 12, 30), "2025-W01", dt.date(2024, 12, 30)),  # Monday in December, week 1 of next year
    ],
)
def test_weeks_are_iso_weeks_starting_on_monday(day: dt.date, week_label: str, monday: dt.date) -> None:
    start = period_start("week", dt.datetime.combine(day, dt.time(12), tzinfo=TZ), TZ)
    assert start.astimezone(TZ).date() == monday
    assert start.astimezone(TZ).time() == dt.time(0)
    assert period_label("week", start, TZ) == week_label


# --- the deltas ------------------------------------------------------------------------------------------


def test_a_call_increments_each_grain_and_dimension_once() -> None:
    deltas = list(call_deltas(call_fact(call(brussels(2021, 3, 15, 10, 0)), CALENDAR), TZ))
    keys = [key for key, _, _ in deltas]
    assert len(keys) == len(set(keys)), "a counter twice for one call"
    per_kind = Counter(key.period_kind for key in keys)
    assert per_kind["hour"] == len(HOURLY_DIMS[CALLS])
    assert all(per_kind[kind] == 8 for kind in PERIOD_KINDS if kind != "hour")
    values = {(key.period_kind, key.dim_key): key.dim_value for key in keys}
    assert values["day", "all"] == ""
    assert values["day", "topic_outcome"] == "appointment|appointment_made"
    assert values["month", "subject_outcome"] == "civil_affairs|appointment_made"
    assert values["year", "district"] == "Brustem"
    assert all(n == 1 and seconds == 184 for _, n, seconds in deltas)


def test_handle_time_of_abandoned_calls_is_not_summed_and_missing_district_is_named() -> None:
    c = call(brussels(2021, 3, 15, 10, 0), outcome="abandoned", duration_seconds=12, district=None)
    deltas = list(call_deltas(call_fact(c, CALENDAR), TZ))
    assert all(seconds == 0 for _, _, seconds in deltas)
    assert {key.dim_value for key, _, _ in deltas if key.dim_key == "district"} == {NOT_NOTED}


def test_tally_sums_per_key_and_yields_rows_in_primary_key_order() -> None:
    tally = Tally()
    t = dt.datetime(2021, 3, 15, tzinfo=UTC)
    b = CounterKey("calls", "day", "topic", t, "b")
    a = CounterKey("calls", "day", "topic", t, "a")
    tally.add(b, 1, 10)
    tally.add(a, 1, 5)
    tally.add(b, 2, 20)
    rows = tally.rows()
    assert [(r["dim_value"], r["n"], r["sum_seconds"]) for r in rows] == [("a", 1, 5), ("b", 3, 30)]
    assert len(tally) == 2


def report(**overrides: object) -> ReportFiled:
    fields: dict[str, object] = {
        "report_id": "rep-1",
        "filed_at": "2021-03-20T23:30:00+01:00",
        "channel": "app",
        "category": "lighting.defect",
        "location": {"street": "Stapelstraat", "house_number": "12A", "postcode": "3800", "district": "Velm"},
        "description": "Lamp voor het huis van Testpersoon Alfa brandt niet",
        "reporter": {"name": "Testpersoon Alfa", "phone": "+32 470 00 00 00", "email": "alfa@example.be"},
    }
    return ReportFiled.model_validate(fields | overrides)


def test_a_report_fact_keeps_where_and_what_but_no_personal_data() -> None:
    fact = report_fact(report(), CALENDAR)
    stored = " ".join(str(v) for v in dataclasses.asdict(fact).values())
    for secret in ("Testpersoon", "+32 470", "alfa@example.be", "12A", "Stapelstraat", "Lamp"):
        assert secret not in stored
    assert (fact.category, fact.district, fact.channel) == ("lighting.defect", "Velm", "app")
    assert fact.outside_opening_hours  # Saturday night
    keys = {(k.period_kind, k.dim_key, k.dim_value) for k, _, _ in report_deltas(fact, TZ)}
    assert ("day", "category_district", "lighting.defect|Velm") in keys
    assert ("hour", "hours", OUTSIDE) in keys


def test_a_work_order_fact_leaves_the_reporter_behind() -> None:
    order = WorkOrderIssued.model_validate(
        WorkOrderIssued.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
        | {"reporter": {"name": "Testpersoon Bravo", "phone": "+32 470 11 11 11"}}
    )
    fact = workorder_fact(order, CALENDAR)
    assert "Testpersoon" not in repr(fact)
    assert "+32" not in repr(fact)
    assert fact.local_date == dt.date(2021, 3, 15)
    assert fact.due_date == dt.date(2021, 3, 16)


# --- periods of the read side ----------------------------------------------------------------------------


def test_periods_read_the_coarsest_grain_that_tiles_them() -> None:
    assert Period.year(2021).totals_grain() == "year"
    assert Period(dt.date(2021, 3, 1), dt.date(2021, 5, 31)).totals_grain() == "month"
    assert Period(dt.date(2021, 3, 15), dt.date(2021, 3, 21)).totals_grain() == "day"
    assert Period(dt.date(2021, 3, 15), dt.date(2021, 3, 21)).tiled_by("week")
    assert not Period.year(2021).tiled_by("week")
    weeks = Period.year(2021).buckets("week", TZ)
    assert period_label("week", weeks[0], TZ) == "2020-W53"
    assert period_label("week", weeks[-1], TZ) == "2021-W52"
    assert len(Period.year(2021).buckets("day", TZ)) == 365
    assert len(Period.year(2021).buckets("month", TZ)) == 12
    with pytest.raises(ValueError, match="before it starts"):
        Period(dt.date(2021, 3, 2), dt.date(2021, 3, 1))


def test_cli_period_options() -> None:
    today = dt.date(2026, 11, 29)
    assert resolve_period(2021, None, None, today) == Period.year(2021)
    assert resolve_period(None, None, None, today) == Period.year(2026)
    assert resolve_period(None, dt.date(2021, 3, 15), None, today) == Period(dt.date(2021, 3, 15), today)
    assert resolve_period(None, dt.date(2021, 3, 15), dt.date(2021, 3, 21), today).label == "2021-03-15..2021-03-21"
    with pytest.raises(ValueError, match="not both"):
        resolve_period(2021, dt.date(2021, 3, 15), None, today)
    with pytest.raises(ValueError, match="needs --from"):
        resolve_period(None, None, dt.date(2021, 3, 15), today)
