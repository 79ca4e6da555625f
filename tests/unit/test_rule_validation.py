"""Broken routing rule files are refused at load time, every problem named with its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from consumers.router.rules import RuleFileError, RuleSet, district_names
from hub.settings import CONFIG_DIR

pytestmark = pytest.mark.unit

CATALOGUE = Catalogue.load(CONFIG_DIR / "categories.yaml", CONFIG_DIR / "assignees.yaml")
CALENDAR = CityCalendar.load(CONFIG_DIR / "calendar.yaml")

VALID = """\
version: "t1"
rules:
  - id: trees-at-night
    description: trees at night
    when:
      category: [green.fallen_tree]
      time: {from: "22:00", to: "06:00"}
    assign: [oncall]
  - id: waste
    description: waste
    when:
      category: ["waste.*"]
      district: [Brustem]
    assign: "@category_default"
  - id: fallback
    description: the rest
    assign: [contact_center_triage]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routing_rules.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(tmp_path: Path, text: str, **kwargs: object) -> list[str]:
    with pytest.raises(RuleFileError) as info:
        RuleSet.load(_write(tmp_path, text), CATALOGUE, CALENDAR, **kwargs)  # type: ignore[arg-type]
    return info.value.errors


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[occurrence - 1]


def assert_one_error(errors: list[str], line: int, *fragments: str) -> None:
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"routing_rules.yaml:{line}: "), errors[0]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_the_valid_template_loads(tmp_path: Path) -> None:
    rules = RuleSet.load(_write(tmp_path, VALID), CATALOGUE, CALENDAR)
    assert rules.version == "t1"
    assert [r.id for r in rules.rules] == ["trees-at-night", "waste", "fallback"]
    assert rules.source.endswith("routing_rules.yaml")


def test_unknown_category(tmp_path: Path) -> None:
    text = VALID.replace("[green.fallen_tree]", "[green.fallen_trees]")
    assert_one_error(
        errors_of(tmp_path, text), line_of(text, "fallen_trees"), "rule 'trees-at-night'", "unknown category"
    )


def test_unknown_assignee(tmp_path: Path) -> None:
    text = VALID.replace("assign: [oncall]", "assign: [on_call]")
    assert_one_error(errors_of(tmp_path, text), line_of(text, "on_call"), "unknown assignee 'on_call'")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("[green.fallen_tree]", "[]"),
        ("district: [Brustem]", "district: []"),
        ("district: [Brustem]", "keywords: []"),
        ("district: [Brustem]", "waste_fraction: []"),
        ("district: [Brustem]", "weekdays: []"),
    ],
)
def test_an_empty_list_condition_can_never_match(tmp_path: Path, old: str, new: str) -> None:
    text = VALID.replace(old, new)
    assert_one_error(errors_of(tmp_path, text), line_of(text, new), "empty list: the rule could never match")


def test_time_window_from_equals_to(tmp_path: Path) -> None:
    text = VALID.replace('to: "06:00"', 'to: "22:00"')
    assert_one_error(errors_of(tmp_path, text), line_of(text, "time:"), "time window from 22:00 to 22:00 is empty")


@pytest.mark.parametrize("bad", ['"25:00"', '"9h"', '"16:00:00"', '"noon"', "7"])
def test_bad_times(tmp_path: Path, bad: str) -> None:
    text = VALID.replace('from: "22:00"', f"from: {bad}")
    assert_one_error(errors_of(tmp_path, text), line_of(text, "time:"), "time 'from' must be a time HH:MM")


def test_time_window_needs_from_and_to(tmp_path: Path) -> None:
    text = VALID.replace(', to: "06:00"', "")
    assert_one_error(errors_of(tmp_path, text), line_of(text, "time:"), "missing field 'to'")
    text = VALID.replace('to: "06:00"', 'to: "06:00", until: "07:00"')
    assert_one_error(errors_of(tmp_path, text), line_of(text, "time:"), "unknown field 'until'")
    text = VALID.replace('time: {from: "22:00", to: "06:00"}', 'time: "22:00-06:00"')
    assert_one_error(errors_of(tmp_path, text), line_of(text, "time:"), "time must be a mapping")


def test_category_wildcard_matching_nothing(tmp_path: Path) -> None:
    text = VALID.replace('["waste.*"]', '["parking.*"]')
    assert_one_error(errors_of(tmp_path, text), line_of(text, "parking"), "wildcard 'parking.*' matches no category")


@pytest.mark.parametrize("bad", ['"wa*"', '"*"', '"waste.*.x"'])
def test_only_prefix_wildcards(tmp_path: Path, bad: str) -> None:
    text = VALID.replace('["waste.*"]', f"[{bad}]")
    assert_one_error(errors_of(tmp_path, text), line_of(text, bad), "only wildcards of the form 'prefix.*'")


def test_rule_after_a_catch_all_is_shadowed(tmp_path: Path) -> None:
    text = VALID.replace(
        "  - id: trees-at-night",
        "  - id: everything\n    description: too early\n    assign: [contact_center_triage]\n  - id: trees-at-night",
    )
    errors = errors_of(tmp_path, text)
    everything = line_of(text, "id: everything")
    expected = [
        (line_of(text, "id: trees-at-night"), "rule 'trees-at-night' can never match"),
        (line_of(text, "id: waste"), "rule 'waste' can never match"),
        (line_of(text, "id: fallback"), "rule 'fallback' can never match"),
    ]
    assert len(errors) == 3, errors
    for error, (line, fragment) in zip(errors, expected, strict=True):
        assert error.startswith(f"routing_rules.yaml:{line}: {fragment}")
        assert f"already taken by 'everything' (line {everything})" in error


def test_rule_shadowed_by_a_broader_earlier_rule(tmp_path: Path) -> None:
    text = VALID.replace(
        "  - id: fallback",
        "  - id: brustem-pmd\n"
        "    description: dead\n"
        "    when: {category: [waste.missed_collection], district: [brustem], waste_fraction: [pmd]}\n"
        "    assign: [milieudienst]\n"
        "  - id: fallback",
    )
    assert_one_error(
        errors_of(tmp_path, text),
        line_of(text, "id: brustem-pmd"),
        "rule 'brustem-pmd' can never match",
        f"'waste' (line {line_of(text, 'id: waste')})",
    )


def test_rule_shadowed_by_several_earlier_rules_together(tmp_path: Path) -> None:
    text = """\
    version: "t"
    rules:
      - {id: a, description: d, when: {category: [road.damage]}, assign: [technische_dienst]}
      - {id: b, description: d, when: {category: [sewer.blocked]}, assign: [technische_dienst]}
      - {id: both, description: d, when: {category: [road.damage, sewer.blocked]}, assign: [road_firm]}
      - {id: c, description: c, assign: [contact_center_triage]}
    """
    assert_one_error(
        errors_of(tmp_path, text),
        line_of(textwrap.dedent(text), "id: both"),
        "rule 'both' can never match",
        "'a' (line 3), 'b' (line 4)",
    )


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        # The earlier rule is narrower in a condition the later one lacks: the later one still gets reports.
        ("{category: [road.damage], keywords: [gat]}", "{category: [road.damage]}"),
        ("{category: [road.damage], weekdays: [mon]}", "{category: [road.damage], weekdays: [mon, tue]}"),
        ('{time: {from: "22:00", to: "06:00"}}', '{time: {from: "21:00", to: "23:00"}}'),
        ("{office_hours: true}", "{office_hours: false}"),
        ("{street: [Kerkstraat]}", "{street: [Kerkstraat, Dorpsstraat]}"),
    ],
)
def test_partly_overlapping_rules_are_fine(tmp_path: Path, earlier: str, later: str) -> None:
    text = f"""\
    version: "t"
    rules:
      - {{id: first, description: d, when: {earlier}, assign: [road_firm]}}
      - {{id: second, description: d, when: {later}, assign: [technische_dienst]}}
      - {{id: c, description: c, assign: [contact_center_triage]}}
    """
    rules = RuleSet.load(_write(tmp_path, text), CATALOGUE, CALENDAR)
    assert [r.id for r in rules.rules] == ["first", "second", "c"]


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("{category: [road.damage], weekdays: [mon, tue, wed, thu, fri, sat, sun]}", "{category: [road.damage]}"),
        ('{time: {from: "22:00", to: "06:00"}}', '{time: {from: "23:00", to: "01:00"}, district: [Velm]}'),
        ("{keywords: [gat, put]}", "{keywords: [put], office_hours: false}"),
        ("{street: [Kerkstraat, Dorpsstraat]}", "{street: [kerkstraat]}"),
        ("{postcode: [3800, 3803]}", "{postcode: ['3803']}"),
    ],
)
def test_subsumed_rules_are_refused(tmp_path: Path, earlier: str, later: str) -> None:
    text = f"""\
    version: "t"
    rules:
      - {{id: first, description: d, when: {earlier}, assign: [road_firm]}}
      - {{id: second, description: d, when: {later}, assign: [technische_dienst]}}
      - {{id: c, description: c, assign: [contact_center_triage]}}
    """
    assert_one_error(errors_of(tmp_path, text), 4, "rule 'second' can never match", "'first' (line 3)")


def test_office_hours_on_a_day_the_contact_center_is_closed(tmp_path: Path) -> None:
    text = VALID.replace("district: [Brustem]", "office_hours: true\n      weekdays: [sun]")
    assert_one_error(
        errors_of(tmp_path, text),
        line_of(text, "office_hours"),
        "can never match: office_hours is true but the ContactCenter is never open on sun",
    )


def test_office_hours_with_a_time_window_outside_opening_hours(tmp_path: Path) -> None:
    text = VALID.replace("district: [Brustem]", 'office_hours: true\n      time: {from: "18:00", to: "08:00"}')
    assert_one_error(errors_of(tmp_path, text), line_of(text, "office_hours"), "never open between 18:00-08:00")


def test_office_hours_with_a_window_that_overlaps_some_opening_hours_is_fine(tmp_path: Path) -> None:
    # Saturday 09:00-12:00 overlaps 11:00-13:00, even though weekdays would too; only an empty overlap is dead.
    text = VALID.replace(
        "district: [Brustem]", 'office_hours: true\n      weekdays: [sat]\n      time: {from: "11:00", to: "13:00"}'
    )
    RuleSet.load(_write(tmp_path, text), CATALOGUE, CALENDAR)
    closed_sunday = VALID.replace("district: [Brustem]", "office_hours: false\n      weekdays: [sun]")
    RuleSet.load(_write(tmp_path, closed_sunday), CATALOGUE, CALENDAR)


def test_missing_final_catch_all(tmp_path: Path) -> None:
    text = VALID.replace("  - id: fallback\n    description: the rest\n    assign: [contact_center_triage]\n", "")
    assert_one_error(
        errors_of(tmp_path, text), line_of(text, "id: waste"), "the last rule must be a catch-all without conditions"
    )


def test_no_rules_at_all(tmp_path: Path) -> None:
    assert_one_error(errors_of(tmp_path, 'version: "t"\nrules: []\n'), 2, "the last rule must be a catch-all")


def test_duplicate_rule_ids(tmp_path: Path) -> None:
    text = VALID.replace("id: waste", "id: trees-at-night")
    assert_one_error(
        errors_of(tmp_path, text),
        line_of(text, "id: trees-at-night", 2),
        "duplicate rule id 'trees-at-night'",
        f"first at line {line_of(text, 'id: trees-at-night')}",
    )


def test_a_duplicate_id_on_the_catch_all_is_reported_once(tmp_path: Path) -> None:
    text = VALID.replace("id: fallback", "id: waste")
    assert_one_error(errors_of(tmp_path, text), line_of(text, "id: waste", 2), "duplicate rule id 'waste'")


def test_unknown_condition_key(tmp_path: Path) -> None:
    text = VALID.replace("district: [Brustem]", "districts: [Brustem]")
    assert_one_error(
        errors_of(tmp_path, text), line_of(text, "districts"), "unknown condition 'districts'", "known: category"
    )


def test_unknown_rule_key(tmp_path: Path) -> None:
    text = VALID.replace("assign: [oncall]", "assignees: [oncall]")
    errors = errors_of(tmp_path, text)
    assert f"routing_rules.yaml:{line_of(text, 'assignees:')}: rule 'trees-at-night': unknown field 'assignees'" in (
        "\n".join(errors)
    )
    assert any("missing field 'assign'" in e for e in errors)


@pytest.mark.parametrize("bad", ["maandag", "monday", "mo"])
def test_bad_weekday(tmp_path: Path, bad: str) -> None:
    text = VALID.replace("district: [Brustem]", f"weekdays: [mon, {bad}]")
    assert_one_error(errors_of(tmp_path, text), line_of(text, "weekdays"), f"unknown weekday '{bad}'")


def test_duplicate_condition_key(tmp_path: Path) -> None:
    text = VALID.replace("district: [Brustem]", "district: [Brustem]\n      district: [Velm]")
    assert_one_error(errors_of(tmp_path, text), line_of(text, "district: [Velm]"), "condition 'district' appears twice")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("id: waste", "id: Waste Rule", "id must match"),
        ("id: waste", "id: unknown-category", "reserved"),
        ("description: waste", 'description: ""', "description must be a non-empty text"),
        ('assign: "@category_default"', "assign: oncall", "assign must be a list of assignee codes"),
        ('assign: "@category_default"', "assign: []", "assign is empty"),
        ('assign: "@category_default"', 'assign: ["@team"]', "unknown token '@team'"),
        ("district: [Brustem]", 'office_hours: "yes"', "office_hours must be true or false"),
        ("district: [Brustem]", "district: Brustem", "'district' must be a list"),
        ("district: [Brustem]", "postcode: [380]", "'380' is not a Belgian postcode"),
        ("district: [Brustem]", 'keywords: ["ver*zak"]', "may only end in '*'"),
        ("district: [Brustem]", 'keywords: ["*"]', "must contain letters or digits"),
        ("district: [Brustem]", "district: [Brustem, 7]", "must list non-empty strings"),
    ],
)
def test_field_values_are_checked(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = VALID.replace(old, new)
    assert_one_error(errors_of(tmp_path, text), line_of(text, new), message)


def test_description_is_required(tmp_path: Path) -> None:
    text = VALID.replace("    description: waste\n", "")
    assert_one_error(errors_of(tmp_path, text), line_of(text, "id: waste"), "missing field 'description'")


def test_when_must_be_a_mapping(tmp_path: Path) -> None:
    text = VALID.replace(
        'when:\n      category: [green.fallen_tree]\n      time: {from: "22:00", to: "06:00"}',
        "when: [green.fallen_tree]",
    )
    errors = errors_of(tmp_path, text)
    assert any(e.startswith(f"routing_rules.yaml:{line_of(text, 'when: [green')}:") for e in errors), errors
    assert any("'when' must be a mapping" in e for e in errors)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('version: "t"\nrules: {a: 1}\n', "'rules' must be a list"),
        ('version: "t"\nrules:\n  - just a string\n', "each rule must be a mapping"),
        ("rules:\n  - {id: c, description: c, assign: [oncall]}\n", "missing field 'version'"),
        ("version: 2026-11-28\nrules:\n  - {id: c, description: c, assign: [oncall]}\n", "must be a quoted string"),
        ('version: "t"\nrulez: []\n', "unknown field 'rulez'"),
        ("", "the file is empty"),
        ("- a\n- b\n", "must be a mapping at the top level"),
    ],
)
def test_file_structure_errors(tmp_path: Path, text: str, message: str) -> None:
    errors = errors_of(tmp_path, text)
    assert any(message in e for e in errors), errors
    assert all(e.startswith("routing_rules.yaml:") for e in errors)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = VALID.replace("district: [Brustem]", "district: [Brustem")
    errors = errors_of(tmp_path, text)
    assert len(errors) == 1
    assert "invalid YAML" in errors[0]
    line = int(errors[0].split(":")[1])
    assert line >= line_of(text, "[Brustem")


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = (
        VALID.replace("[green.fallen_tree]", "[green.boom]")
        .replace("assign: [oncall]", "assign: [nobody]")
        .replace("district: [Brustem]", "weekdays: [zondag]")
    )
    with pytest.raises(RuleFileError) as info:
        RuleSet.load(_write(tmp_path, text), CATALOGUE, CALENDAR)
    error = info.value
    assert len(error.errors) == 3
    assert str(error).startswith(f"3 errors in {tmp_path / 'routing_rules.yaml'}:")
    lines = [int(e.split(":")[1]) for e in error.errors]
    assert lines == [line_of(text, "green.boom"), line_of(text, "nobody"), line_of(text, "zondag")]


def test_a_broken_last_rule_does_not_also_report_a_missing_catch_all(tmp_path: Path) -> None:
    text = VALID.replace("assign: [contact_center_triage]", "assign: [triage]")
    assert_one_error(errors_of(tmp_path, text), line_of(text, "assign: [triage]"), "unknown assignee 'triage'")


def test_known_districts_catch_misspelled_districts(tmp_path: Path) -> None:
    districts = district_names(CONFIG_DIR / "districts.yaml")
    assert {"Brustem", "Velm", "Sint-Truiden"} <= districts
    assert len(districts) == 15
    RuleSet.load(_write(tmp_path, VALID), CATALOGUE, CALENDAR, known_districts=districts)
    text = VALID.replace("[Brustem]", "[Brustemm]")
    assert_one_error(
        errors_of(tmp_path, text, known_districts=districts), line_of(text, "Brustemm"), "unknown district 'Brustemm'"
    )


def test_shipped_rules_pass_the_district_check() -> None:
    districts = district_names(CONFIG_DIR / "districts.yaml")
    RuleSet.load(CONFIG_DIR / "routing_rules.yaml", CATALOGUE, CALENDAR, known_districts=districts)
