"""The traffic simulator: exact totals, opening hours, rhythm, linked reports, incidents, determinism, file format."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from statistics import mean
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from consumers.domain.calendar import CityCalendar
from contracts import CallLogged, CallOutcome, CallTopic, ReportChannel, ReportFiled
from hub.simulator import (
    PlantedIncident,
    Scenario,
    SimEvent,
    TrafficProfile,
    describe,
    expected_calls,
    load_calendar,
    load_profile,
    read_jsonl,
    read_scenario,
    simulate,
    simulate_year,
    write_jsonl,
)
from hub.simulator.jsonl import SimulationFileError
from hub.simulator.profile import DEFAULT_PROFILE_PATH
from hub.simulator.publisher import amqp_message
from infra.cloudevents import PREFIX

pytestmark = pytest.mark.unit

TZ = dt.UTC  # only for building aware bounds; comparisons are by instant
MONDAY = dt.date(2021, 3, 15)


@pytest.fixture(scope="module")
def calendar() -> CityCalendar:
    return load_calendar()


@pytest.fixture(scope="module")
def profile() -> TrafficProfile:
    return load_profile()


@pytest.fixture(scope="module")
def year(profile: TrafficProfile, calendar: CityCalendar) -> Scenario:
    return simulate_year(2021, profile=profile, calendar=calendar)


@pytest.fixture(scope="module")
def fortnight(profile: TrafficProfile, calendar: CityCalendar) -> Scenario:
    return simulate(start=MONDAY, days=14, seed=7, incidents=3, profile=profile, calendar=calendar)


def calls_of(scenario: Scenario) -> list[CallLogged]:
    return scenario.calls()


def reports_of(scenario: Scenario) -> list[ReportFiled]:
    return scenario.reports()


def local_midnight(day: dt.date, calendar: CityCalendar) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=calendar.tz)


def fingerprint(events: Iterable[SimEvent]) -> list[tuple[str, str, str, str]]:
    return [(e.event_id, e.at.isoformat(), e.routing_key, e.message.model_dump_json()) for e in events]


# ---------------------------------------------------------------------------------------------- totals


def test_a_simulated_2021_has_exactly_the_30080_calls_of_the_seed_text(year: Scenario) -> None:
    calls = calls_of(year)
    assert len(calls) == 30_080
    assert {c.started_at.year for c in calls} == {2021}
    assert year.counts()["calls"] == 30_080


def test_about_a_hundred_calls_per_opening_day(year: Scenario, calendar: CityCalendar) -> None:
    per_day = Counter(c.started_at.date() for c in calls_of(year))
    weekdays = [n for day, n in per_day.items() if day.weekday() < 5]
    assert 95 <= mean(weekdays) <= 125
    # Saturday mornings are three hours, so roughly three sevenths of a weekday.
    saturdays = [n for day, n in per_day.items() if day.weekday() == 5]
    assert 0.3 * mean(weekdays) <= mean(saturdays) <= 0.6 * mean(weekdays)
    # Every opening day of the year has calls; none other has.
    opening_days = {
        d for d in (dt.date(2021, 1, 1) + dt.timedelta(days=i) for i in range(365)) if calendar.is_open_day(d)
    }
    assert set(per_day) == opening_days


def test_reports_are_proportionate_and_about_40_percent_not_by_phone(year: Scenario) -> None:
    reports = reports_of(year)
    channels = Counter(r.channel for r in reports)
    assert 0.2 * 30_080 <= len(reports) <= 0.35 * 30_080
    not_by_phone = 1 - channels[ReportChannel.PHONE] / len(reports)
    assert 0.35 <= not_by_phone <= 0.47
    assert channels[ReportChannel.WEB] > channels[ReportChannel.APP] > channels[ReportChannel.EMAIL] > 0


def test_topic_mix_puts_appointments_first(year: Scenario) -> None:
    counts = year.counts()
    topics = {t: counts[f"calls.topic.{t.value}"] for t in CallTopic}
    assert sum(topics.values()) == 30_080
    assert topics[CallTopic.APPOINTMENT] == max(topics.values())
    assert counts["calls.subject.civil_affairs"] > counts["calls.subject.recycling_park"] > 0
    for subject in ("environmental_permit", "criminal_record_extract", "general_information"):
        assert counts[f"calls.subject.{subject}"] > 0
    # A few abandoned calls, not many.
    assert 0.01 <= counts["calls.outcome.abandoned"] / 30_080 <= 0.08


# ------------------------------------------------------------------------------------ opening hours


def test_every_call_starts_and_ends_while_the_contact_center_is_open(year: Scenario, calendar: CityCalendar) -> None:
    for event in year.events:
        if isinstance(event.message, CallLogged):
            call = event.message
            ended = call.started_at + dt.timedelta(seconds=call.duration_seconds)
            assert calendar.is_open(call.started_at), call
            assert calendar.is_open(ended), call
            assert event.at == ended  # a call is logged when it ends


def test_no_calls_on_sundays_and_public_holidays_but_online_reports_keep_coming(
    year: Scenario, calendar: CityCalendar
) -> None:
    call_days = {c.started_at.date() for c in calls_of(year)}
    closed = [
        dt.date(2021, 4, 5),
        dt.date(2021, 5, 13),
        dt.date(2021, 5, 24),
        dt.date(2021, 7, 21),
        dt.date(2021, 11, 1),
    ]
    assert all(calendar.is_public_holiday(day) for day in closed)
    assert not call_days & set(closed)
    assert not any(day.weekday() == 6 for day in call_days)
    online = [r for r in reports_of(year) if r.channel is not ReportChannel.PHONE]
    assert any(r.filed_at.weekday() == 6 for r in online)
    assert any(calendar.is_public_holiday(r.filed_at.date()) for r in online)
    assert any(not calendar.is_open(r.filed_at) for r in online)
    # ... and the evening is busier than the small hours.
    hours = Counter(r.filed_at.hour for r in online)
    assert hours[20] > 5 * hours[3]


def test_saturday_calls_only_in_the_morning(year: Scenario) -> None:
    saturday_hours = {c.started_at.hour for c in calls_of(year) if c.started_at.weekday() == 5}
    assert saturday_hours == {9, 10, 11}


# ------------------------------------------------------------------------------------------- rhythm


def test_monday_morning_is_the_busiest(year: Scenario) -> None:
    calls = calls_of(year)
    per_weekday_hour: Counter[tuple[int, int]] = Counter((c.started_at.weekday(), c.started_at.hour) for c in calls)
    days_per_weekday = Counter(d.weekday() for d in {c.started_at.date() for c in calls})

    def rate(weekday: int, hour: int) -> float:
        return per_weekday_hour[(weekday, hour)] / days_per_weekday[weekday]

    busiest = max(((w, h) for w in range(5) for h in range(9, 16)), key=lambda wh: rate(*wh))
    assert busiest[0] == 0
    assert busiest[1] in (9, 10, 11)
    assert rate(0, 10) > 1.4 * rate(4, 10)  # Monday vs Friday morning
    assert rate(2, 10) > 1.5 * rate(2, 15)  # morning vs the last hour
    # Peaks of several calls a minute: some minute of the year has at least four calls starting.
    per_minute = Counter(c.started_at.replace(second=0) for c in calls)
    assert max(per_minute.values()) >= 4


def test_the_day_after_a_holiday_gets_the_held_back_calls(year: Scenario, calendar: CityCalendar) -> None:
    per_day = Counter(c.started_at.date() for c in calls_of(year))
    after = [d for d in per_day if calendar.is_public_holiday(d - dt.timedelta(days=1))]
    # Easter Monday, Ascension, Whit Monday, 21 July, All Saints, Armistice (and New Year on a Friday).
    assert len(after) >= 6
    usual = {w: mean(n for d, n in per_day.items() if d.weekday() == w and d not in after) for w in range(6)}
    # One day is a noisy sample (about +-10 calls); the average over all of them shows the boost.
    ratio = mean(per_day[d] / usual[d.weekday()] for d in after)
    assert ratio > 1.1


# ----------------------------------------------------------------------------------- linked reports


def test_phone_reports_and_their_calls_point_at_each_other(year: Scenario) -> None:
    calls = {c.call_id: c for c in calls_of(year)}
    reports = {r.report_id: r for r in reports_of(year)}
    filed = [c for c in calls.values() if c.outcome is CallOutcome.REPORT_FILED]
    assert filed
    for call in calls.values():
        if call.outcome is CallOutcome.REPORT_FILED:
            assert call.topic is CallTopic.REPORT
            assert call.related_report_id is not None
            report = reports[call.related_report_id]
            assert report.channel is ReportChannel.PHONE
            assert report.call_id == call.call_id
            assert report.category == call.subject
            assert report.location.district == call.district
            assert call.started_at < report.filed_at < call.started_at + dt.timedelta(seconds=call.duration_seconds)
        else:
            assert call.related_report_id is None
        if call.topic is CallTopic.REPORT:
            assert call.district is not None
        if call.outcome is CallOutcome.ABANDONED:
            assert call.duration_seconds == 0
            assert call.agent_id is None
        else:
            assert call.duration_seconds >= 20
            assert call.agent_id in {f"agent-{n}" for n in range(1, 9)}
    phone = [r for r in reports.values() if r.channel is ReportChannel.PHONE]
    assert len(phone) == len(filed)
    assert all(r.call_id is None for r in reports.values() if r.channel is not ReportChannel.PHONE)


def test_reports_name_real_districts_streets_and_fractions(year: Scenario, profile: TrafficProfile) -> None:
    categories = set(profile.reports.categories)
    assert categories == {
        "waste.missed_collection",
        "waste.illegal_dumping",
        "waste.public_bin_full",
        "lighting.defect",
        "road.damage",
        "sewer.blocked",
        "green.fallen_tree",
        "other",
    }
    seen: Counter[str] = Counter()
    for report in reports_of(year):
        district = profile.districts[report.location.district]
        assert report.location.street in district.streets
        assert report.location.postcode == district.postcode
        assert report.category in categories
        if report.category == "waste.missed_collection":
            assert report.waste_fraction in {"residual", "pmd", "paper", "organic", "glass"}
        else:
            assert report.waste_fraction is None
        assert report.description
        assert "{" not in report.description
        assert "None" not in report.description
        seen[report.category] += 1
    assert set(seen) == categories


def test_reporter_contact_data_is_obviously_fake(year: Scenario, profile: TrafficProfile) -> None:
    reports = reports_of(year)
    with_contact = [r.reporter for r in reports if r.reporter is not None]
    assert 0.6 * len(reports) <= len(with_contact) < len(reports)
    surnames = set(profile.reporters.last_names)
    for reporter in with_contact:
        assert reporter.name is not None
        assert reporter.name.split()[-1] in surnames
        assert reporter.email is None or reporter.email.endswith("@example.be")
        assert reporter.phone is None or reporter.phone.startswith("+32 400 00 ")
        assert reporter.email or reporter.phone


# --------------------------------------------------------------------------------- contract validity


def test_every_message_is_valid_against_its_contract(year: Scenario) -> None:
    for event in year.events:
        model = type(event.message)
        assert event.routing_key == model.routing_key
        again = model.model_validate_json(event.message.model_dump_json())
        assert again == event.message
        time = event.message.filed_at if isinstance(event.message, ReportFiled) else None
        if time is not None:
            assert event.at == time
        assert event.at.tzinfo is not None
        assert event.at.utcoffset() in (dt.timedelta(hours=1), dt.timedelta(hours=2))


def test_ids_are_unique_and_events_are_in_time_order(year: Scenario) -> None:
    ids = [e.event_id for e in year.events]
    assert len(set(ids)) == len(ids)
    assert len({e.subject for e in year.events}) == len(ids)
    assert all(a.at <= b.at for a, b in zip(year.events, year.events[1:], strict=False))


@pytest.mark.parametrize(
    ("start", "days"),
    [
        (MONDAY, 7),
        (dt.date(2021, 3, 27), 3),  # spring DST change: a 23-hour Sunday
        (dt.date(2021, 10, 30), 3),  # autumn DST change: a 25-hour Sunday
        (dt.date(2021, 12, 31), 1),  # the last day of the year
    ],
)
def test_event_times_lie_strictly_inside_the_range(
    start: dt.date, days: int, profile: TrafficProfile, calendar: CityCalendar
) -> None:
    scenario = simulate(start=start, days=days, incidents=1, profile=profile, calendar=calendar)
    begin, end = local_midnight(start, calendar), local_midnight(start + dt.timedelta(days=days), calendar)
    assert scenario.events
    for event in scenario.events:
        assert begin <= event.at < end
        if isinstance(event.message, CallLogged):
            assert begin <= event.message.started_at
    for incident in scenario.incidents:
        assert begin <= incident.started_at < incident.ended_at < end


# --------------------------------------------------------------------------------------- determinism


def test_same_seed_and_arguments_give_identical_events_and_ids(year: Scenario, calendar: CityCalendar) -> None:
    again = simulate_year(2021, calendar=calendar)
    assert fingerprint(again.events) == fingerprint(year.events)
    assert again.incidents == year.incidents


def test_another_seed_or_range_gives_other_traffic_and_other_ids(fortnight: Scenario, profile: TrafficProfile) -> None:
    other_seed = simulate(start=MONDAY, days=14, seed=8, incidents=3, profile=profile)
    other_range = simulate(start=MONDAY, days=13, seed=7, incidents=3, profile=profile)
    ids = {e.event_id for e in fortnight.events}
    for other in (other_seed, other_range):
        assert not ids & {e.event_id for e in other.events}
        assert not {e.subject for e in fortnight.events} & {e.subject for e in other.events}
    assert fingerprint(other_seed.events)[:50] != fingerprint(fortnight.events)[:50]


# ---------------------------------------------------------------------------------- other ranges


def test_a_week_scales_with_the_daily_rate(profile: TrafficProfile, calendar: CityCalendar) -> None:
    week = simulate(start=MONDAY, days=7, profile=profile, calendar=calendar)
    calls = len(calls_of(week))
    assert calls == expected_calls(profile, calendar, MONDAY, 7)
    assert 5 * 95 + 30 <= calls <= 5 * 130 + 60  # five weekdays and a Saturday morning
    assert week.incidents == []  # a week's share of 12 incidents a year rounds to none


def test_calls_total_is_exact_even_when_incidents_are_larger(profile: TrafficProfile, calendar: CityCalendar) -> None:
    # A Monday: the missed-collection incident alone would bring more calls than asked for.
    tiny = simulate(start=MONDAY, days=1, calls_total=5, incidents=2, profile=profile, calendar=calendar)
    assert len(calls_of(tiny)) == 5
    assert sum(i.calls for i in tiny.incidents) <= 5
    reports = {r.report_id for r in reports_of(tiny)}
    for incident in tiny.incidents:
        assert set(incident.report_ids) <= reports
    exact = simulate(start=MONDAY, days=3, calls_total=1234, incidents=2, profile=profile, calendar=calendar)
    assert len(calls_of(exact)) == 1234


def test_a_closed_day_has_online_reports_only(profile: TrafficProfile, calendar: CityCalendar) -> None:
    sunday = dt.date(2021, 3, 21)
    scenario = simulate(start=sunday, days=1, profile=profile, calendar=calendar)
    assert not calls_of(scenario)
    assert scenario.events
    assert all(r.channel is not ReportChannel.PHONE for r in reports_of(scenario))
    with pytest.raises(ValueError, match="closed"):
        simulate(start=sunday, days=1, calls_total=10, profile=profile, calendar=calendar)


# ------------------------------------------------------------------------------------------ incidents


def incident_key_of(message: CallLogged | ReportFiled) -> tuple[str, str | None]:
    if isinstance(message, CallLogged):
        return message.subject, message.district
    return message.category, message.location.district


def test_incidents_are_part_of_the_totals_and_their_messages_match(year: Scenario) -> None:
    assert len(year.incidents) == 12
    kinds = Counter(i.kind for i in year.incidents)
    assert set(kinds) == {"missed_collection", "street_dark", "storm_drains", "storm_trees"}
    by_subject = {e.subject: e for e in year.events}
    for incident in year.incidents:
        assert len(incident.call_ids) == incident.calls
        assert len(incident.report_ids) == incident.reports
        assert incident.reports >= 10
        for message_id in (*incident.call_ids, *incident.report_ids):
            event = by_subject[message_id]
            assert incident_key_of(event.message) == (incident.category, incident.district)
            assert incident.started_at <= event.at <= incident.ended_at + dt.timedelta(hours=1)
            if isinstance(event.message, ReportFiled):
                assert event.message.location.street in incident.streets
                assert event.message.waste_fraction == incident.waste_fraction
    assert year.counts()["incidents.calls"] == sum(i.calls for i in year.incidents) > 0


def test_incident_traffic_during_closed_hours_comes_by_web_and_app_only(
    year: Scenario, profile: TrafficProfile, calendar: CityCalendar
) -> None:
    by_subject = {e.subject: e.message for e in year.events}
    for incident in year.incidents:
        for report_id in incident.report_ids:
            report = by_subject[report_id]
            assert isinstance(report, ReportFiled)
            if report.channel is not ReportChannel.PHONE:
                assert report.channel in (ReportChannel.WEB, ReportChannel.APP)
            if not calendar.is_open(report.filed_at):
                assert report.channel is not ReportChannel.PHONE
    # On a Sunday the ContactCenter is closed all day: incidents (those that can happen on a Sunday) still
    # show up, through the web form and the app only.
    sunday = simulate(start=dt.date(2021, 3, 21), days=1, incidents=4, profile=profile, calendar=calendar)
    assert sunday.incidents
    for incident in sunday.incidents:
        assert incident.kind != "missed_collection"  # no collection rounds on Sundays
        assert incident.calls == 0
        assert incident.reports >= 10
    assert not sunday.calls()


def test_incident_bursts_stand_out_in_the_counts_per_hour(year: Scenario) -> None:
    """The signal the spike detector looks for: one category in one district, many in an hour."""
    incident_ids = {i for incident in year.incidents for i in (*incident.call_ids, *incident.report_ids)}
    per_hour: defaultdict[tuple[str, str | None], Counter[dt.datetime]] = defaultdict(Counter)
    background: Counter[tuple[tuple[str, str | None], dt.datetime]] = Counter()
    for event in year.events:
        if isinstance(event.message, CallLogged) and event.message.topic is not CallTopic.REPORT:
            continue
        key = incident_key_of(event.message)
        hour = event.at.astimezone(dt.UTC).replace(minute=0, second=0)
        per_hour[key][hour] += 1
        if event.subject not in incident_ids:
            background[(key, hour)] += 1
    busiest_background_hour = max(background.values())
    assert busiest_background_hour <= 10
    for incident in year.incidents:
        counts = per_hour[(incident.category, incident.district)]
        start = incident.started_at.astimezone(dt.UTC).replace(minute=0, second=0)
        window = [counts[start + dt.timedelta(hours=h)] for h in range(3)]
        assert max(window) >= 10, incident
        if incident.broadcast_at is not None and incident.calls + incident.reports >= 30:
            assert max(window) > busiest_background_hour, incident


def test_traffic_drops_after_the_broadcast(year: Scenario) -> None:
    at = {e.subject: e.at for e in year.events}
    broadcast = [i for i in year.incidents if i.broadcast_at is not None]
    assert len(broadcast) >= 8
    ratios: list[float] = []
    for incident in broadcast:
        assert incident.broadcast_at is not None
        times = [at[i] for i in (*incident.call_ids, *incident.report_ids)]
        before = [t for t in times if t < incident.broadcast_at]
        after = [t for t in times if t >= incident.broadcast_at]
        burst_hours = (incident.broadcast_at - incident.started_at) / dt.timedelta(hours=1)
        tail_hours = (incident.ended_at - incident.broadcast_at) / dt.timedelta(hours=1)
        assert 1 <= burst_hours <= 2  # tens within one to two hours ...
        assert len(before) >= 15
        ratio = (len(after) / tail_hours) / (len(before) / burst_hours)
        assert ratio < 0.5  # ... then the rate drops clearly
        ratios.append(ratio)
    assert mean(ratios) < 0.25  # typically to a tenth


# ----------------------------------------------------------------------------------------- the file


@pytest.mark.parametrize("name", ["traffic.jsonl", "traffic.jsonl.gz"])
def test_jsonl_round_trip_keeps_events_ids_and_incidents(fortnight: Scenario, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    assert write_jsonl(path, fortnight) == len(fortnight.events)
    assert fingerprint(read_jsonl(path)) == fingerprint(fortnight.events)
    again = read_scenario(path)
    assert again.incidents == fortnight.incidents
    assert [e.message for e in again.events] == [e.message for e in fortnight.events]
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        first_event = next(json.loads(line) for line in lines if '"record": "event"' in line)
    assert first_event["type"] == fortnight.events[0].message.ce_type
    assert first_event["data"] == fortnight.events[0].message.model_dump(mode="json")


def test_jsonl_of_plain_events_and_bad_lines(fortnight: Scenario, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    assert write_jsonl(path, iter(fortnight.events[:10])) == 10
    assert fingerprint(read_jsonl(path)) == fingerprint(fortnight.events[:10])
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    record["data"]["duration_seconds"] = -1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(SimulationFileError, match="line 1"):
        read_jsonl(bad)


# -------------------------------------------------------------------------------- summary and profile


def test_counts_and_describe_summarise_the_scenario(year: Scenario) -> None:
    counts = year.counts()
    assert counts["calls"] + counts["reports"] == len(year.events)
    assert sum(v for k, v in counts.items() if k.startswith("reports.channel.")) == counts["reports"]
    assert sum(v for k, v in counts.items() if k.startswith("calls.outcome.")) == 30_080
    text = describe(year)
    assert "calls 30,080" in text
    assert "waste.missed_collection" in text
    assert "incidents 12" in text
    for incident in year.incidents:
        assert incident.incident_key in text


def test_a_profile_that_contradicts_the_contracts_is_refused() -> None:
    raw = yaml.safe_load(DEFAULT_PROFILE_PATH.read_text(encoding="utf-8"))
    districts = yaml.safe_load(DEFAULT_PROFILE_PATH.with_name("districts.yaml").read_text(encoding="utf-8"))
    raw["districts"] = {n: {"name": n, **spec} for n, spec in districts["districts"].items()}
    TrafficProfile.model_validate(raw)  # as shipped: valid

    wrong_outcome = json.loads(json.dumps(raw))
    wrong_outcome["topics"]["appointment"]["outcomes"]["report_filed"] = 0.1
    wrong_template = json.loads(json.dumps(raw))
    wrong_template["reports"]["categories"]["other"]["templates"] = ["Iets in de {straat}"]
    wrong_category = json.loads(json.dumps(raw))
    wrong_category["incidents"]["kinds"]["storm_trees"]["category"] = "green.storm"
    for broken, message in (
        (wrong_outcome, "report_filed"),
        (wrong_template, "straat"),
        (wrong_category, "green.storm"),
    ):
        with pytest.raises(ValidationError, match=message):
            TrafficProfile.model_validate(broken)


def test_the_amqp_message_carries_cloudevents_attributes(fortnight: Scenario) -> None:
    event = next(e for e in fortnight.events if isinstance(e.message, ReportFiled))
    report = event.message
    assert isinstance(report, ReportFiled)
    message = amqp_message(event)
    assert message.headers[f"{PREFIX}id"] == event.event_id == message.message_id
    assert message.headers[f"{PREFIX}type"] == ReportFiled.ce_type == message.type
    assert message.headers[f"{PREFIX}source"] == "/city/simulator" == message.app_id
    assert message.headers[f"{PREFIX}time"] == event.at.isoformat()
    assert message.headers[f"{PREFIX}subject"] == report.report_id
    assert message.headers[f"{PREFIX}specversion"] == "1.0"
    assert message.content_type == "application/json"
    assert message.delivery_mode == 2
    assert ReportFiled.model_validate_json(message.body) == report


def test_planted_incident_key_matches_the_spike_detector_format() -> None:
    moment = dt.datetime(2021, 3, 15, 9, tzinfo=TZ)
    incident = PlantedIncident(
        incident_id="x",
        kind="missed_collection",
        category="waste.missed_collection",
        waste_fraction="residual",
        district="Brustem",
        streets=("Stapelstraat",),
        started_at=moment,
        broadcast_at=None,
        ended_at=moment,
        calls=0,
        reports=0,
    )
    assert incident.incident_key == "waste.missed_collection.residual|district:Brustem"
