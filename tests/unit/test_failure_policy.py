"""How failures are classified and described: pure code, no services."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc

from contracts import ReportFiled
from infra.cloudevents import MissingMessageId, message_id_of
from infra.consuming import attempts_so_far, hit_delivery_limit
from infra.errors import PermanentError, describe, is_permanent, is_transient

pytestmark = pytest.mark.unit

REPORT = ReportFiled.model_json_schema()["examples"][0]


def _validation_error(**changes: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        ReportFiled.model_validate({**REPORT, **changes})
    return info.value


def test_schema_violations_are_permanent_and_described_without_the_input() -> None:
    error = _validation_error(reporter={"name": "An Peeters", "email": "not-an-email"}, channel="fax")
    assert is_permanent(error)
    assert not is_transient(error)
    text = describe(error)
    assert "channel: Input should be" in text
    assert "reporter.email" in text
    assert "An Peeters" not in text
    assert "not-an-email" not in text


def test_broken_json_is_permanent() -> None:
    with pytest.raises(json.JSONDecodeError) as info:
        json.loads('{"report_id": ')
    assert is_permanent(info.value)
    assert describe(info.value).startswith("broken JSON")


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")),
        sa_exc.DBAPIError("SELECT 1", {}, Exception('database "x" is not currently accepting connections')),
    ],
)
def test_unreachable_dependencies_are_transient(error: Exception) -> None:
    assert is_transient(error)
    assert not is_permanent(error)


def test_domain_errors_are_permanent_and_bugs_are_neither() -> None:
    assert is_permanent(PermanentError("done -> accepted is not a valid transition"))
    assert not is_permanent(KeyError("x")) and not is_transient(KeyError("x"))  # noqa: PT018


def test_message_id_comes_from_cloudevents_header_then_amqp_property() -> None:
    assert message_id_of({"cloudEvents:id": b"ce-1"}, "amqp-1") == "ce-1"
    assert message_id_of({}, "amqp-1") == "amqp-1"
    with pytest.raises(MissingMessageId):
        message_id_of({}, None)


def test_attempts_are_counted_from_the_brokers_x_death_header() -> None:
    headers = {
        "x-death": [
            {
                "queue": "hub.router",
                "reason": "rejected",
                "count": 3,
                "exchange": "city.events",
                "routing-keys": ["report.filed"],
            },
            {"queue": "hub.router.retry", "reason": "expired", "count": 3},
            {"queue": "hub.stats", "reason": "rejected", "count": 9},
        ]
    }
    assert attempts_so_far(headers, "hub.router") == 3
    assert attempts_so_far({}, "hub.router") == 0
    assert not hit_delivery_limit(headers, "hub.router")
    assert hit_delivery_limit(
        {"x-death": [{"queue": b"hub.router", "reason": b"delivery_limit", "count": 1}]}, "hub.router"
    )
