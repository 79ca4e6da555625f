"""Work orders: deterministic ids, one per assignee, and contact data only where the data policy allows it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from consumers.router.rules import RoutingDecision, RuleSet
from consumers.router.workorders import (
    REDACTED,
    build_work_orders,
    contact_for,
    description_for,
    work_order_id,
)
from contracts.base import ReporterContact
from contracts.reports import ReportFiled
from contracts.workorders import WorkOrderIssued
from hub.settings import CONFIG_DIR

pytestmark = pytest.mark.unit

CATALOGUE = Catalogue.load(CONFIG_DIR / "categories.yaml", CONFIG_DIR / "assignees.yaml")
CALENDAR = CityCalendar.load(CONFIG_DIR / "calendar.yaml")
RULES = RuleSet.load(CONFIG_DIR / "routing_rules.yaml", CATALOGUE, CALENDAR)
ISSUED = dt.datetime(2021, 3, 15, 9, 45, 13, tzinfo=dt.UTC)
REPORTER = {"name": "An Peeters", "phone": "+32 11 70 14 14", "email": "an.peeters@example.be"}
CONTRACTORS = [a for a in CATALOGUE.assignees.values() if a.kind == "contractor"]
DEPARTMENTS = [a for a in CATALOGUE.assignees.values() if a.kind == "department"]


def report(
    category: str = "waste.missed_collection",
    *,
    description: str = "Restafval niet opgehaald, hele straat staat nog buiten.",
    reporter: dict[str, Any] | None = REPORTER,
    report_id: str = "rep-2021-004711",
) -> ReportFiled:
    data: dict[str, Any] = {
        "report_id": report_id,
        "filed_at": "2021-03-15T10:45:12+01:00",
        "channel": "phone",
        "category": category,
        "waste_fraction": "residual" if category.startswith("waste.") else None,
        "location": {"street": "Stapelstraat", "house_number": "12A", "postcode": "3800", "district": "Brustem"},
        "description": description,
        "reporter": reporter,
        "call_id": "call-2021-000123",
    }
    return ReportFiled.model_validate(data)


def orders_for(rep: ReportFiled, decision: RoutingDecision | None = None) -> list[WorkOrderIssued]:
    return build_work_orders(rep, decision or RULES.evaluate(rep), CATALOGUE, CALENDAR, ISSUED, RULES.version)


def decision_for(*assignees: str) -> RoutingDecision:
    return RoutingDecision("test-rule", 7, assignees, ("test",), True)


# --- Ids -----------------------------------------------------------------------------------------------------------


def test_work_order_id_is_pinned() -> None:
    # Pinned: a changed namespace or input format would re-issue every open work order under a new id.
    assert work_order_id("rep-2021-004711", "waste_company") == "wo-8ddf78fa454b5078ad7e3e44d75a817e"


def test_work_order_id_is_a_uuid5_and_deterministic() -> None:
    first = work_order_id("rep-1", "groendienst")
    assert re.fullmatch(r"wo-[0-9a-f]{32}", first)
    assert uuid.UUID(first[3:]).version == 5
    assert work_order_id("rep-1", "groendienst") == first


def test_work_order_id_differs_per_report_and_per_assignee() -> None:
    ids = {work_order_id(r, a) for r in ("rep-1", "rep-2", "rep-10") for a in ("oncall", "road_firm")}
    assert len(ids) == 6


def test_replaying_a_report_gives_identical_work_orders() -> None:
    assert orders_for(report("waste.illegal_dumping")) == orders_for(report("waste.illegal_dumping"))


# --- Data policy ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("assignee", CONTRACTORS, ids=lambda a: a.code)
def test_contractors_never_get_contact_data(assignee: Any) -> None:
    assert contact_for(assignee, report()) is None


@pytest.mark.parametrize("assignee", DEPARTMENTS, ids=lambda a: a.code)
def test_departments_get_contact_data(assignee: Any) -> None:
    assert contact_for(assignee, report()) == ReporterContact.model_validate(REPORTER)


def test_no_contact_data_when_the_reporter_gave_none() -> None:
    department = CATALOGUE.assignee("technische_dienst")
    assert contact_for(department, report(reporter=None)) is None
    assert contact_for(department, report(reporter={})) is None


def test_policy_follows_the_flag_not_the_kind() -> None:
    # A city may grant one contractor access by contract: the catalogue flag decides.
    trusted = dataclasses.replace(CATALOGUE.assignee("road_firm"), may_see_contact=True)
    assert contact_for(trusted, report()) is not None
    muted = dataclasses.replace(CATALOGUE.assignee("groendienst"), may_see_contact=False)
    assert contact_for(muted, report()) is None


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("Bel me op 0470 12 34 56 aub.", f"Bel me op {REDACTED} aub."),
        ("GSM: 0470/12.34.56", f"GSM: {REDACTED}"),
        ("Tel +32 11 70 14 14 of 0032470123456", f"Tel {REDACTED} of {REDACTED}"),
        ("Mail an.peeters@example.be of an@x.be", f"Mail {REDACTED} of {REDACTED}"),
        ("Groeten, An Peeters", f"Groeten, {REDACTED}"),
        ("mevrouw peeters belde", f"mevrouw {REDACTED} belde"),
        # Not personal data: house numbers, postcodes, dates and times stay.
        ("Stapelstraat 12A, 3800 Sint-Truiden", "Stapelstraat 12A, 3800 Sint-Truiden"),
        ("Sinds 05/03/2021 10u niet opgehaald", "Sinds 05/03/2021 10u niet opgehaald"),
        ("Sinds 05/03/2021 0470123456", f"Sinds 05/03/2021 {REDACTED}"),
        ("Al 3 weken, 2 zakken", "Al 3 weken, 2 zakken"),
    ],
)
def test_contractors_get_the_description_without_contact_data(description: str, expected: str) -> None:
    rep = report(description=description)
    assert description_for(CATALOGUE.assignee("waste_company"), rep) == expected
    assert description_for(CATALOGUE.assignee("milieudienst"), rep) == description


def test_short_name_parts_are_not_masked_as_words() -> None:
    # "Van" and "De" are also ordinary Dutch words: masking them would mangle the description.
    rep = report(description="De zak van de buren", reporter={"name": "Jan De Van"})
    assert description_for(CATALOGUE.assignee("waste_company"), rep) == "De zak van de buren"


# --- Building work orders ------------------------------------------------------------------------------------------


def test_one_work_order_per_assignee_of_the_decision() -> None:
    rep = report("waste.illegal_dumping")
    orders = orders_for(rep)
    assert [o.assignee for o in orders] == ["technische_dienst", "milieudienst"]
    assert len({o.work_order_id for o in orders}) == 2
    for order in orders:
        assert order.work_order_id == work_order_id(rep.report_id, order.assignee)
        assert order.report_id == rep.report_id
        assert order.rule_id == "illegal-dumping-fan-out"
        assert order.rules_version == RULES.version
        assert order.reporter == rep.reporter
        assert order.description == rep.description


def test_mixed_fan_out_applies_the_policy_per_assignee() -> None:
    rep = report(description="Bel An Peeters op 0470 12 34 56")
    orders = orders_for(rep, decision_for("waste_company", "milieudienst"))
    by_assignee = {o.assignee: o for o in orders}
    assert by_assignee["waste_company"].reporter is None
    assert "0470" not in by_assignee["waste_company"].description
    assert "Peeters" not in by_assignee["waste_company"].description
    assert by_assignee["milieudienst"].reporter == rep.reporter
    assert by_assignee["milieudienst"].description == rep.description
    assert {o.rule_id for o in orders} == {"test-rule"}


def test_contractor_work_order_on_the_wire_has_no_personal_data() -> None:
    rep = report("lighting.defect", description="Paal 12 is stuk. Mail me: an.peeters@example.be")
    (order,) = orders_for(rep)
    assert order.assignee == "grid_operator"
    wire = order.model_dump_json()
    for value in REPORTER.values():
        assert value not in wire
    assert WorkOrderIssued.model_validate_json(wire) == order


def test_work_order_copies_the_report_and_the_category() -> None:
    rep = report("waste.missed_collection")
    (order,) = orders_for(rep)
    assert order.category == "waste.missed_collection"
    assert order.category_name_nl == "Afval niet opgehaald"
    assert order.category_name_en == "Waste not collected"
    assert order.waste_fraction == "residual"
    assert order.location == rep.location
    assert order.issued_at == ISSUED
    assert order.sla_working_days == 1
    assert order.due_date == dt.date(2021, 3, 16)


def test_unknown_category_keeps_its_code_and_uses_the_fallback_sla() -> None:
    rep = report("parking.wrong")
    decision = RULES.evaluate(rep)
    (order,) = orders_for(rep, decision)
    assert order.assignee == "contact_center_triage"
    assert order.category == "parking.wrong"
    assert order.category_name_nl == "Onbekende categorie (parking.wrong)"
    assert order.category_name_en == "Unknown category (parking.wrong)"
    assert order.sla_working_days == CATALOGUE.categories["other"].sla_working_days
    assert order.rule_id == "unknown-category"
    assert order.reporter == rep.reporter  # triage must be able to call the citizen back


def test_unknown_assignee_in_a_decision_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="ghost"):
        orders_for(report(), decision_for("ghost"))


def test_naive_issue_time_is_refused() -> None:
    rep = report()
    with pytest.raises(ValueError, match="naive"):
        build_work_orders(rep, RULES.evaluate(rep), CATALOGUE, CALENDAR, dt.datetime(2021, 3, 15), "v")


names = st.from_regex(r"\A[A-Z][a-z]{3,9} [A-Z][a-z]{3,11}\Z")
phones = st.from_regex(r"\A0[1-9][0-9]{2} [0-9]{2} [0-9]{2} [0-9]{2}\Z")
emails = st.from_regex(r"\A[a-z]{2,8}\.[a-z]{2,8}@[a-z]{3,8}\.be\Z")


@settings(max_examples=200, deadline=None)
@given(
    name=names,
    phone=phones,
    email=emails,
    assignees=st.lists(st.sampled_from(sorted(CATALOGUE.assignees)), min_size=1, max_size=4, unique=True),
    category=st.sampled_from(sorted(CATALOGUE.categories)),
)
def test_no_assignee_without_permission_ever_sees_contact_data(
    name: str, phone: str, email: str, assignees: list[str], category: str
) -> None:
    rep = report(
        category,
        description=f"Ik ben {name}, bel {phone} of mail {email}.",
        reporter={"name": name, "phone": phone, "email": email},
    )
    orders = orders_for(rep, decision_for(*assignees))
    assert [o.assignee for o in orders] == assignees
    for order in orders:
        if CATALOGUE.assignee(order.assignee).may_see_contact:
            assert order.reporter == rep.reporter
        else:
            assert order.reporter is None
            for secret in (name, phone, email, *name.split()):
                assert secret not in order.description
