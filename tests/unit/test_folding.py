"""Which reports fold into a live incident's order, and why (consumers/router/folding.py, pure)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from consumers.domain.catalogue import Catalogue, CatalogueError
from consumers.router.explain import explain_report
from consumers.router.folding import (
    Candidate,
    Linked,
    LiveIncident,
    choose,
    details,
    incident_order_id,
    timer_update_due,
    update_due,
    verdict,
)
from hub.bootstrap import Domain
from hub.settings import Settings

pytestmark = pytest.mark.unit

DOMAIN = Domain.load(Settings())
T0 = dt.datetime(2021, 3, 15, 8, 0, tzinfo=dt.UTC)
INCIDENT = LiveIncident(
    incident_id="inc-waste.missed_collection-brustem-2021-03-15T0900",
    category="waste.missed_collection",
    district="Brustem",
    waste_fraction="paper",
    first_seen_at=T0,
    resolved_at=T0 + dt.timedelta(hours=3),
    streets=("Brustemsesteenweg", "Kerkstraat"),
)
RULE = DOMAIN.catalogue.category("waste.missed_collection").fold  # type: ignore[union-attr]


def candidate(**changes: object) -> Candidate:
    values: dict[str, object] = {
        "report_id": "rep-1",
        "category": "waste.missed_collection",
        "district": "Brustem",
        "street": "Brustemsesteenweg",
        "house_number": "12",
        "lat": None,
        "lon": None,
        "waste_fraction": "paper",
        "description": "Papier niet opgehaald.",
        "filed_at": T0 + dt.timedelta(minutes=30),
    }
    values.update(changes)
    return Candidate(**values)  # type: ignore[arg-type]


def distance(district: str, streets: object, street: str | None, point: object) -> float | None:
    assert DOMAIN.places is not None
    return DOMAIN.places.distance_to_streets_m(district, streets, street=street, point=point)  # type: ignore[arg-type]


def test_a_report_of_the_incident_folds() -> None:
    decided = verdict(candidate(), INCIDENT, RULE, distance)
    assert decided.fold
    assert "0 m from its streets" in decided.reason


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"district": "Aalst"}, "category and district"),
        ({"filed_at": T0 - dt.timedelta(minutes=1)}, "outside incident"),
        ({"filed_at": T0 + dt.timedelta(hours=3, minutes=1)}, "outside incident"),
        ({"waste_fraction": "glass"}, "waste fraction glass"),
        ({"description": "Container KAPOT gereden"}, "'kapot'"),
        ({"street": "Ordingenstraat"}, "891 m from the incident's streets (more than 800 m)"),
        ({"street": None, "lat": 50.8064, "lon": 5.2385}, "its point is"),
    ],
)
def test_a_report_that_is_something_else_keeps_its_own_order(changes: dict[str, object], why: str) -> None:
    decided = verdict(candidate(**changes), INCIDENT, RULE, distance)
    assert not decided.fold
    assert why in decided.reason


def test_a_category_that_does_not_opt_in_never_folds() -> None:
    rule = DOMAIN.catalogue.category("road.damage").fold  # type: ignore[union-attr]
    assert rule is None
    assert not verdict(candidate(), INCIDENT, rule, distance).fold


def test_a_street_without_coordinates_folds_on_the_other_rules() -> None:
    decided = verdict(candidate(street="Luikersteenweg"), INCIDENT, RULE, distance)
    assert decided.fold
    assert "m from" not in decided.reason


def test_an_open_incident_spans_everything_after_its_start_and_the_latest_one_is_chosen() -> None:
    live = LiveIncident(**{**INCIDENT.__dict__, "resolved_at": None})
    later = LiveIncident(**{**INCIDENT.__dict__, "incident_id": "inc-2", "first_seen_at": T0 + dt.timedelta(hours=1)})
    assert live.spans(T0 + dt.timedelta(days=3))
    assert choose([live, later], candidate(filed_at=T0 + dt.timedelta(hours=2))) is later
    assert choose([live, later], candidate(filed_at=T0 + dt.timedelta(minutes=5))) is live
    assert choose([live], candidate(category="lighting.defect")) is None


def test_ids_are_the_same_everywhere_and_updates_are_throttled_on_event_time() -> None:
    assert incident_order_id(INCIDENT.incident_id, "waste_company") == incident_order_id(
        INCIDENT.incident_id, "waste_company"
    )
    assert incident_order_id(INCIDENT.incident_id, "waste_company") != incident_order_id(
        INCIDENT.incident_id, "technische_dienst"
    )
    interval = dt.timedelta(minutes=30)
    assert not update_due(T0, T0 + dt.timedelta(minutes=29), interval)
    assert update_due(T0, T0 + dt.timedelta(minutes=30), interval)


def test_the_timer_sends_a_due_update_only_for_a_live_order() -> None:
    interval = dt.timedelta(minutes=30)
    sent, last = T0, T0 + dt.timedelta(minutes=10)  # the order at 08:00, a report joined at 08:10, nothing since
    assert not timer_update_due(sent, last, T0 + dt.timedelta(minutes=29), interval), "within the interval"
    assert timer_update_due(sent, last, T0 + dt.timedelta(minutes=30), interval)
    assert timer_update_due(sent, last, T0 + dt.timedelta(minutes=55), interval), "a timer round late"
    # A replay: the order's reports are years old on the wall clock; its messages alone decide, as live.
    assert not timer_update_due(sent, last, T0 + dt.timedelta(days=600), interval)


def test_the_order_lists_streets_and_addresses_with_their_counts() -> None:
    links = [
        Linked("rep-3", "Kerkstraat", "4", T0 + dt.timedelta(minutes=9)),
        Linked("rep-1", "Brustemsesteenweg", "12", T0 + dt.timedelta(minutes=1), merged_work_order_id="wo-b"),
        Linked("rep-2", "Brustemsesteenweg", "12", T0 + dt.timedelta(minutes=5), merged_work_order_id="wo-a"),
    ]
    d = details(INCIDENT, links)
    assert d.reports == 3
    assert [(s.street, s.reports) for s in d.streets] == [("Brustemsesteenweg", 2), ("Kerkstraat", 1)]
    assert [(a.street, a.house_number, a.reports) for a in d.addresses] == [
        ("Brustemsesteenweg", "12", 2),
        ("Kerkstraat", "4", 1),
    ]
    assert d.report_ids == ["rep-1", "rep-2", "rep-3"]
    assert (d.first_report_at, d.last_report_at) == (links[1].filed_at, links[0].filed_at)
    assert d.merged_work_order_ids == ["wo-a", "wo-b"]


def test_a_wrong_fold_rule_is_an_error_naming_the_line(tmp_path: Path) -> None:
    source = Path(Settings().domain.categories_file).read_text(encoding="utf-8")
    bad = source.replace("fold: {max_distance_m: 800,", "fold: {max_distance_m: -5,", 1)
    path = tmp_path / "categories.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"categories.yaml:\d+: .*fold.max_distance_m must be a positive"):
        Catalogue.load(path, Settings().domain.assignees_file)


def test_route_explain_says_whether_a_report_folds_into_an_incident() -> None:
    report = {
        "report_id": "rep-2021-000001",
        "filed_at": "2021-03-15T09:40:00+01:00",
        "channel": "web",
        "category": "waste.missed_collection",
        "waste_fraction": "paper",
        "location": {"street": "Ordingenstraat", "house_number": "3", "postcode": "3800", "district": "Brustem"},
        "description": "Papier niet opgehaald.",
    }
    spike = json.loads(
        (Path(__file__).resolve().parents[2] / "docs/contracts/SpikeDetected.v1.schema.json").read_text()
    )
    incident = {
        **spike["examples"][0],
        "waste_fraction": "paper",
        "affected_streets": ["Brustemsesteenweg", "Kerkstraat"],
        "first_seen_at": "2021-03-15T09:00:00+01:00",
    }
    args = (DOMAIN.catalogue, DOMAIN.rules, DOMAIN.calendar)
    far = explain_report(json.dumps(report), *args, places=DOMAIN.places, incident_json=json.dumps(incident))
    assert "keeps its own order: Ordingenstraat is 891 m from the incident's streets" in far
    near = {**report, "location": {**report["location"], "street": "Kerkstraat"}}
    text = explain_report(json.dumps(near), *args, places=DOMAIN.places, incident_json=json.dumps(incident))
    assert "FOLDS: filed during incident" in text
    assert "does not fold" in explain_report(json.dumps({**report, "category": "road.damage"}), *args)
