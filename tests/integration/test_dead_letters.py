"""Operating the dead-letter queue: reasons are visible, replay is safe (deduplication applies), purge empties."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import uuid

import aio_pika
import pytest
from sqlalchemy import func, select

from consumers.router.tables import WorkOrder
from contracts import ReportFiled
from hub.bootstrap import build_hub
from hub.settings import Settings
from infra import cloudevents
from infra.db.tables import InboxEntry
from infra.deadletters import DeadLetterQueue
from infra.topology import DEAD_LETTER_EXCHANGE, consumer_queue_name
from tests.support import ROOT, CitySystem, make_report

pytestmark = pytest.mark.integration


async def _work_orders(hub_sessions) -> int:  # type: ignore[no-untyped-def]
    async with hub_sessions() as session:
        return int((await session.execute(select(func.count()).select_from(WorkOrder))).scalar_one())


async def _until(predicate, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def _dead_letter(
    city: CitySystem, consumer: str, report: ReportFiled, event_id: str, headers: dict[str, str] | None = None
) -> None:
    """A report in the consumer's DLQ, as if it failed there earlier (an outage that outlasted the retries)."""
    meta = cloudevents.meta_for(report, source="/city/test", event_id=event_id)
    assert city.channel is not None
    exchange = await city.channel.get_exchange(DEAD_LETTER_EXCHANGE.name, ensure=False)
    await exchange.publish(
        aio_pika.Message(
            report.model_dump_json().encode(),
            message_id=meta.id,
            headers={
                **cloudevents.amqp_headers(meta),
                "x-hub-error": "TimeoutError: database",
                "x-hub-consumer": consumer,
                **(headers or {}),
            },
            delivery_mode=2,
        ),
        routing_key=consumer_queue_name(consumer),
    )


async def test_list_replay_and_purge(clean_broker: str, sqlite_url: str) -> None:
    settings = Settings(amqp_url=clean_broker, database_url=sqlite_url)
    hub = build_hub(settings, consumers=["router"])
    await hub.start()
    dlq = DeadLetterQueue(clean_broker, "router")
    run = uuid.uuid4().hex[:8]
    report = make_report(random.Random(3), 1, run=run, category="lighting.defect")
    try:
        async with CitySystem(clean_broker) as city:
            await city.publish_raw(b"not json at all", "report.filed", f"poison-{run}")
            # A valid report that was dead-lettered earlier (say, during an outage that outlasted the retries).
            await _dead_letter(city, "router", report, f"valid-{run}")

        async def two_dead() -> bool:
            return await dlq.count() == 2

        await _until(two_dead)
        letters = {letter.message_id: letter for letter in await dlq.peek()}
        assert set(letters) == {f"poison-{run}", f"valid-{run}"}
        assert letters[f"poison-{run}"].error.startswith("broken JSON")
        assert await dlq.count() == 2, "peeking must not remove anything"

        completed = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "hub.cli", "dlq", "list", "router"],
            cwd=ROOT,
            env={**os.environ, "HUB_AMQP_URL": clean_broker, "HUB_DATABASE_URL": sqlite_url},
            capture_output=True,
            text=True,
            check=True,
        )
        listed = completed.stdout
        assert "router: 2 dead-lettered" in listed
        assert f"poison-{run}" in listed

        assert await dlq.replay(f"valid-{run}") == 1

        async def routed() -> bool:
            return await _work_orders(hub.sessions) == 1

        await _until(routed)
        # Replaying the same message again (a second operator, a script run twice) applies nothing twice.
        async with CitySystem(clean_broker) as city:
            await city.publish_report(report, event_id=f"valid-{run}")
        await asyncio.sleep(1.0)
        assert await _work_orders(hub.sessions) == 1
        assert await dlq.count() == 1
        assert await dlq.purge() == 1
        assert await dlq.count() == 0
    finally:
        await hub.stop()


async def test_a_replay_reaches_the_handler_of_its_original_route(clean_broker: str, sqlite_url: str) -> None:
    """A consumer with one handler per routing key (spikes) takes a replayed report as a report, not as unexpected."""
    settings = Settings(amqp_url=clean_broker, database_url=sqlite_url)
    hub = build_hub(settings, consumers=["spikes"])
    await hub.start()
    dlq = DeadLetterQueue(clean_broker, "spikes")
    run = uuid.uuid4().hex[:8]
    report = make_report(random.Random(4), 1, run=run, category="lighting.defect")
    try:
        async with CitySystem(clean_broker) as city:
            # As the delivery policy dead-letters it: the original route in the headers.
            route = {"x-hub-original-exchange": "city.events", "x-hub-original-routing-key": "report.filed"}
            await _dead_letter(city, "spikes", report, f"late-{run}", route)

        async def dead() -> bool:
            return await dlq.count() == 1

        await _until(dead)
        assert await dlq.replay(f"late-{run}") == 1

        async def applied() -> bool:
            async with hub.sessions() as session:
                stmt = select(func.count()).select_from(InboxEntry).where(InboxEntry.message_id == f"late-{run}")
                return int((await session.execute(stmt)).scalar_one()) == 1

        await _until(applied)
        await asyncio.sleep(0.5)
        assert await dlq.count() == 0  # not dead-lettered again as a message the consumer does not take
    finally:
        await hub.stop()
