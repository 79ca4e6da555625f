"""Places from coordinates on the shipped (approximate) boundaries: point-in-polygon, nearest street, triage."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from consumers.domain.places import (
    UNPLACED_DISTRICT,
    PlaceFinder,
    PlacesConfig,
    PlacesError,
    approximate_boundaries,
    import_boundaries,
    place_report,
)
from consumers.router.handler import RoutingService
from consumers.stats.aggregates import report_fact
from contracts import ReportFiled
from hub.bootstrap import Domain
from hub.settings import Settings

pytestmark = pytest.mark.unit

SETTINGS = Settings()
CONFIG = PlacesConfig.load(SETTINGS.domain.places_file)
FINDER = PlaceFinder.load(SETTINGS.domain.boundaries_file, SETTINGS.domain.places_file)
OUTSIDE = (50.9307, 5.3378)  # Hasselt


def _report(lat: float, lon: float, **location: str) -> ReportFiled:
    return ReportFiled.model_validate(
        {
            "report_id": "rep-places-1",
            "filed_at": "2026-12-02T10:00:00+01:00",
            "channel": "app",
            "category": "lighting.defect",
            "location": {"lat": lat, "lon": lon, **location},
            "description": "Lamp stuk",
        }
    )


def test_the_shipped_boundaries_say_they_are_approximate_and_cover_every_district() -> None:
    collection = json.loads(SETTINGS.domain.boundaries_file.read_text(encoding="utf-8"))
    assert collection["approximate"] is True
    assert "APPROXIMATE" in collection["name"]
    assert "hub places import" in collection["description"]
    assert FINDER.approximate
    assert sorted(FINDER.districts) == sorted(c.name for c in CONFIG.centres)
    # The shipped file is exactly what `hub places approximate` builds from places.yaml.
    rebuilt = json.loads(json.dumps(approximate_boundaries(CONFIG)))
    assert rebuilt == collection


@pytest.mark.parametrize("centre", CONFIG.centres, ids=lambda c: c.name)
def test_every_district_centre_falls_in_its_district(centre: object) -> None:
    place = FINDER.locate(centre.lat, centre.lon)  # type: ignore[attr-defined]
    assert place is not None
    assert place.district == centre.name  # type: ignore[attr-defined]
    assert place.postcode == centre.postcode  # type: ignore[attr-defined]


def test_a_point_outside_the_city_lies_in_no_district() -> None:
    assert FINDER.locate(*OUTSIDE) is None
    assert FINDER.locate(50.8167, 4.0) is None


def test_the_nearest_known_street_within_reach() -> None:
    place = FINDER.locate(50.8152, 5.1893)  # on Stapelstraat
    assert place is not None
    assert (place.district, place.street) == ("Sint-Truiden", "Stapelstraat")
    far = FINDER.locate(50.7760, 5.1785)  # Kerkom's centre: no street with coordinates near it
    assert far is not None
    assert far.street is None


def test_a_report_with_a_point_only_is_placed_and_a_given_district_is_kept() -> None:
    placed = place_report(_report(50.8026, 5.2258), FINDER)
    assert placed.outside is None
    loc = placed.report.location
    assert (loc.district, loc.postcode, loc.street) == ("Brustem", "3800", "Brustemsesteenweg")
    kept = place_report(_report(50.8026, 5.2258, street="Kerkstraat", postcode="3800", district="Aalst"), FINDER)
    assert kept.report.location.district == "Aalst"


def test_a_point_outside_the_city_goes_to_triage_with_the_reason() -> None:
    domain = Domain.load(SETTINGS)
    routing = RoutingService(domain.catalogue, domain.rules, domain.calendar, places=FINDER)
    report, decision = routing.decide(_report(*OUTSIDE))
    assert decision.assignees == ("contact_center_triage",)
    assert decision.rule_id == "outside-city"
    assert "outside the city" in decision.reasons[0]
    (order,) = routing.work_orders(_report(*OUTSIDE))
    assert order.assignee == "contact_center_triage"
    assert order.description.startswith("[the point (50.93070, 5.33780) lies outside")
    # Inside the city the rules decide, on the district the point lies in.
    _, inside = routing.decide(_report(50.8026, 5.2258))
    assert inside.assignees == ("grid_operator",)
    # Statistics count an unplaced report under a district of its own, never under None.
    assert report_fact(report, domain.calendar).district == UNPLACED_DISTRICT


def test_a_location_needs_an_address_or_a_point() -> None:
    with pytest.raises(ValueError, match="street, postcode and district, or a point"):
        ReportFiled.model_validate(
            {
                "report_id": "r",
                "filed_at": dt.datetime(2026, 12, 2, tzinfo=dt.UTC),
                "channel": "app",
                "category": "other",
                "location": {"street": "Stapelstraat"},
            }
        )


def test_the_official_file_replaces_the_approximation() -> None:
    official = approximate_boundaries(CONFIG)
    for feature in official["features"]:
        feature["properties"] = {"NAAM": feature["properties"]["district"].upper()}
    imported = import_boundaries(official, CONFIG, district_property="NAAM")
    assert imported["approximate"] is False
    assert {f["properties"]["district"] for f in imported["features"]} == {c.name for c in CONFIG.centres}
    with pytest.raises(PlacesError, match="not a district"):
        import_boundaries(official, CONFIG, district_property="missing")
    lambert = {"type": "FeatureCollection", "features": [dict(official["features"][0])]}
    lambert["features"][0]["properties"] = {"NAAM": "VELM"}
    lambert["features"][0]["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[200000, 160000], [201000, 160000], [201000, 161000], [200000, 160000]]],
    }
    with pytest.raises(PlacesError, match="not WGS84"):
        import_boundaries(lambert, CONFIG, district_property="NAAM")
