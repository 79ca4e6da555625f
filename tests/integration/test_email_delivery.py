"""E-mailed work orders against a real SMTP server (aiosmtpd): readable Dutch, only the allowed data, retried like
webhooks when the server refuses, the same Message-ID on every attempt."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from consumers.contractors.deliveries import DeliveryConfig, DeliveryWorker
from consumers.contractors.scheduling import DeliveryService
from consumers.contractors.tables import Delivery
from consumers.domain.catalogue import Catalogue
from contracts import WorkOrderIssued
from hub.settings import Settings
from infra.db import create_engine, create_session_factory
from infra.mailer import Mailer, SmtpSettings
from tests.contractors_support import FakeClock, SmtpSink

pytestmark = pytest.mark.integration

PII = {"name": "Testpersoon Mail", "phone": "+32 470 55 44 33", "email": "mail.burger@example.be"}


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpSink]:
    sink = await SmtpSink().start()
    yield sink
    await sink.stop()


async def test_email_work_order_is_retried_until_the_server_takes_it(
    sqlite_url: str, smtp: SmtpSink, tmp_path: Path
) -> None:
    settings = Settings()
    catalogue = Catalogue.load(settings.domain.categories_file, settings.domain.assignees_file)
    clock = FakeClock()
    engine = create_engine(sqlite_url)
    sessions = create_session_factory(engine)
    mailer = Mailer(SmtpSettings("127.0.0.1", smtp.port, None, None, starttls=False, timeout_s=5))
    worker = DeliveryWorker(
        sessions, catalogue, DeliveryConfig(schedule_s=(5, 300)), mailer=mailer, clock=clock, rng=random.Random(3)
    )
    await worker.ensure_endpoints()
    example = dict(WorkOrderIssued.model_json_schema()["examples"][0])
    example |= {"work_order_id": f"wo-{uuid.uuid4().hex}", "assignee": "road_firm", "category": "road.damage",
                "category_name_nl": "Put in de weg of het voetpad", "waste_fraction": None,
                "reporter": PII}  # fmt: skip
    order = WorkOrderIssued.model_validate(example)
    async with sessions() as session, session.begin():
        await DeliveryService(catalogue, clock=clock).write(session, [delivery_row(catalogue, clock, order)])
    try:
        smtp.refuse = True  # 451: try again later
        assert await worker.run_once() == 1
        assert smtp.messages == []
        async with sessions() as session:
            (row,) = (await session.execute(select(Delivery))).scalars()
        assert row.state == "pending"
        assert "451" in (row.last_error or "")
        smtp.refuse = False
        assert await worker.run_once() == 0  # not due yet
        clock.advance(7)
        assert await worker.run_once() == 1
        async with sessions() as session:
            (row,) = (await session.execute(select(Delivery))).scalars()
        assert row.state == "delivered"
        assert row.attempts == 2
    finally:
        await worker.stop()
        await engine.dispose()

    (message,) = smtp.messages
    assert message["To"] == "planning@road-firm.example.be"
    assert message["Reply-To"] == "technischedienst@example.be"  # the department that owns the contract
    assert message["Message-ID"] == f"<{row.delivery_id}@stad.example.be>"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None
    assert html is not None
    text = plain.get_content()
    assert order.work_order_id in text
    assert "Put in de weg of het voetpad" in text
    assert "Uiterste datum" in text
    assert "Hoe antwoorden?" in text
    raw = smtp.raw[0].decode(errors="replace")
    for value in PII.values():
        assert value not in raw, "the road firm's data policy forbids the reporter's data"


async def test_a_row_that_raises_is_its_own_failure_and_the_good_row_beside_it_is_sent_once(
    sqlite_url: str, smtp: SmtpSink
) -> None:
    """Issue 12: one row that raised aborted the whole round; the good row beside it was e-mailed again every round."""
    settings = Settings()
    catalogue = Catalogue.load(settings.domain.categories_file, settings.domain.assignees_file)
    clock = FakeClock()
    engine = create_engine(sqlite_url)
    sessions = create_session_factory(engine)
    mailer = Mailer(SmtpSettings("127.0.0.1", smtp.port, None, None, starttls=False, timeout_s=5))
    config = DeliveryConfig(schedule_s=(5, 300), lease_s=60)
    worker = DeliveryWorker(sessions, catalogue, config, mailer=mailer, clock=clock, rng=random.Random(3))
    await worker.ensure_endpoints()
    example = dict(WorkOrderIssued.model_json_schema()["examples"][0])
    example |= {"assignee": "road_firm", "category": "road.damage", "category_name_nl": "Put in de weg of het voetpad",
                "waste_fraction": None, "reporter": None}  # fmt: skip
    good, bad = (WorkOrderIssued.model_validate(example | {"work_order_id": f"wo-{uuid.uuid4().hex}"}) for _ in "ab")
    async with sessions() as session, session.begin():
        for order in (good, bad):
            await DeliveryService(catalogue, clock=clock).write(session, [delivery_row(catalogue, clock, order)])
        # A row whose body no longer makes an e-mail (written by an older version, or damaged): sending it raises.
        await session.execute(update(Delivery).where(Delivery.work_order_id == bad.work_order_id).values(body=b"{}"))
    try:
        assert await worker.run_once() == 2
        for _ in range(3):  # later rounds, past the lease and each retry of the bad row
            clock.advance(400)
            await worker.run_once()
        async with sessions() as session:
            rows = {r.work_order_id: r for r in (await session.execute(select(Delivery))).scalars()}
    finally:
        await worker.stop()
        await engine.dispose()
    assert [m["Subject"] for m in smtp.messages] == [smtp.messages[0]["Subject"]]  # the good one, once
    assert good.work_order_id in smtp.messages[0].get_body(("plain",)).get_content()
    assert (rows[good.work_order_id].state, rows[good.work_order_id].attempts) == ("delivered", 1)
    assert rows[good.work_order_id].last_status is None  # an SMTP "250 OK" is no HTTP status
    failed = rows[bad.work_order_id]
    assert (failed.state, failed.attempts) == ("exhausted", 3)
    assert "ValidationError" in (failed.last_error or "")


def delivery_row(catalogue: Catalogue, clock: Callable[[], dt.datetime], order: WorkOrderIssued) -> dict[str, Any]:
    """The delivery row the consumer schedules for `order` (its batcher writes the rows of a transaction at commit)."""
    row = DeliveryService(catalogue, clock=clock).row(order)
    assert row is not None, f"{order.assignee} is not an e-mail or webhook assignee"
    return row
