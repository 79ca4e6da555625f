"""What the communication team receives: e-mail and chat text of an alert, and the retry schedule."""

from __future__ import annotations

import datetime as dt
import json
import random
from zoneinfo import ZoneInfo

import pytest

from consumers.notifier import compose
from consumers.notifier.worker import next_delay
from contracts import SpikeDetected, SpikeResolved
from infra.chat import chat_body

pytestmark = pytest.mark.unit

TZ = ZoneInfo("Europe/Brussels")
DETECTED = SpikeDetected.model_validate(SpikeDetected.model_json_schema()["examples"][0])
RESOLVED = SpikeResolved.model_validate(SpikeResolved.model_json_schema()["examples"][0])


def test_the_email_leads_with_both_drafts_and_names_the_incident() -> None:
    message = compose.email(
        DETECTED, sender="alerts@stad.example.be", to=["comms@stad.example.be"], notification_id="n-1",
        now=dt.datetime(2021, 3, 15, 9, 5, tzinfo=dt.UTC), tz=TZ,
    )  # fmt: skip
    body = message.get_content()
    assert body.index(DETECTED.draft_nl) < body.index(DETECTED.draft_en) < body.index(DETECTED.incident_id)
    assert message["Subject"] == "[Meldingspiek / spike] waste.missed_collection in Brustem"
    assert message["To"] == "comms@stad.example.be"
    assert message["X-Hub-Incident-Id"] == DETECTED.incident_id
    assert "Stapelstraat, Kerkstraat" in body
    assert "rep-2021-004711" in body
    assert "10:03" in body  # detection time in the city's time zone


def test_updates_and_resolutions_say_so() -> None:
    update = DETECTED.model_copy(update={"update": True, "street": "Stapelstraat"})
    assert compose.subject(update) == "[Update] waste.missed_collection in Stapelstraat (Brustem)"
    assert compose.subject(RESOLVED).startswith("[Opgelost / resolved]")
    text = compose.text(RESOLVED, TZ)
    assert "14 calls, 9 reports" in text
    assert RESOLVED.incident_id in text


def test_message_id_is_stable_per_notification() -> None:
    a = compose.message_id_header("inc-x/detected/1/email", "stad.example.be")
    assert a == compose.message_id_header("inc-x/detected/1/email", "stad.example.be")
    assert a != compose.message_id_header("inc-x/resolved/1/email", "stad.example.be")
    assert a.startswith("<")
    assert a.endswith("@stad.example.be>")


def test_the_chat_body_is_the_json_every_incoming_webhook_takes() -> None:
    body = json.loads(chat_body(compose.chat_text(DETECTED, TZ)))
    assert list(body) == ["text"]
    assert body["text"].startswith("**[Meldingspiek / spike]")
    assert DETECTED.draft_nl in body["text"]


def test_retry_schedule_grows_with_jitter_honours_retry_after_and_ends() -> None:
    schedule = [5.0, 30.0, 120.0]
    rng = random.Random(1)
    delays = [next_delay(n, schedule, rng=rng) for n in (1, 2, 3)]
    for delay, base in zip(delays, schedule, strict=True):
        assert delay is not None
        assert base <= delay <= base * 1.1
    assert next_delay(4, schedule, rng=rng) is None
    assert next_delay(1, schedule, retry_after_s=600, rng=rng) == 600
    assert next_delay(1, schedule, retry_after_s=10**6, rng=rng) == 3600  # a bogus header parks nothing for days
    with pytest.raises(ValueError, match="at least 1"):
        next_delay(0, schedule, rng=rng)
