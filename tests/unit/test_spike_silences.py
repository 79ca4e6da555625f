"""Silences from the command line's words: durations and scopes."""

from __future__ import annotations

import datetime as dt

import pytest

from consumers.spikes.silences import Scope, SilenceError, new_silence_id, parse_duration, scope_of

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", dt.timedelta(minutes=90)),
        ("2h", dt.timedelta(hours=2)),
        ("1d12h", dt.timedelta(days=1, hours=12)),
        ("1h 30m", dt.timedelta(hours=1, minutes=30)),
        (" 4H ", dt.timedelta(hours=4)),
        ("1m", dt.timedelta(minutes=1)),
    ],
)
def test_durations(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "h", "2 hours", "30s", "1m1h", "1h1h", "-2h", "2h!", "1.5h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(SilenceError):
        parse_duration(text)


def test_an_incident_key_gives_its_category_district_and_street() -> None:
    assert scope_of(key="waste.missed_collection|district:Brustem") == Scope("waste.missed_collection", "Brustem", None)
    assert scope_of(key="lighting.defect|district:Velm|street:Hoogstraat") == Scope(
        "lighting.defect", "Velm", "Hoogstraat"
    )


def test_a_category_and_or_area() -> None:
    assert scope_of(category="sewer.blocked") == Scope("sewer.blocked", None, None)
    assert scope_of(district="Velm") == Scope(None, "Velm", None)
    assert scope_of(category="x", district="Velm", street="Hoogstraat") == Scope("x", "Velm", "Hoogstraat")
    assert "any district" in scope_of(category="sewer.blocked").describe()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # everything: would hide the next real incident too
        {"street": "Hoogstraat"},
        {"category": "x", "street": "Hoogstraat"},
        {"key": "not a key"},
        {"key": "waste.missed_collection|district:Brustem", "district": "Velm"},
    ],
)
def test_scopes_that_make_no_sense_are_refused(kwargs: dict[str, str]) -> None:
    with pytest.raises(SilenceError):
        scope_of(**kwargs)


def test_silence_ids_are_unique() -> None:
    assert len({new_silence_id() for _ in range(1000)}) == 1000
