"""E-mail header values built from data (issue 12): a street or district with a newline or another control character
gives one clean, bounded header line, never an error and never an extra header."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from zoneinfo import ZoneInfo

import pytest

from consumers.contractors.email import Envelope, compose_work_order_email
from consumers.domain.catalogue import Catalogue
from consumers.notifier import compose
from contracts import SpikeDetected, WorkOrderIssued
from hub.settings import Settings
from infra.mailer import HEADER_MAX_CHARS, header_value

pytestmark = pytest.mark.unit

NOW = dt.datetime(2021, 3, 15, 9, 46, tzinfo=dt.UTC)
HOSTILE = [
    "Stapelstraat\r\nBcc: everyone@example.org",
    "Stapelstraat\nX-Injected: 1",
    "Stapelstraat\rX-Injected: 1",
    "Stapel\x00straat\x1b[31m",
    "Stapelstraat\u2028X-Injected: 1",
    "Stapelstraat\u2029\u0085\x0b\x0cX-Injected: 1",
    "Stapel\u200bstraat\u00ad\ufeff",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_header_value_is_one_line_of_printable_characters(text: str) -> None:
    value = header_value(text)
    assert value.splitlines() == [value]
    assert all(ch.isprintable() for ch in value)
    assert value.startswith("Stapel")


def test_a_header_value_is_bounded_and_keeps_ordinary_text() -> None:
    assert header_value("Werkbon wo-1: Put in de weg, Sint-Truidersteenweg 12, 3800 Sint-Truiden") == (
        "Werkbon wo-1: Put in de weg, Sint-Truidersteenweg 12, 3800 Sint-Truiden"
    )
    assert header_value("  a \t\t b  ") == "a b"
    long = header_value("x" * 5000)
    assert len(long) == HEADER_MAX_CHARS
    assert long.endswith("…")


def order_on(street: str) -> WorkOrderIssued:
    example = WorkOrderIssued.model_json_schema()["examples"][0]
    example = example | {"location": example["location"] | {"street": street}}
    return WorkOrderIssued.model_validate(example)


def headers_of(raw: bytes) -> list[tuple[str, str]]:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return [(name.lower(), str(value)) for name, value in parsed.items()]


@pytest.mark.parametrize("street", HOSTILE)
def test_a_work_order_for_a_street_with_a_newline_is_an_email_with_a_clean_subject(street: str) -> None:
    settings = Settings()
    road_firm = Catalogue.load(settings.domain.categories_file, settings.domain.assignees_file).assignee("road_firm")
    order = order_on(street)
    message = compose_work_order_email(
        order,
        road_firm,
        Envelope(
            "werkbonnen@stad.example.be", "planning@road-firm.example.be", "technischedienst@example.be", "msg_1", NOW
        ),
    )
    headers = headers_of(message.as_bytes())
    names = [name for name, _ in headers]
    assert "bcc" not in names
    assert "x-injected" not in names
    (subject,) = [value for name, value in headers if name == "subject"]
    assert subject.startswith(f"Werkbon {order.work_order_id}: ")
    assert "\n" not in subject
    assert "\r" not in subject


@pytest.mark.parametrize("street", HOSTILE)
def test_an_alert_email_for_a_street_with_a_newline_has_a_clean_subject(street: str) -> None:
    alert = SpikeDetected.model_validate(SpikeDetected.model_json_schema()["examples"][0])
    alert = alert.model_copy(update={"street": street, "district": street})
    message = compose.email(
        alert, sender="alerts@stad.example.be", to=["comms@stad.example.be"], notification_id="n-1", now=NOW,
        tz=ZoneInfo("Europe/Brussels"),
    )  # fmt: skip
    headers = headers_of(message.as_bytes())
    assert "x-injected" not in [name for name, _ in headers]
    (subject,) = [value for name, value in headers if name == "subject"]
    assert subject.startswith("[Meldingspiek / spike]")
