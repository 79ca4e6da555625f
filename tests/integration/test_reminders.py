"""Reminders on the real services: an order still open on its due date reminds its assignee once, by e-mail on a
real SMTP server or by its signed webhook, through the deliveries' scheduled sender, whatever the replicas."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from consumers.contractors.deliveries import DeliveryConfig, DeliveryWorker
from consumers.contractors.links import LinkSigner
from consumers.contractors.scheduling import REMINDER, DeliveryService
from consumers.contractors.tables import Delivery
from consumers.domain.catalogue import Catalogue
from hub.settings import Settings
from infra.db import create_engine, create_session_factory
from infra.mailer import Mailer, SmtpSettings
from infra.webhooks import generate_secret, verify
from tests.contractors_support import FakeClock, Receiver, SmtpSink, add_order, write_assignees

pytestmark = pytest.mark.integration


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpSink]:
    sink = await SmtpSink().start()
    yield sink
    await sink.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = await Receiver().start()
    yield server
    await server.stop()


async def test_an_open_order_at_its_due_date_reminds_its_assignee_once(
    postgres_url: str, smtp: SmtpSink, receiver: Receiver, tmp_path: Path
) -> None:
    settings = Settings()
    path = write_assignees(tmp_path / "assignees.yaml", changes={"waste_company": {"webhook_url": receiver.url("w")}})
    catalogue = Catalogue.load(settings.domain.categories_file, path)
    tz = ZoneInfo("Europe/Brussels")
    clock = FakeClock(dt.datetime(2026, 12, 3, 9, 30, tzinfo=tz).astimezone(dt.UTC))  # 09:30 on the due date
    today = dt.date(2026, 12, 3)
    before = dt.datetime(2026, 11, 30, 10, 0, tzinfo=tz)
    engine = create_engine(postgres_url)
    sessions = create_session_factory(engine)
    road = await add_order(sessions, assignee="road_firm", due=today, issued_at=before, status="accepted")
    waste = await add_order(
        sessions, assignee="waste_company", due=today, issued_at=before, category="waste.missed_collection"
    )
    dept = await add_order(sessions, assignee="technische_dienst", due=today - dt.timedelta(days=1), issued_at=before)
    # No reminder: done already; due tomorrow; issued after its due date (a replayed 2021).
    await add_order(sessions, assignee="road_firm", due=today, issued_at=before, status="done")
    await add_order(sessions, assignee="road_firm", due=today + dt.timedelta(days=1), issued_at=before)
    await add_order(sessions, assignee="road_firm", due=dt.date(2021, 3, 17), issued_at=before)

    service = DeliveryService(catalogue, clock=clock)

    async def scan() -> int:
        async with sessions() as session, session.begin():
            return await service.remind_due(session, hour=8, tz=tz)

    # Two replicas scan at the same moment, then again: each order has one reminder row.
    first = await asyncio.gather(scan(), scan())
    assert sum(first) == 3, first
    assert await scan() == 0
    async with sessions() as session:
        rows = list((await session.execute(select(Delivery).where(Delivery.kind == REMINDER))).scalars())
    assert sorted((r.work_order_id, r.channel) for r in rows) == sorted(
        [(road, "email"), (waste, "webhook"), (dept, "email")]
    )

    secret = generate_secret()
    links = LinkSigner({"road_firm": ["link-secret"]}, "http://hub")
    mailer = Mailer(SmtpSettings("127.0.0.1", smtp.port, None, None, starttls=False, timeout_s=5))
    config = DeliveryConfig(schedule_s=(5, 300), webhook_secrets={"waste_company": [secret]}, links=links)
    worker = DeliveryWorker(sessions, catalogue, config, mailer=mailer, clock=clock, rng=random.Random(1))
    try:
        await worker.ensure_endpoints()
        assert await worker.run_once() == 3
        clock.advance(3600)
        assert await worker.run_once() == 0  # sent once: nothing is due again
    finally:
        await worker.stop()
        await engine.dispose()

    mails = {m["X-Work-Order-Id"]: m for m in smtp.messages}
    assert set(mails) == {road, dept}
    text = mails[road].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert mails[road]["Subject"] == f"Herinnering: werkbon {road} moet klaar zijn op donderdag 3 december 2026"
    assert "staat nog open (status: accepted)" in text
    assert "Klaar: http://hub/contractors/links/" in text
    assert "Al uw open werkbonnen, met hun uiterste datum: http://hub/contractors/?token=p1.road_firm." in text
    assert mails[dept]["To"] == "technischedienst@example.be"
    (hook,) = receiver.calls("w")
    assert verify([secret], hook.headers, hook.body, now=clock() - dt.timedelta(hours=1))
    body = json.loads(hook.body)
    assert body["type"] == "workorder.reminder"
    assert body["data"]["work_order_id"] == waste
    assert body["data"]["due_date"] == today.isoformat()
    for raw in (*smtp.raw, hook.body):
        assert b"Stapelstraat" not in raw  # nothing from the report
        assert b"Diep gat" not in raw
