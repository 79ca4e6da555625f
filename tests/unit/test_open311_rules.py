"""Open311's pure parts: formats and errors, form fields, the extra questions, addresses, fingerprints."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import xmltodict

from consumers.domain.attributes import AnswerError, check_answers
from consumers.open311.formats import Open311Error, error_response, split_format, to_xml
from consumers.open311.intake import Form, Intake
from consumers.open311.settings import Open311Settings
from consumers.router.handler import RoutingService
from hub.bootstrap import Domain
from hub.settings import Settings

pytestmark = pytest.mark.unit

DOMAIN = Domain.load(Settings())
ROUTING = RoutingService(DOMAIN.catalogue, DOMAIN.rules, DOMAIN.calendar, places=DOMAIN.places)
INTAKE = Intake(Open311Settings(), None, ROUTING)  # type: ignore[arg-type]  # build() needs no database
NOW = dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC)


def test_only_the_last_suffix_is_the_format() -> None:
    assert split_format("waste.missed_collection.json") == ("waste.missed_collection", "json")
    assert split_format("o311-abc.xml") == ("o311-abc", "xml")
    for bad in ("lighting.defect.html", "lighting", ".json"):
        with pytest.raises(Open311Error) as caught:
            split_format(bad)
        assert caught.value.status == 404


def test_errors_in_the_specs_xml_and_json() -> None:
    xml = error_response("xml", [Open311Error(400, "service_code was not provided")])
    assert xml.status_code == 400
    assert bytes(xml.body).startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    parsed = xmltodict.parse(bytes(xml.body))
    assert parsed == {"errors": {"error": {"code": "400", "description": "service_code was not provided"}}}
    body = json.loads(bytes(error_response("json", [Open311Error(403, "api_key")]).body))
    assert body == [{"code": 403, "description": "api_key"}]


def test_xml_lists_and_booleans() -> None:
    document = to_xml("services", "service", [{"service_code": "a.b", "metadata": True, "keywords": None}])
    assert xmltodict.parse(document)["services"]["service"] == {
        "service_code": "a.b",
        "metadata": "true",
        "keywords": None,
    }


def test_form_fields_and_multi_value_attributes() -> None:
    form = Form.parse(
        [
            ("service_code", "waste.illegal_dumping"),
            ("attribute[materials][]", "bulky"),
            ("attribute[materials][]", "green"),
            ("attribute[pole_number]", "P1"),
        ]
    )
    assert form.attributes == {"materials": ["bulky", "green"], "pole_number": "P1"}
    answers = [
        ("attribute[materials][]", "bulky"),
        ("attribute[materials][]", "green"),
        ("attribute[pole_number]", "P1"),
    ]
    assert form.fingerprint("fms") == Form.parse([*reversed(list(form.fields.items())), *answers]).fingerprint("fms")
    assert form.fingerprint("fms") != form.fingerprint("other-client")
    with_key = Form.parse([*form.fields.items(), ("api_key", "secret")])
    assert with_key.fingerprint("x") == Form.parse(list(form.fields.items())).fingerprint("x")


def test_answers_are_checked_against_the_questions() -> None:
    questions = DOMAIN.catalogue.category("waste.missed_collection").attributes  # type: ignore[union-attr]
    assert check_answers(questions, {"waste_fraction": "pmd"}) == {"waste_fraction": "pmd"}
    for answers, problem in [
        ({}, "required"),
        ({"waste_fraction": "plutonium"}, "not one of"),
        ({"waste_fraction": "pmd", "out_since": "gisteren"}, "ISO 8601"),
        ({"waste_fraction": "pmd", "colour": "blue"}, "not a question"),
        ({"waste_fraction": ["pmd", "glass"]}, "one value"),
    ]:
        with pytest.raises(AnswerError, match=problem):
            check_answers(questions, answers)


def _build(**fields: str) -> tuple[object, dict[str, object]]:
    return INTAKE.build(Form.parse(list(fields.items())), NOW)


def test_a_form_becomes_a_report_with_the_answers_and_no_contact_in_the_stored_row() -> None:
    report, row = _build(
        service_code="waste.missed_collection",
        address_string="Stapelstraat 12A, 3800 Sint-Truiden",
        **{"attribute[waste_fraction]": "residual"},
        description="Niet opgehaald, bel 0470 12 34 56",
        first_name="Annemie",
        last_name="Vandersteen",
        email="an@example.be",
    )
    loc = report.location  # type: ignore[attr-defined]
    assert (loc.street, loc.house_number, loc.postcode, loc.district) == ("Stapelstraat", "12A", "3800", "Sint-Truiden")
    assert report.waste_fraction == "residual"  # type: ignore[attr-defined]
    assert report.reporter.name == "Annemie Vandersteen"  # type: ignore[attr-defined]
    assert "0470" not in str(row["description"])
    assert "Annemie" not in json.dumps(row, default=str)
    assert str(row["service_notice"]).startswith("Uw melding is doorgegeven aan")


def test_a_postcode_of_one_district_names_it_and_an_unplaceable_address_is_refused() -> None:
    report, _ = _build(service_code="road.damage", address_string="Velmerlaan 3, 3806")
    assert report.location.district == "Velm"  # type: ignore[attr-defined]
    for fields, status in [
        ({"service_code": "road.damage", "address_string": "Kerkstraat 3, 3800"}, 400),
        ({"service_code": "road.damage", "address_id": "12345"}, 400),
        ({"service_code": "road.damage"}, 400),
        ({"service_code": "road.damage", "lat": "50.8"}, 400),
        ({"service_code": "nope", "lat": "50.8", "long": "5.2"}, 404),
        ({"lat": "50.8", "long": "5.2"}, 400),
        ({"service_code": "road.damage", "lat": "50.8", "long": "5.2", "email": "not-an-address"}, 400),
    ]:
        with pytest.raises(Open311Error) as caught:
            _build(**fields)
        assert caught.value.status == status, fields
