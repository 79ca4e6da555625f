"""Reliability item 13: arbitrary bytes and arbitrary JSON to every consumer cause no crash loop.

The hub runs in-process with every consumer of `hub.topology.CONSUMERS` on the real broker. Hypothesis makes the
messages; each is published the way it could really arrive: on `city.events` with a routing key the consumer is
bound to (so its typed handler parses the garbage, and every other consumer bound to that key gets a copy), or
straight onto the consumer's queue (as a replay would). Each copy must end in that consumer's dead-letter queue
with an `x-hub-error` reason, exactly once; nothing stays in the input or retry queues; every consumer is still
attached; and a valid report published afterwards is routed, counted and seen by the spikes consumer.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from consumers.router.tables import Report
from consumers.spikes.tables import SpikeContact
from consumers.stats.tables import StatReport
from contracts import ALL_CONTRACTS
from hub.bootstrap import Hub, build_hub
from hub.settings import ConsumingSettings, MetricsSettings, Settings
from hub.topology import CONSUMER_QUEUES, CONSUMERS
from infra.consuming import HEADER_CONSUMER, HEADER_ERROR
from infra.metrics import sample_queues
from infra.topology import (
    CITY_EVENTS,
    COMMS_ALERTS_QUEUE,
    consumer_queue_name,
    dead_letter_queue_name,
    retry_queue_name,
)
from tests.support import CitySystem, make_report

pytestmark = pytest.mark.integration

PER_CONSUMER_PER_EXAMPLE = 10
EXAMPLES = 5  # 50 messages aimed at each consumer, plus the copies other consumers get
FUZZ = "x-fuzz"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
# Objects with the contracts' own field names and arbitrary values: deeper into the schemas than random keys get.
FIELDS = sorted({name for contract in ALL_CONTRACTS for name in contract.model_fields})
near_messages = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    near_messages.map(lambda v: json.dumps(v).encode()),
)
fuzz = st.fixed_dictionaries(
    {
        "body": bodies,
        "direct": st.booleans(),  # straight onto the consumer's queue instead of through `city.events`
        "key": st.integers(0, 5),  # which of the consumer's bindings
        "with_id": st.integers(0, 9).map(lambda n: n > 0),  # now and then no message id at all
        "content_type": st.sampled_from(["application/json", "application/json", None, "text/plain"]),
    }
)
batches = st.fixed_dictionaries(
    {c: st.lists(fuzz, min_size=PER_CONSUMER_PER_EXAMPLE, max_size=PER_CONSUMER_PER_EXAMPLE) for c in CONSUMERS}
)


def routing_key(consumer: str, choice: int) -> str:
    """One of the consumer's bindings; `*` made concrete with an assignee that has no queue of its own."""
    keys = CONSUMER_QUEUES[consumer].bindings
    return keys[choice % len(keys)].replace("*", "fuzz")


def bound(key: str, pattern: str) -> bool:
    words, parts = key.split("."), pattern.split(".")
    return len(words) == len(parts) and all(p in ("*", w) for w, p in zip(words, parts, strict=True))


def receivers(key: str) -> set[str]:
    return {c for c in CONSUMERS if any(bound(key, p) for p in CONSUMER_QUEUES[c].bindings)}


@pytest.fixture
async def running_hub(clean_broker: str, sqlite_url: str) -> AsyncIterator[Hub]:
    settings = Settings(
        amqp_url=clean_broker,
        database_url=sqlite_url,
        metrics=MetricsSettings(port=0),
        consuming=ConsumingSettings(retry_delay_ms=100, max_attempts=2),
    )
    hub = build_hub(settings, consumers=CONSUMERS)
    await hub.start()
    yield hub
    await hub.stop()
    connection = await aio_pika.connect(clean_broker)
    async with connection:
        channel = await connection.channel()
        await (await channel.get_queue(COMMS_ALERTS_QUEUE, ensure=True)).purge()  # the notifier's fuzz went there too


async def take_dead_letters(
    amqp_url: str, expected: Counter[tuple[str, str]], timeout: float = 60
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Ack every message of the consumers' DLQs until `expected` (consumer, fuzz id) copies arrived; their headers."""
    seen: dict[tuple[str, str], list[dict[str, Any]]] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queues = {c: await channel.get_queue(dead_letter_queue_name(c), ensure=True) for c in CONSUMERS}
        while loop.time() < deadline:
            got = 0
            for consumer, queue in queues.items():
                while (message := await queue.get(no_ack=False, fail=False)) is not None:
                    headers = dict(message.headers or {})
                    tag = headers.get(FUZZ)
                    tag = tag.decode() if isinstance(tag, bytes) else str(tag)
                    seen.setdefault((consumer, tag), []).append(headers)
                    await message.ack()
                    got += 1
            if all(len(seen.get(k, [])) >= n for k, n in expected.items()):
                break
            if not got:
                await asyncio.sleep(0.1)
    return seen


def text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(batch=batches)
async def test_garbage_to_every_consumer_is_dead_lettered_with_a_reason_and_nothing_stalls(
    running_hub: Hub, batch: dict[str, list[dict[str, Any]]]
) -> None:
    amqp_url = running_hub.settings.amqp_url
    run = uuid.uuid4().hex[:8]
    expected: Counter[tuple[str, str]] = Counter()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        city = await channel.get_exchange(CITY_EVENTS.name, ensure=False)
        for consumer, messages in batch.items():
            for n, spec in enumerate(messages):
                tag = f"{run}-{consumer}-{n}"
                message = aio_pika.Message(
                    spec["body"],
                    message_id=tag if spec["with_id"] else None,
                    content_type=spec["content_type"],
                    headers={FUZZ: tag},
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                )
                if spec["direct"]:
                    await channel.default_exchange.publish(
                        message, routing_key=consumer_queue_name(consumer), mandatory=True
                    )
                    targets = {consumer}
                else:
                    key = routing_key(consumer, spec["key"])
                    await city.publish(message, routing_key=key, mandatory=True)
                    targets = receivers(key)
                assert consumer in targets
                expected.update((c, tag) for c in targets)

    seen = await take_dead_letters(amqp_url, expected)
    missing = {k: n for k, n in expected.items() if len(seen.get(k, [])) < n}
    assert not missing, f"{len(missing)} bad message(s) not dead-lettered, e.g. {sorted(missing)[:5]}"
    assert {k: len(v) for k, v in seen.items()} == dict(expected), "a copy dead-lettered twice, or one not sent"
    for (consumer, _tag), copies in seen.items():
        for headers in copies:
            assert text(headers.get(HEADER_ERROR, "")).strip(), f"no reason on a {consumer} dead letter"
            assert text(headers.get(HEADER_CONSUMER)) == consumer

    # No crash loop: every consumer still attached, nothing left in its input or retry queue.
    names = [n for c in CONSUMERS for n in (consumer_queue_name(c), retry_queue_name(c))]
    samples = {s.queue: s for s in await sample_queues(amqp_url, names)}
    assert {n: samples[n].messages for n in names} == dict.fromkeys(names, 0)
    assert all(samples[consumer_queue_name(c)].consumers >= 1 for c in CONSUMERS)

    # And the real work goes on: a valid report is routed, counted and seen by the spikes consumer.
    report = make_report(random.Random(run), 0, run=run)
    async with CitySystem(amqp_url) as city_system:
        await city_system.publish_report(report)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        async with running_hub.sessions() as session:
            counts = [
                (
                    await session.execute(select(func.count()).select_from(model).where(column == report.report_id))
                ).scalar_one()
                for model, column in (
                    (Report, Report.report_id),
                    (StatReport, StatReport.report_id),
                    (SpikeContact, SpikeContact.report_id),
                )
            ]
        if counts == [1, 1, 1]:
            break
        assert loop.time() < deadline, f"valid report after the fuzz: routed/counted/seen = {counts}"
        await asyncio.sleep(0.1)
