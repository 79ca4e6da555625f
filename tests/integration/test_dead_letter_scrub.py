"""A dead letter that cannot be parsed never stops the scrub of personal data (issue 12).

A contractor can plant a deeply nested JSON body in `hub.status.dlq` (it publishes `workorder.status`; the status
consumer dead-letters what it cannot read). `json.loads` of it raises RecursionError, which used to abort
`hub privacy erase` ("broker unreachable") and the retention round for every dead-letter queue. Real RabbitMQ and
PostgreSQL; the commands run as an operator runs them.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid

import aio_pika
import pytest

from hub.bootstrap import Domain
from hub.settings import Settings
from hub.topology import CONSUMERS, hub_topology
from infra.consuming import HEADER_CONSUMER, HEADER_ERROR, HEADER_FAILED_AT
from infra.topology import DEAD_LETTER_EXCHANGE, consumer_queue_name, dead_letter_queue_name, declare_topology
from tests.support import drain_queue, hub_cli, make_report

pytestmark = pytest.mark.integration

# Deeper than any JSON parser's recursion limit: a contractor's "status" as a dead letter.
DEEP = b'{"work_order_id": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"


async def dead_letter(amqp_url: str, consumer: str, body: bytes, message_id: str, failed_at: dt.datetime) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(DEAD_LETTER_EXCHANGE.name, ensure=False)
        headers = {HEADER_ERROR: "ValueError: unreadable", HEADER_CONSUMER: consumer,
                   HEADER_FAILED_AT: failed_at.isoformat()}  # fmt: skip
        await exchange.publish(
            aio_pika.Message(body, message_id=message_id, headers=headers, content_type="application/json"),
            routing_key=consumer_queue_name(consumer),
        )


async def test_an_unparsable_dead_letter_is_skipped_with_a_count_and_the_others_are_scrubbed(
    clean_broker: str, postgres_url: str
) -> None:
    run = uuid.uuid4().hex[:8]
    settings = Settings()
    await declare_topology(
        clean_broker, hub_topology(CONSUMERS, Domain.load(settings).catalogue.assignees),
        retry_delay_ms=settings.consuming.retry_delay_ms, delivery_limit=settings.consuming.delivery_limit,
    )  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    victim = make_report(random.Random(1), 1, run=run, category="waste.missed_collection")
    old = make_report(random.Random(2), 2, run=run, category="waste.missed_collection")
    assert victim.reporter is not None
    assert old.reporter is not None
    # The planted one first, in the queue of the first consumer, and again beside the copies to scrub.
    await dead_letter(clean_broker, "router", DEEP, f"dl-deep-1-{run}", now)
    await dead_letter(clean_broker, "router", victim.model_dump_json().encode(), f"dl-victim-{run}", now)
    await dead_letter(clean_broker, "status", DEEP, f"dl-deep-2-{run}", now)
    await dead_letter(
        clean_broker, "spikes", old.model_dump_json().encode(), f"dl-old-{run}", now - dt.timedelta(days=800)
    )
    env = {"HUB_AMQP_URL": clean_broker, "HUB_DATABASE_URL": postgres_url}

    code, output = await hub_cli("privacy", "erase", "--report", victim.report_id, env=env)
    assert code == 0, output
    assert "dead letters:       1 scrubbed" in output, output
    assert "unreadable skipped: 2 dead letter(s)" in output, output
    assert "unreachable" not in output

    code, output = await hub_cli("privacy", "retention", "--dry-run", env=env)
    assert code == 0, output
    assert "dead letters that would be scrubbed: 1" in output, output  # the copy that failed 800 days ago
    assert "unreadable dead letters skipped: 2" in output, output
    code, output = await hub_cli("privacy", "retention", "--apply", env=env)
    assert code == 0, output
    assert "dead letters scrubbed: 1" in output, output
    assert "unreadable dead letters skipped: 2" in output, output

    # On the broker: the copies without their reporter, the planted letters left as they were (nothing lost).
    router = await drain_queue(clean_broker, dead_letter_queue_name("router"), expect=2, settle=0.3)
    status = await drain_queue(clean_broker, dead_letter_queue_name("status"), expect=1, settle=0.3)
    spikes = await drain_queue(clean_broker, dead_letter_queue_name("spikes"), expect=1, settle=0.3)
    assert sorted(router.message_ids) == sorted([f"dl-deep-1-{run}", f"dl-victim-{run}"])
    assert status.raw == [DEEP]
    for queue, message_id, person in (
        (router, f"dl-victim-{run}", victim.reporter),
        (spikes, f"dl-old-{run}", old.reporter),
    ):
        body = queue.raw[queue.message_ids.index(message_id)]
        assert "reporter" not in json.loads(body)
        assert str(person.phone) not in body.decode()
    assert router.raw[router.message_ids.index(f"dl-deep-1-{run}")] == DEEP
