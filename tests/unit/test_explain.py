"""`hub route --explain`: offline, readable account of where a report would go and why."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from consumers.router.explain import ExplainError, explain_report, parse_report
from consumers.router.rules import RuleSet
from consumers.router.workorders import work_order_id
from hub.settings import CONFIG_DIR

pytestmark = pytest.mark.unit

CATALOGUE = Catalogue.load(CONFIG_DIR / "categories.yaml", CONFIG_DIR / "assignees.yaml")
CALENDAR = CityCalendar.load(CONFIG_DIR / "calendar.yaml")
RULES = RuleSet.load(CONFIG_DIR / "routing_rules.yaml", CATALOGUE, CALENDAR)


def report_json(**overrides: Any) -> str:
    data: dict[str, Any] = {
        "report_id": "rep-2021-004711",
        "filed_at": "2021-03-15T09:45:12+01:00",
        "channel": "phone",
        "category": "waste.missed_collection",
        "waste_fraction": "residual",
        "location": {"street": "Stapelstraat", "house_number": "12A", "postcode": "3800", "district": "Brustem"},
        "description": "Restafval niet opgehaald, hele straat staat nog buiten.",
        "reporter": {"name": "An Peeters", "phone": "+32 11 70 14 14", "email": "an.peeters@example.be"},
    }
    data.update(overrides)
    return json.dumps(data)


def explain(text: str | bytes, issued_at: dt.datetime | None = None) -> str:
    return explain_report(text, CATALOGUE, RULES, CALENDAR, issued_at=issued_at)


def rule_line(rule_id: str) -> int:
    rule = RULES.rule(rule_id)
    assert rule is not None
    return rule.line


def test_explains_rule_reasons_and_work_order() -> None:
    out = explain(report_json())
    assert "Report rep-2021-004711 via phone: category waste.missed_collection" in out
    assert "Filed Monday 2021-03-15 09:45 Europe/Brussels (ContactCenter open)" in out
    assert "Rules version 2026-11-28.1" in out
    assert f"Matched rule 'category-default' (line {rule_line('category-default')})" in out
    assert "  - category 'waste.missed_collection' matches 'waste.*'" in out
    assert "  - @category_default of 'waste.missed_collection' is waste_company" in out
    assert "1 work order, issued Monday 2021-03-15 09:45 Europe/Brussels:" in out
    assert "  - waste_company: Intergemeentelijke afvalintercommunale (contractor)" in out
    assert "channel: webhook https://" in out
    assert "due: 2021-03-16 (1 working day)" in out
    assert "contact data: withheld" in out
    assert f"work order id: {work_order_id('rep-2021-004711', 'waste_company')}" in out


def test_bytes_and_str_give_the_same_explanation() -> None:
    assert explain(report_json().encode()) == explain(report_json())


def test_the_explanation_never_prints_the_reporters_personal_data() -> None:
    out = explain(report_json(description="Bel An Peeters op 0470 12 34 56"))
    for secret in ("Peeters", "+32 11 70 14 14", "an.peeters@example.be", "0470"):
        assert secret not in out


def test_lists_the_rules_that_were_skipped_and_why() -> None:
    out = explain(
        report_json(
            category="road.damage",
            description="Put",
            location={"street": "Kerkstraat", "postcode": "3800", "district": "Brustem"},
        )
    )
    assert f"skip  fallen-tree-after-hours (line {rule_line('fallen-tree-after-hours')}): " in out
    assert "category 'road.damage' is not one of green.fallen_tree" in out
    assert "skip  road-damage-main-roads" in out
    assert "street 'Kerkstraat' is not one of *steenweg" in out
    assert f"MATCH road-damage-ordinary (line {rule_line('road-damage-ordinary')})" in out
    assert "due: 2021-03-29 (10 working days)" in out


def test_fan_out_lists_every_work_order_and_its_contact_policy() -> None:
    out = explain(report_json(category="waste.illegal_dumping", waste_fraction=None))
    assert "2 work orders" in out
    assert "  - technische_dienst: Technische dienst (department)" in out
    assert "  - milieudienst: Milieudienst (department)" in out
    assert out.count("contact data: included") == 2


def test_after_hours_on_a_public_holiday() -> None:
    out = explain(report_json(category="green.fallen_tree", filed_at="2021-07-21T14:00:00+02:00"))
    assert "(ContactCenter closed, public holiday: National Day)" in out
    assert "Matched rule 'fallen-tree-after-hours'" in out
    assert "  - oncall: " in out
    assert "acknowledge within 1 h" in out
    assert "due: 2021-07-22 (1 working day)" in out


def test_unknown_category() -> None:
    out = explain(report_json(category="parking.blocked"))
    assert "category parking.blocked (not in the catalogue)" in out
    assert "No rule of the file applies (unknown-category)" in out
    assert "Rules tried" not in out
    assert "is not in the category catalogue" in out
    assert "  - contact_center_triage: ContactCenter (triage) (department)" in out
    assert "due: 2021-03-22 (5 working days)" in out


def test_report_without_contact_data() -> None:
    assert "contact data: none (the report has no contact data)" in explain(report_json(reporter=None))


def test_issued_at_changes_the_issue_time_but_not_the_due_date() -> None:
    # The SLA runs from filing (Monday 2021-03-15), however late the work order is issued.
    out = explain(report_json(), issued_at=dt.datetime(2021, 3, 19, 15, 0, tzinfo=dt.UTC))
    assert "issued Friday 2021-03-19 16:00 Europe/Brussels" in out
    assert "due: 2021-03-16" in out


def test_invalid_report_lists_every_problem() -> None:
    data = json.loads(report_json())
    data["location"]["postcode"] = "38"
    data["channel"] = "fax"
    del data["filed_at"]
    data["surprise"] = 1
    with pytest.raises(ExplainError) as info:
        explain(json.dumps(data))
    error = info.value
    assert str(error).startswith("not a valid ReportFiled message:")
    fields = [e.split(":")[0] for e in error.errors]
    assert sorted(fields) == ["channel", "filed_at", "location.postcode", "surprise"]
    assert any("'38'" in e for e in error.errors)


def test_invalid_reporter_data_is_not_echoed() -> None:
    with pytest.raises(ExplainError) as info:
        explain(report_json(reporter={"name": "An Peeters", "email": "an.peeters-at-example"}))
    assert any(e.startswith("reporter.email:") for e in info.value.errors)
    assert "an.peeters-at-example" not in str(info.value)


@pytest.mark.parametrize("text", ["", "{", "not json", b"\xff\xfe"])
def test_not_json_at_all(text: str | bytes) -> None:
    with pytest.raises(ExplainError) as info:
        explain(text)
    assert len(info.value.errors) == 1
    assert info.value.errors[0].startswith("(message): Invalid JSON: ")


def test_json_that_is_not_an_object() -> None:
    with pytest.raises(ExplainError) as info:
        explain("[]")
    assert info.value.errors == ["(message): Input should be an object"]


def test_naive_filing_time_is_refused_by_the_contract() -> None:
    with pytest.raises(ExplainError, match="filed_at"):
        parse_report(report_json(filed_at="2021-03-15T09:45:12"))


def test_explanation_agrees_with_the_router() -> None:
    for category in CATALOGUE.categories:
        text = report_json(category=category, filed_at="2021-03-20T13:00:00+01:00")
        decision = RULES.evaluate(parse_report(text))
        out = explain(text)
        assert f"Matched rule '{decision.rule_id}' (line {decision.rule_line})" in out
        for assignee in decision.assignees:
            assert f"  - {assignee}: " in out
