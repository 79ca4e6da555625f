"""What the communication team receives: e-mail and chat text of an alert, and the retry schedule."""

from __future__ import annotations

import datetime as dt
import json
import random
from zoneinfo import ZoneInfo

import pytest

from consumers.notifier import compose
from consumers.notifier.worker import NotifierConfig, NotifierWorker
from contracts import SpikeDetected, SpikeResolved
from infra.chat import ChatWebhookSender, chat_body
from infra.sending import Send

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


CONSOLE = "https://hub.stad.example.be/"
PAGE = f"https://hub.stad.example.be/console/comms/incidents/{DETECTED.incident_id}"


def _worker(chat_format: str, console_url: str | None = CONSOLE) -> NotifierWorker:
    config = NotifierConfig(schedule_s=(1.0,), chat_format=chat_format, console_url=console_url)  # type: ignore[arg-type]
    return NotifierWorker(None, config, chat=ChatWebhookSender("http://chat.invalid/hook", timeout_s=1))  # type: ignore[arg-type]


def _send(alert: SpikeDetected | SpikeResolved) -> Send:
    return Send("n-1", alert.model_dump_json().encode(), dt.datetime(2021, 3, 15, 9, 5, tzinfo=dt.UTC))


def test_every_alert_email_and_chat_message_links_to_its_incident_page() -> None:
    assert (
        compose.incident_url(CONSOLE, "inc-a/b c")
        == "https://hub.stad.example.be/console/comms/incidents/inc-a%2Fb%20c"
    )
    assert compose.incident_url(None, "inc-x") is None
    worker = _worker("text")
    mail = worker._email(_send(DETECTED)).get_content()
    assert mail.rstrip().endswith(PAGE)
    assert compose.incident_url(CONSOLE, RESOLVED.incident_id) in worker._email(_send(RESOLVED)).get_content()  # type: ignore[operator]
    chat = json.loads(worker._chat_body(_send(DETECTED)))
    assert list(chat) == ["text"]
    assert PAGE in chat["text"]
    # Without a console address, no link (and no dangling label).
    assert "console" not in json.loads(_worker("text", None)._chat_body(_send(DETECTED)))["text"]


async def test_a_notifier_without_the_consoles_address_says_its_alerts_carry_no_link(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for console_url, warned in ((None, True), (CONSOLE, False)):
        worker = _worker("text", console_url)
        worker.run_once = _nothing  # type: ignore[method-assign]
        caplog.clear()
        await worker.start()
        await worker.stop()
        said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert any("HUB_COMMS_CONSOLE_URL" in m for m in said) is warned, said


async def _nothing() -> int:
    return 0


def _text_of(element: dict[str, object]) -> list[str]:
    if element["type"] == "TextBlock":
        return [str(element["text"])]
    if element["type"] == "FactSet":
        return [f"{f['title']}: {f['value']}" for f in element["facts"]]  # type: ignore[attr-defined]
    raise AssertionError(f"unexpected element {element['type']}")


@pytest.mark.parametrize("alert", [DETECTED, RESOLVED], ids=["detected", "resolved"])
def test_a_teams_endpoint_gets_a_workflows_message_with_one_adaptive_card(alert: SpikeDetected | SpikeResolved) -> None:
    body = json.loads(_worker("teams")._chat_body(_send(alert)))
    # The shape Teams' Workflows webhook ("post to a channel when a webhook request is received") renders.
    assert body["type"] == "message"
    assert set(body) == {"type", "attachments"}
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["version"] == "1.4"
    texts = [t for element in card["body"] for t in _text_of(element)]
    assert texts[0] == compose.subject(alert)
    for element in card["body"]:
        if element["type"] == "TextBlock":
            assert element["wrap"] is True
            assert element["text"].strip()
        else:
            assert all(isinstance(f["title"], str) and f["value"] for f in element["facts"])
    if isinstance(alert, SpikeDetected):
        assert alert.draft_nl in texts
        assert alert.draft_en in texts
        assert "Streets: Stapelstraat, Kerkstraat" in texts
    else:
        assert "Total: 14 calls, 9 reports" in texts
    (button,) = card["actions"]
    assert button == {
        "type": "Action.OpenUrl",
        "title": "Incidentpagina / incident page",
        "url": f"https://hub.stad.example.be/console/comms/incidents/{alert.incident_id}",
    }
    # No link without a console address: no button.
    assert "actions" not in json.loads(_worker("teams", None)._chat_body(_send(alert)))["attachments"][0]["content"]


def test_the_chat_format_is_chosen_per_endpoint_in_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from consumers.notifier.settings import NotifierSettings

    assert NotifierSettings().webhook_format == "text"
    monkeypatch.setenv("HUB_COMMS_WEBHOOK_FORMAT", "teams")
    monkeypatch.setenv("HUB_COMMS_CONSOLE_URL", "https://hub.stad.example.be")
    settings = NotifierSettings()
    assert settings.webhook_format == "teams"
    assert settings.console_url == "https://hub.stad.example.be"
    monkeypatch.setenv("HUB_COMMS_WEBHOOK_FORMAT", "office365")
    with pytest.raises(ValueError, match="webhook_format"):
        NotifierSettings()


def test_retry_schedule_grows_with_jitter_honours_retry_after_and_ends() -> None:
    schedule = [5.0, 30.0, 120.0]
    retry = NotifierConfig(schedule_s=schedule).retry
    rng = random.Random(1)
    delays = [retry.next_delay(n, rng=rng) for n in (1, 2, 3)]
    for delay, base in zip(delays, schedule, strict=True):
        assert delay is not None
        assert base <= delay <= base * 1.1
    assert retry.next_delay(4, rng=rng) is None
    assert retry.next_delay(1, retry_after_s=600, rng=rng) == 600
    assert retry.next_delay(1, retry_after_s=10**6, rng=rng) == 3600  # a bogus header parks nothing for days
    with pytest.raises(ValueError, match="at least 1"):
        retry.next_delay(0, rng=rng)
