"""Publishing simulated traffic to the real RabbitMQ: messages arrive on `city.events` as CloudEvents."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection

from contracts import CallLogged, ReportFiled
from hub.settings import Settings
from hub.simulator import Scenario, SimEvent, declare_city_events, publish, simulate
from infra.cloudevents import PREFIX

pytestmark = pytest.mark.integration

MONDAY = dt.date(2021, 3, 15)


@pytest.fixture(scope="module")
def amqp_url() -> str:
    # The one settings class reads HUB_AMQP_URL; its default is the local broker.
    return Settings().amqp_url


@pytest.fixture
async def connection(amqp_url: str) -> AsyncIterator[AbstractRobustConnection]:
    conn = await aio_pika.connect_robust(amqp_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def tap(connection: AbstractRobustConnection) -> AbstractQueue:
    """A test-owned exclusive queue that sees everything on `city.events`."""
    channel = await connection.channel()
    exchange = await declare_city_events(channel)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key="#")
    return queue


def fresh_scenario(**kwargs: Any) -> Scenario:
    # A random seed per test gives fresh ids, so runs never collide with each other or with a hub's dedup.
    return simulate(start=MONDAY, days=1, seed=random.randrange(2**40), **kwargs)


def header(message: AbstractIncomingMessage, name: str) -> str:
    value = (message.headers or {}).get(f"{PREFIX}{name}")
    return value.decode() if isinstance(value, bytes) else str(value)


async def collect(queue: AbstractQueue, wanted: set[str]) -> dict[str, AbstractIncomingMessage]:
    """Messages whose CloudEvents id is in `wanted`; other publishers' traffic on the exchange is skipped."""
    received: dict[str, AbstractIncomingMessage] = {}
    async with asyncio.timeout(30), queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            event_id = header(message, "id")
            if event_id in wanted:
                received[event_id] = message
                if len(received) == len(wanted):
                    break
    return received


async def test_published_events_arrive_as_cloudevents_with_valid_bodies(amqp_url: str, tap: AbstractQueue) -> None:
    scenario = fresh_scenario(calls_total=40, incidents=1)
    events = scenario.events
    assert any(isinstance(e.message, ReportFiled) for e in events)
    progress: list[int] = []

    published = await publish(events, amqp_url=amqp_url, concurrency=8, on_progress=progress.append)

    assert published == len(events)
    assert progress == list(range(1, len(events) + 1))
    received = await collect(tap, {e.event_id for e in events})
    assert set(received) == {e.event_id for e in events}
    for event in events:
        message = received[event.event_id]
        model = type(event.message)
        assert message.routing_key == event.routing_key == model.routing_key
        assert header(message, "specversion") == "1.0"
        assert header(message, "type") == model.ce_type == message.type
        assert header(message, "source") == "/city/simulator" == message.app_id
        assert header(message, "time") == event.at.isoformat()
        assert header(message, "subject") == event.subject
        assert message.message_id == event.event_id
        assert message.content_type == "application/json"
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.timestamp is not None
        assert abs(message.timestamp.timestamp() - event.at.timestamp()) < 1
        body = model.model_validate_json(message.body)
        assert body == event.message
    calls = [e.message for e in events if isinstance(e.message, CallLogged)]
    assert len(calls) == 40


async def test_speed_replays_event_time_faster(amqp_url: str, tap: AbstractQueue) -> None:
    events: list[SimEvent] = fresh_scenario(calls_total=20, incidents=0).events[:6]
    span = (events[-1].at - events[0].at).total_seconds()
    assert span > 0
    speed = span / 0.8  # the six events' stretch of event time, replayed in 0.8 s

    started = time.monotonic()
    published = await publish(events, amqp_url=amqp_url, speed=speed)
    elapsed = time.monotonic() - started

    assert published == len(events)
    assert 0.75 <= elapsed < 10
    received = await collect(tap, {e.event_id for e in events})
    assert len(received) == len(events)


async def test_publish_refuses_a_nonsense_speed(amqp_url: str) -> None:
    with pytest.raises(ValueError, match="speed"):
        await publish([], amqp_url=amqp_url, speed=0)
