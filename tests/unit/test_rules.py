"""Routing rule evaluation: the shipped rules route the documented cases; every condition does what it says."""

from __future__ import annotations

import dataclasses
import datetime as dt
import textwrap
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import TRIAGE, Catalogue
from consumers.router.rules import UNKNOWN_CATEGORY_RULE_ID, RoutingDecision, RuleSet
from contracts.reports import ReportFiled
from hub.settings import CONFIG_DIR

pytestmark = pytest.mark.unit

RULES_FILE = CONFIG_DIR / "routing_rules.yaml"
CATALOGUE = Catalogue.load(CONFIG_DIR / "categories.yaml", CONFIG_DIR / "assignees.yaml")
CALENDAR = CityCalendar.load(CONFIG_DIR / "calendar.yaml")
RULES = RuleSet.load(RULES_FILE, CATALOGUE, CALENDAR)

# 2021-03-15 is a Monday; Brussels is UTC+1 until 2021-03-28, UTC+2 after.
MONDAY_10 = "2021-03-15T10:00:00+01:00"


def report(
    category: str = "waste.missed_collection",
    filed_at: str = MONDAY_10,
    *,
    description: str = "",
    street: str = "Kerkstraat",
    district: str = "Brustem",
    postcode: str = "3800",
    waste_fraction: str | None = None,
) -> ReportFiled:
    data: dict[str, Any] = {
        "report_id": "rep-1",
        "filed_at": filed_at,
        "channel": "web",
        "category": category,
        "waste_fraction": waste_fraction,
        "location": {"street": street, "postcode": postcode, "district": district},
        "description": description,
    }
    return ReportFiled.model_validate(data)


def rules_from(tmp_path: Path, body: str) -> RuleSet:
    path = tmp_path / "routing_rules.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return RuleSet.load(path, CATALOGUE, CALENDAR)


def line_of_rule(rule_id: str) -> int:
    lines = RULES_FILE.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if line.strip() == f"- id: {rule_id}")


# --- The shipped rules ---------------------------------------------------------------------------------------------


def test_shipped_rules_load_with_version_and_end_in_triage() -> None:
    assert RULES.version == "2026-11-28.1"
    assert RULES.rules[-1].catch_all
    assert RULES.rules[-1].assign == (TRIAGE,)
    assert len({rule.id for rule in RULES.rules}) == len(RULES.rules)
    assert all(rule.description for rule in RULES.rules)


def test_rule_lines_point_at_the_rule_in_the_file() -> None:
    for rule in RULES.rules:
        assert rule.line == line_of_rule(rule.id)
        assert RULES.rule(rule.id) is rule
    assert RULES.rule("no-such-rule") is None


def test_missed_collection_goes_to_the_waste_company_by_category_default() -> None:
    decision = RULES.evaluate(report("waste.missed_collection", waste_fraction="residual"))
    assert decision == RoutingDecision(
        rule_id="category-default",
        rule_line=line_of_rule("category-default"),
        assignees=("waste_company",),
        reasons=(
            "category 'waste.missed_collection' matches 'waste.*'",
            "@category_default of 'waste.missed_collection' is waste_company",
        ),
        category_known=True,
    )


@pytest.mark.parametrize(
    ("category", "assignees"),
    [
        ("waste.public_bin_full", ("technische_dienst",)),
        ("waste.recycling_park", ("waste_company",)),
        ("lighting.defect", ("grid_operator",)),
        ("sewer.blocked", ("technische_dienst",)),
        ("signage.damaged", ("technische_dienst",)),
        ("green.fallen_tree", ("groendienst",)),
        ("green.maintenance", ("groendienst",)),
    ],
)
def test_categories_during_office_hours_go_to_their_defaults(category: str, assignees: tuple[str, ...]) -> None:
    decision = RULES.evaluate(report(category))
    assert decision.rule_id == "category-default"
    assert decision.assignees == assignees


def test_illegal_dumping_fans_out_to_two_departments_in_order() -> None:
    decision = RULES.evaluate(report("waste.illegal_dumping", "2021-03-20T22:00:00+01:00"))
    assert decision.rule_id == "illegal-dumping-fan-out"
    assert decision.assignees == ("technische_dienst", "milieudienst")
    assert decision.reasons == ("category 'waste.illegal_dumping' is listed",)


@pytest.mark.parametrize(
    ("filed_at", "why"),
    [
        ("2021-03-15T16:00:00+01:00", "outside opening hours 09:00-16:00"),  # closing time is exclusive
        ("2021-03-15T08:59:00+01:00", "outside opening hours 09:00-16:00"),
        ("2021-03-20T12:00:00+01:00", "outside opening hours 09:00-12:00"),  # Saturday afternoon
        ("2021-03-21T10:00:00+01:00", "no opening hours on Sunday"),
        ("2021-07-21T10:00:00+02:00", "public holiday: National Day"),
        ("2021-04-05T10:00:00+02:00", "public holiday: Easter Monday"),
        ("2021-12-25T10:00:00+01:00", "public holiday: Christmas Day"),
        # 23:30 UTC on a Wednesday is 00:30 on Thursday in Brussels.
        ("2021-03-17T23:30:00+00:00", "outside opening hours 09:00-16:00"),
    ],
)
def test_fallen_tree_outside_office_hours_goes_to_oncall(filed_at: str, why: str) -> None:
    decision = RULES.evaluate(report("green.fallen_tree", filed_at))
    assert decision.rule_id == "fallen-tree-after-hours"
    assert decision.assignees == ("oncall",)
    assert decision.reasons[0] == "category 'green.fallen_tree' is listed"
    assert decision.reasons[1].startswith("filed while the ContactCenter was closed")
    assert why in decision.reasons[1]


@pytest.mark.parametrize(
    "filed_at",
    [
        "2021-03-15T09:00:00+01:00",
        "2021-03-15T15:59:59+01:00",
        "2021-03-20T11:59:00+01:00",  # Saturday morning
        "2021-03-15T08:30:00+00:00",  # 09:30 in Brussels (winter time)
        "2021-03-29T07:30:00+00:00",  # 09:30 in Brussels (summer time, the day after the switch)
    ],
)
def test_fallen_tree_during_office_hours_goes_to_the_groendienst(filed_at: str) -> None:
    decision = RULES.evaluate(report("green.fallen_tree", filed_at))
    assert decision.assignees == ("groendienst",)


def test_flooding_after_hours_goes_to_oncall_and_the_technische_dienst() -> None:
    decision = RULES.evaluate(report("sewer.blocked", "2021-03-15T20:00:00+01:00", description="Wateroverlast!"))
    assert decision.rule_id == "flooding-after-hours"
    assert decision.assignees == ("oncall", "technische_dienst")
    assert "description contains 'Wateroverlast' (keyword 'wateroverlast')" in decision.reasons


def test_blocked_drain_after_hours_without_flooding_waits_for_the_technische_dienst() -> None:
    decision = RULES.evaluate(report("sewer.blocked", "2021-03-15T20:00:00+01:00", description="Kolk zit vol bladeren"))
    assert decision.rule_id == "category-default"
    assert decision.assignees == ("technische_dienst",)


@pytest.mark.parametrize(
    ("description", "found"),
    [
        ("Gevaarlijke verzakking in het wegdek", "Gevaarlijke"),
        ("Er is een SINKHOLE ontstaan", "SINKHOLE"),
        ("De weg is verzakt na de regen", "verzakt"),
        ("Een diep\ngat in de rijweg", "diep\ngat"),
        ("wegverzakking aan de brug", "wegverzakking"),
    ],
)
def test_dangerous_road_damage_goes_to_the_road_firm(description: str, found: str) -> None:
    decision = RULES.evaluate(report("road.damage", description=description, street="Kerkstraat"))
    assert decision.rule_id == "road-damage-dangerous"
    assert decision.assignees == ("road_firm",)
    assert any(f"description contains '{found}'" in reason for reason in decision.reasons)


@pytest.mark.parametrize("description", ["ongevaarlijk putje", "een gat in het voetpad", "onverzakt"])
def test_keywords_match_whole_words_only(description: str) -> None:
    decision = RULES.evaluate(report("road.damage", description=description, street="Kerkstraat"))
    assert decision.rule_id == "road-damage-ordinary"
    assert decision.assignees == ("technische_dienst",)


@pytest.mark.parametrize("street", ["Luikersteenweg", "BRUSTEMSESTEENWEG", "Steenweg", "Tiensestraat"])
def test_road_damage_on_main_roads_goes_to_the_road_firm(street: str) -> None:
    decision = RULES.evaluate(report("road.damage", description="Put in de weg", street=street))
    assert decision.rule_id == "road-damage-main-roads"
    assert decision.assignees == ("road_firm",)


def test_ordinary_road_damage_goes_to_the_technische_dienst() -> None:
    decision = RULES.evaluate(report("road.damage", description="Put in de weg", street="Kerkstraat"))
    assert decision.rule_id == "road-damage-ordinary"
    assert decision.assignees == ("technische_dienst",)
    assert decision.reasons == ("category 'road.damage' is listed",)


def test_category_other_falls_through_to_triage() -> None:
    decision = RULES.evaluate(report("other"))
    assert decision.rule_id == "fallback-triage"
    assert decision.rule_line == line_of_rule("fallback-triage")
    assert decision.assignees == (TRIAGE,)
    assert decision.category_known
    assert decision.reasons == ("rule 'fallback-triage' has no conditions: it takes every report no earlier rule took",)


@pytest.mark.parametrize("category", ["parking.illegal", "waste.new_fraction", "x"])
def test_unknown_category_goes_to_triage_and_says_so(category: str) -> None:
    decision = RULES.evaluate(report(category))
    assert decision.rule_id == UNKNOWN_CATEGORY_RULE_ID
    assert decision.rule_line == 0
    assert decision.assignees == (TRIAGE,)
    assert not decision.category_known
    assert decision.reasons == (
        f"category '{category}' is not in the category catalogue (version 2026-11-28.1): "
        f"sent to {TRIAGE} to be classified by hand",
    )
    assert RULES.trace(report(category)) == ()


def test_decision_is_immutable() -> None:
    decision = RULES.evaluate(report())
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.rule_id = "other"  # type: ignore[misc]


def test_trace_lists_skipped_rules_with_the_failing_condition() -> None:
    steps = RULES.trace(report("road.damage", description="Put", street="Kerkstraat"))
    assert [s.rule_id for s in steps] == [
        "fallen-tree-after-hours",
        "flooding-after-hours",
        "illegal-dumping-fan-out",
        "road-damage-dangerous",
        "road-damage-main-roads",
        "road-damage-ordinary",
    ]
    assert [s.matched for s in steps] == [False] * 5 + [True]
    assert "category 'road.damage' is not one of green.fallen_tree" in steps[0].detail
    assert "description contains none of the keywords" in steps[3].detail
    assert "street 'Kerkstraat' is not one of *steenweg" in steps[4].detail


# --- Properties ----------------------------------------------------------------------------------------------------

KNOWN = sorted(CATALOGUE.categories)
KEYWORD_WORDS = ["verzakking", "Sinkhole", "wateroverlast", "gevaarlijk", "put", "boom", "diep gat", "bel 0470"]
STREETS = ["Luikersteenweg", "Kerkstraat", "Tiensestraat", "Steenweg", "Grote Markt"]

reports = st.builds(
    report,
    category=st.one_of(st.sampled_from(KNOWN), st.from_regex(r"\A[a-z]{1,8}(\.[a-z_]{1,10})?\Z")),
    filed_at=st.datetimes(
        min_value=dt.datetime(2020, 1, 1),
        max_value=dt.datetime(2030, 12, 31),
        timezones=st.sampled_from([dt.UTC, CALENDAR.tz, ZoneInfo("America/New_York")]),
    ).map(lambda moment: moment.isoformat()),
    description=st.lists(st.sampled_from(KEYWORD_WORDS), max_size=4).map(" ".join),
    street=st.sampled_from(STREETS),
    district=st.sampled_from(["Brustem", "Velm", "Zepperen"]),
    waste_fraction=st.sampled_from([None, "residual", "pmd", "glass"]),
)


@settings(max_examples=400, deadline=None)
@given(reports)
def test_every_report_gets_at_least_one_known_assignee(rep: ReportFiled) -> None:
    decision = RULES.evaluate(rep)
    assert decision.assignees
    assert len(set(decision.assignees)) == len(decision.assignees)
    assert all(code in CATALOGUE.assignees for code in decision.assignees)
    assert decision.reasons
    assert decision.category_known is (rep.category in CATALOGUE.categories)
    if decision.category_known:
        assert RULES.rule(decision.rule_id) is not None
    else:
        assert decision.assignees == (TRIAGE,)


@settings(max_examples=400, deadline=None)
@given(reports)
def test_fast_path_agrees_with_the_rule_by_rule_trace(rep: ReportFiled) -> None:
    decision = RULES.evaluate(rep)
    steps = RULES.trace(rep)
    if not decision.category_known:
        assert steps == ()
        return
    assert [s.matched for s in steps] == [False] * (len(steps) - 1) + [True]
    assert steps[-1].rule_id == decision.rule_id
    assert steps[-1].rule_line == decision.rule_line
    assert steps[-1].detail == "; ".join(decision.reasons)


# --- Each condition, on small rule files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [
        ("21:59", "catch-all"),
        ("22:00", "night"),
        ("23:59", "night"),
        ("00:00", "night"),
        ("05:59", "night"),
        ("06:00", "catch-all"),
        ("12:00", "catch-all"),
    ],
)
@pytest.mark.parametrize("quoted", [True, False])
def test_time_window_across_midnight(tmp_path: Path, local_time: str, expected: str, quoted: bool) -> None:
    q = '"' if quoted else ""
    # Unquoted 22:00 is a YAML 1.1 sexagesimal integer; the loader reads the text as written.
    rules = rules_from(
        tmp_path,
        f"""\
        version: "t"
        rules:
          - id: night
            description: night
            when: {{time: {{from: {q}22:00{q}, to: {q}06:00{q}}}}}
            assign: [oncall]
          - id: catch-all
            description: everything else
            assign: [contact_center_triage]
        """,
    )
    decision = rules.evaluate(report(filed_at=f"2021-03-16T{local_time}:00+01:00"))
    assert decision.rule_id == expected
    if expected == "night":
        assert decision.reasons[0] == f"filed at {local_time} local time, inside 22:00-06:00"


@pytest.mark.parametrize(
    ("local_time", "expected"), [("08:59", "c"), ("09:00", "day"), ("11:59", "day"), ("12:00", "c")]
)
def test_time_window_within_a_day(tmp_path: Path, local_time: str, expected: str) -> None:
    rules = rules_from(
        tmp_path,
        """\
        version: "t"
        rules:
          - {id: day, description: d, when: {time: {from: "09:00", to: "12:00"}}, assign: [oncall]}
          - {id: c, description: c, assign: [contact_center_triage]}
        """,
    )
    assert rules.evaluate(report(filed_at=f"2021-07-16T{local_time}:00+02:00")).rule_id == expected


@pytest.mark.parametrize(
    ("filed_at", "expected"),
    [
        ("2021-03-14T23:30:00+00:00", "monday"),  # Sunday in UTC, Monday 00:30 in Brussels
        ("2021-03-14T22:30:00+00:00", "c"),  # still Sunday 23:30 in Brussels
        ("2021-07-18T22:30:00+00:00", "monday"),  # summer time: Monday 00:30
        ("2021-03-15T12:00:00-05:00", "monday"),  # New York noon is Monday 18:00 in Brussels
    ],
)
def test_weekdays_use_the_local_date_in_brussels(tmp_path: Path, filed_at: str, expected: str) -> None:
    rules = rules_from(
        tmp_path,
        """\
        version: "t"
        rules:
          - {id: monday, description: d, when: {weekdays: [Mon]}, assign: [oncall]}
          - {id: c, description: c, assign: [contact_center_triage]}
        """,
    )
    decision = rules.evaluate(report(filed_at=filed_at))
    assert decision.rule_id == expected
    if expected == "monday":
        assert decision.reasons == ("filed on a Monday (mon is one of mon)",)


def test_district_postcode_street_and_fraction_conditions(tmp_path: Path) -> None:
    rules = rules_from(
        tmp_path,
        """\
        version: "t"
        rules:
          - id: velm-glass
            description: d
            when:
              district: [velm, Gorsem]
              postcode: [3806]
              waste_fraction: [Glass]
              street: ["Velmer*", Hoogstraat]
            assign: [waste_company]
          - {id: c, description: c, assign: [contact_center_triage]}
        """,
    )
    hit = report(district="Velm", postcode="3806", waste_fraction="glass", street="Velmerlaan")
    decision = rules.evaluate(hit)
    assert decision.rule_id == "velm-glass"
    assert decision.reasons == (
        "district 'Velm' is one of velm, Gorsem",
        "postcode '3806' is one of 3806",
        "waste fraction 'glass' is one of Glass",
        "street 'Velmerlaan' matches 'Velmer*'",
    )
    assert (
        rules.evaluate(report(district="VELM", postcode="3806", waste_fraction="GLASS", street="hoogstraat")).rule_id
        == "velm-glass"
    )
    for miss in (
        report(district="Brustem", postcode="3806", waste_fraction="glass", street="Velmerlaan"),
        report(district="Velm", postcode="3800", waste_fraction="glass", street="Velmerlaan"),
        report(district="Velm", postcode="3806", waste_fraction=None, street="Velmerlaan"),
        report(district="Velm", postcode="3806", waste_fraction="pmd", street="Velmerlaan"),
        report(district="Velm", postcode="3806", waste_fraction="glass", street="Kerkstraat"),
    ):
        assert rules.evaluate(miss).rule_id == "c"
    trace = rules.trace(report(district="Velm", postcode="3806", street="Velmerlaan"))
    assert "the report has no waste fraction" in trace[0].detail


def test_office_hours_true(tmp_path: Path) -> None:
    rules = rules_from(
        tmp_path,
        """\
        version: "t"
        rules:
          - {id: open, description: d, when: {office_hours: true}, assign: [burgerzaken]}
          - {id: c, description: c, assign: [contact_center_triage]}
        """,
    )
    decision = rules.evaluate(report(filed_at=MONDAY_10))
    assert decision.rule_id == "open"
    assert decision.reasons == ("filed during office hours (Monday 2021-03-15 10:00 Europe/Brussels)",)
    assert rules.evaluate(report(filed_at="2021-11-01T10:00:00+01:00")).rule_id == "c"  # All Saints' Day


def test_category_default_mixed_with_codes_is_deduplicated_in_order(tmp_path: Path) -> None:
    rules = rules_from(
        tmp_path,
        """\
        version: "t"
        rules:
          - id: mixed
            description: d
            when: {category: ["waste.*"]}
            assign: [milieudienst, "@category_default", technische_dienst, milieudienst]
          - {id: c, description: c, assign: [contact_center_triage]}
        """,
    )
    assert rules.evaluate(report("waste.illegal_dumping")).assignees == ("milieudienst", "technische_dienst")
    assert rules.evaluate(report("waste.missed_collection")).assignees == (
        "milieudienst",
        "waste_company",
        "technische_dienst",
    )
    assert rules.evaluate(report("road.damage")).assignees == (TRIAGE,)


def test_a_category_added_to_the_catalogue_but_not_to_the_rules_reaches_the_catch_all() -> None:
    # The shipped rules list category families; a brand-new family must land with a human, not be dropped.
    extended = dataclasses.replace(
        CATALOGUE,
        categories={
            **CATALOGUE.categories,
            "parking.blocked": dataclasses.replace(CATALOGUE.categories["other"], code="parking.blocked"),
        },
    )
    rules = RuleSet.load(RULES_FILE, extended, CALENDAR)
    decision = rules.evaluate(report("parking.blocked"))
    assert decision.rule_id == "fallback-triage"
    assert decision.category_known


def test_evaluation_is_fast() -> None:
    # Generous bound: the point is to catch an accidental per-report recompilation, not to benchmark.
    batch = [report(c, f) for c in KNOWN for f in (MONDAY_10, "2021-03-21T10:00:00+01:00")]
    start = time.perf_counter()
    for _ in range(200):
        for rep in batch:
            RULES.evaluate(rep)
    elapsed = time.perf_counter() - start
    assert elapsed / (200 * len(batch)) < 200e-6
