"""Spike alerts end to end: the hub as real processes, driven only through the broker, on PostgreSQL.

A plain AMQP client publishes nine days of the city's ordinary traffic (the baseline's history), then a burst
of calls and reports about missed collections in Kerkom; later calls elsewhere carry event time past the
quiet period (event time, never real minutes). The communication team's queue `comms.alerts` is read with a
plain client, the e-mails by a real SMTP server (aiosmtpd) and the chat webhook by a local HTTP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import aio_pika
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.spikes.tables import Alert
from hub.simulator import SimEvent, publish
from infra.db import create_engine, create_session_factory
from infra.topology import COMMS_ALERTS_QUEUE
from tests.contractors_support import Receiver, SmtpSink
from tests.spikes_support import TZ, burst, ordinary_traffic, quiet_ticks
from tests.support import Drained, HubProcess, drain_queue, until
from tests.support import hub_cli as support_cli

pytestmark = pytest.mark.e2e

START = dt.datetime(2021, 3, 10, 10, 0, tzinfo=TZ)
INCIDENT = "inc-waste.missed_collection-kerkom-2021-03-10T1000"
# Every e-mail and chat message links to the incident's page in the console (HUB_COMMS_CONSOLE_URL).
CONSOLE = "https://hub.stad.example.be"
PAGE = f"{CONSOLE}/console/comms/incidents/{quote(INCIDENT, safe='')}"
DETECTED = f"{INCIDENT}/detected/1"
UPDATE = f"{INCIDENT}/update/1"
RESOLVED = f"{INCIDENT}/resolved/1"


@pytest.fixture(scope="module")
def history() -> list[SimEvent]:
    return ordinary_traffic(dt.date(2021, 3, 1), 9, seed=11)


@pytest.fixture
async def comms(clean_broker: str) -> AsyncIterator[str]:
    """The broker, without a `comms.alerts` left over from an earlier run (the hub declares it again)."""

    async def _delete() -> None:
        connection = await aio_pika.connect(clean_broker)
        async with connection:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(COMMS_ALERTS_QUEUE)

    await _delete()
    yield clean_broker
    await _delete()


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpSink]:
    sink = await SmtpSink().start()
    yield sink
    await sink.stop()


@pytest.fixture
async def chat() -> AsyncIterator[Receiver]:
    receiver = await Receiver().start()
    yield receiver
    await receiver.stop()


@pytest.fixture
def processes() -> Iterator[list[HubProcess]]:
    started: list[HubProcess] = []
    yield started
    codes = [(process.stop(), process) for process in started]
    for code, process in codes:
        assert code == 0, f"hub exited with {code}: {process.log_tail()}"


def hub_env(amqp_url: str, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "HUB_AMQP_URL": amqp_url,
        "HUB_DATABASE_URL": database_url,
        "HUB_RETRY_DELAY_MS": "500",
        "HUB_LOG_LEVEL": "WARNING",
        # Nine days of history: judge from the eighth on.
        "HUB_SPIKES_WARMUP_DAYS": "7",
        **extra,
    }


def delivery_env(smtp: SmtpSink, chat: Receiver, chat_format: str = "text") -> dict[str, str]:
    return {
        "HUB_SMTP_HOST": "127.0.0.1",
        "HUB_SMTP_PORT": str(smtp.port),
        "HUB_COMMS_EMAIL_TO": "communicatie@stad.example.be",
        "HUB_COMMS_WEBHOOK_URL": chat.url("comms"),
        "HUB_COMMS_WEBHOOK_FORMAT": chat_format,
        "HUB_COMMS_CONSOLE_URL": CONSOLE,
        "HUB_COMMS_RETRY_SCHEDULE_S": "[1, 1, 1]",
    }


async def start(processes: list[HubProcess], amqp_url: str, *names: str, env: dict[str, str], log: Path) -> HubProcess:
    process = HubProcess(*names, env=env, log_path=log).start()
    processes.append(process)
    for name in names:
        await process.wait_ready(amqp_url, queue=f"hub.{name}")
    return process


async def consumers_on(amqp_url: str, queue: str, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        while time.monotonic() < deadline:
            channel = await connection.channel()
            q = await channel.declare_queue(queue, passive=True)
            count = q.declaration_result.consumer_count or 0
            await channel.close()
            if count >= n:
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"{queue}: fewer than {n} consumers after {timeout} s")


async def take(amqp_url: str, expect: int, timeout: float = 40) -> Drained:
    """What arrived on `comms.alerts` (expect messages, then a second of quiet)."""
    return await drain_queue(amqp_url, COMMS_ALERTS_QUEUE, expect=expect, timeout=timeout, settle=1.0)


async def alert_rows(database_url: str) -> list[Alert]:
    engine = create_engine(database_url)
    sessions: async_sessionmaker[AsyncSession] = create_session_factory(engine)
    try:
        async with sessions() as session:
            return list((await session.execute(select(Alert).order_by(Alert.id))).scalars())
    finally:
        await engine.dispose()


async def hub_cli(database_url: str, *args: str) -> tuple[int, str]:
    return await support_cli("alerts", *args, env={**hub_env("amqp://unused/", database_url), "PATH": "/usr/bin:/bin"})


async def test_a_burst_alerts_the_team_once_by_queue_email_and_chat_and_resolves_once(
    comms: str, postgres_url: str, smtp: SmtpSink, chat: Receiver, history: list[SimEvent],
    processes: list[HubProcess], tmp_path: Path,
) -> None:  # fmt: skip
    env = hub_env(comms, postgres_url, **delivery_env(smtp, chat))
    await start(processes, comms, "spikes", "notifier", env=env, log=tmp_path / "hub.log")

    await publish(history + burst(START, run="e2e"), amqp_url=comms)
    first = await take(comms, expect=1)
    assert first.message_ids == [DETECTED], processes[0].log_tail()
    alert = first.bodies[0]
    assert alert["incident_id"] == INCIDENT
    assert alert["update"] is False
    assert alert["district"] == "Kerkom"
    assert alert["waste_fraction"] == "residual"
    assert set(alert["affected_streets"]) == {"Kerkomstraat", "Bergstraat"}
    assert "restafval" in alert["draft_nl"]
    assert "Kerkom" in alert["draft_nl"]

    # Hours later in event time: calls about something else elsewhere. On the way, the timer (in event time)
    # sent the update the grown count was due half an hour after the alert; then the incident went quiet.
    await publish(quiet_ticks(START + dt.timedelta(minutes=20), [4, 5, 6], run="e2e"), amqp_url=comms)
    second = await take(comms, expect=2)
    assert second.message_ids == [UPDATE, RESOLVED]
    assert second.bodies[0]["update"] is True
    assert second.bodies[1]["total_reports"] == 6

    await until(lambda: len(smtp.messages) >= 3 and len(chat.calls("comms")) >= 3, "e-mails and chat messages")
    await asyncio.sleep(1.5)  # nothing more may come
    # The update and the resolution are delivered side by side: in either order.
    by_subject = {m["Subject"]: m for m in smtp.messages}
    assert sorted(by_subject) == [
        "[Meldingspiek / spike] waste.missed_collection in Kerkom",
        "[Opgelost / resolved] waste.missed_collection in Kerkom",
        "[Update] waste.missed_collection in Kerkom",
    ]
    first_mail = by_subject["[Meldingspiek / spike] waste.missed_collection in Kerkom"]
    assert first_mail["To"] == "communicatie@stad.example.be"
    assert alert["draft_nl"] in first_mail.get_content()
    posts = {p.headers["idempotency-key"]: json.loads(p.body)["text"] for p in chat.calls("comms")}
    assert sorted(posts) == sorted([f"{DETECTED}/webhook", f"{UPDATE}/webhook", f"{RESOLVED}/webhook"])
    assert len(chat.calls("comms")) == 3
    assert alert["draft_nl"] in posts[f"{DETECTED}/webhook"]
    assert INCIDENT in posts[f"{RESOLVED}/webhook"]
    # Each of them links to the incident's page.
    assert all(PAGE in m.get_content() for m in smtp.messages)
    assert all(PAGE in text for text in posts.values())
    # Nothing else went to the team.
    assert (await take(comms, expect=0, timeout=3)).message_ids == []


async def test_two_replicas_side_by_side_still_alert_once(
    comms: str, postgres_url: str, history: list[SimEvent], processes: list[HubProcess], tmp_path: Path
) -> None:
    # INFO: each delivery is logged, so the logs show that both replicas took part.
    env = hub_env(comms, postgres_url, HUB_PREFETCH="32", HUB_LOG_LEVEL="INFO")
    await start(processes, comms, "spikes", env=env, log=tmp_path / "replica-1.log")
    await start(processes, comms, "spikes", env=env, log=tmp_path / "replica-2.log")
    await consumers_on(comms, "hub.spikes", 2)

    await publish(history + burst(START, run="replicas"), amqp_url=comms)
    first = await take(comms, expect=1)
    await publish(quiet_ticks(START + dt.timedelta(minutes=20), [4, 5, 6], run="replicas"), amqp_url=comms)
    second = await take(comms, expect=2)

    assert first.message_ids + second.message_ids == [DETECTED, UPDATE, RESOLVED]
    rows = await alert_rows(postgres_url)
    assert [r.alert_id for r in rows if r.state == "sent"] == [DETECTED, UPDATE, RESOLVED]
    for log in ("replica-1.log", "replica-2.log"):
        assert (tmp_path / log).read_text().count('"delivery handled"') > 50, f"{log}: this replica did no work"


async def test_a_silence_holds_the_alert_back_and_records_it_and_unsilencing_announces_it(
    comms: str, postgres_url: str, smtp: SmtpSink, chat: Receiver, history: list[SimEvent],
    processes: list[HubProcess], tmp_path: Path,
) -> None:  # fmt: skip
    code, out = await hub_cli(
        postgres_url, "silence", "--category", "waste.missed_collection", "--district", "Kerkom", "--for", "2h",
        "--reason", "ophaalronde Kerkom uitgevallen, al gecommuniceerd", "--by", "test",
    )  # fmt: skip
    assert code == 0, out
    silence_id = out.split(":", 1)[0]
    # The team's chat is Microsoft Teams: a Workflows webhook, which takes a message with an Adaptive Card.
    env = hub_env(comms, postgres_url, **delivery_env(smtp, chat, chat_format="teams"))
    await start(processes, comms, "spikes", "notifier", env=env, log=tmp_path / "hub.log")

    events = burst(START, run="silenced")
    await publish(history + events, amqp_url=comms)

    async def suppressed() -> bool:
        return any(r.kind == "suppressed-fire" for r in await alert_rows(postgres_url))

    await until(suppressed, "the silenced detection to be recorded")
    assert (await take(comms, expect=0, timeout=3)).message_ids == []
    assert smtp.messages == []
    assert chat.calls("comms") == []
    row = next(r for r in await alert_rows(postgres_url) if r.kind == "suppressed-fire")
    assert row.state == "suppressed"
    assert row.incident_id == INCIDENT
    assert row.reason is not None
    assert silence_id in row.reason
    assert "al gecommuniceerd" in row.reason
    code, listing = await hub_cli(postgres_url, "list")
    assert code == 0
    assert silence_id in listing
    assert "suppressed-fire" in listing
    assert INCIDENT in listing

    # The team lifts the silence while the incident goes on: the next report announces it.
    code, out = await hub_cli(postgres_url, "unsilence", silence_id)
    assert code == 0, out
    more = burst(START + dt.timedelta(minutes=25), run="silenced-more", calls=0, reports=1)
    await publish(more, amqp_url=comms)
    announced = await take(comms, expect=1)
    assert announced.message_ids == [DETECTED]
    await until(lambda: len(smtp.messages) >= 1 and len(chat.calls("comms")) >= 1, "the e-mail and the chat post")
    assert smtp.messages[0]["Subject"].startswith("[Meldingspiek / spike]")
    assert PAGE in smtp.messages[0].get_content()
    (post,) = chat.calls("comms")
    assert post.headers["content-type"].startswith("application/json")
    message = json.loads(post.body)
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["body"][0]["text"].startswith("[Meldingspiek / spike]")
    assert announced.bodies[0]["draft_nl"] in [e.get("text") for e in card["body"]]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Incidentpagina / incident page", "url": PAGE}]


async def test_a_fresh_hub_with_an_empty_database_alerts_on_a_burst_within_a_minute(
    comms: str, postgres_url: str, processes: list[HubProcess], tmp_path: Path
) -> None:
    # Issue 13: installed today, no history, no warm-up. 25 reports of one category in one district within a
    # minute, stamped now (live): the conservative prior of spikes.yaml judges them.
    env = hub_env(comms, postgres_url, HUB_SPIKES_WARMUP_DAYS="0")
    await start(processes, comms, "spikes", env=env, log=tmp_path / "hub.log")
    now = dt.datetime.now(dt.UTC)
    events = burst(now - dt.timedelta(minutes=1), run="fresh", calls=0, reports=25, minutes=1)
    sent = time.monotonic()
    await publish(events, amqp_url=comms)
    first = await take(comms, expect=1, timeout=60)
    took = time.monotonic() - sent
    assert len(first.message_ids) == 1, processes[0].log_tail()
    assert first.message_ids[0].endswith("/detected/1")
    assert first.bodies[0]["district"] == "Kerkom"
    assert first.bodies[0]["update"] is False
    assert took < 60, f"the alert took {took:.0f} s"
    # Exactly one: nothing else on the team's queue (an update waits for its interval).
    assert (await take(comms, expect=0, timeout=3)).message_ids == []
