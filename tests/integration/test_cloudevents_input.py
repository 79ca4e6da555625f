"""Messages as the official CloudEvents SDK (`cloudevents` on PyPI) writes them reach the hub under their event id.

Its AMQP binding writes `cloudEvents_*` application properties (the JMS-safe prefix), its RabbitMQ binding `ce-*`
headers, and both write structured mode (`application/cloudevents+json`, the event in the body). Each event is
published twice (a producer unsure whether its publish went through): applied once, under the event's id. A message
with no id at all (no CloudEvents id, no AMQP message-id) is dead-lettered with the reason, every copy.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any

import aio_pika
import pika
import pytest
from cloudevents.core.bindings import amqp as ce_amqp
from cloudevents.core.bindings import rabbitmq as ce_rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy import select

from consumers.router.tables import Report
from contracts import ReportFiled
from hub.bootstrap import build_hub
from hub.settings import Settings
from infra.consuming import HEADER_ERROR
from infra.db.tables import InboxEntry
from tests.support import drain_queue, make_report

pytestmark = pytest.mark.integration


def event_for(report: ReportFiled, event_id: str) -> CloudEvent:
    attributes = {
        "id": event_id,
        "source": "/city/test",
        "type": ReportFiled.ce_type,
        "datacontenttype": "application/json",
    }
    return CloudEvent(attributes=attributes, data=json.loads(report.model_dump_json()))


def sdk_messages(report: ReportFiled, event_id: str, form: str) -> tuple[dict[str, Any], str | None, bytes]:
    """Headers, content type and body of the event in one of the SDK's forms."""
    event, fmt = event_for(report, event_id), JSONFormat()
    if form == "amqp-binary":
        m = ce_amqp.to_binary(event, fmt)
        return m.application_properties, m.properties.get("content-type"), m.application_data
    if form == "amqp-structured":
        m = ce_amqp.to_structured(event, fmt)
        return m.application_properties, m.properties.get("content-type"), m.application_data
    if form == "rabbitmq-binary":
        r = ce_rabbitmq.to_binary(event, fmt)
        return dict(r.headers), r.content_type, r.body
    r = ce_rabbitmq.to_structured(event, fmt)
    return dict(r.headers), r.content_type, r.body


FORMS = ("amqp-binary", "amqp-structured", "rabbitmq-binary", "rabbitmq-structured")


def publish_without_any_id(url: str, body: bytes, copies: int) -> None:
    """pika sends no message-id unless told (aio-pika would make one up)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for _ in range(copies):
            channel.basic_publish(
                "city.events",
                "report.filed",
                body,
                pika.BasicProperties(content_type="application/json", delivery_mode=2),
                mandatory=True,
            )
    finally:
        connection.close()


async def test_every_sdk_form_is_applied_once_under_its_event_id_and_no_id_is_refused(
    clean_broker: str, postgres_url: str
) -> None:
    hub = build_hub(Settings(amqp_url=clean_broker, database_url=postgres_url), consumers=["router"])
    await hub.start()
    run = uuid.uuid4().hex[:8]
    rng = random.Random(5)
    reports = {form: make_report(rng, i, run=run, category="road.damage") for i, form in enumerate(FORMS)}
    event_ids = {form: f"ce-{form}-{run}" for form in FORMS}
    anonymous = make_report(rng, 99, run=run, category="road.damage")
    try:
        connection = await aio_pika.connect(clean_broker)
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.get_exchange("city.events", ensure=False)
            for form in FORMS:
                headers, content_type, body = sdk_messages(reports[form], event_ids[form], form)
                for _ in range(2):  # twice; aio-pika gives each copy a random AMQP message-id of its own
                    await exchange.publish(
                        aio_pika.Message(body, headers=headers, content_type=content_type, delivery_mode=2),
                        routing_key="report.filed",
                        mandatory=True,
                    )
        await asyncio.to_thread(publish_without_any_id, clean_broker, anonymous.model_dump_json().encode(), 2)
        dead = await drain_queue(clean_broker, "hub.router.dlq", expect=2, timeout=20)

        async def stored() -> tuple[set[str], set[str]]:
            async with hub.sessions() as session:
                inbox = set(
                    (
                        await session.execute(select(InboxEntry.message_id).where(InboxEntry.consumer == "router"))
                    ).scalars()
                )
                report_ids = set((await session.execute(select(Report.report_id))).scalars())
            return inbox, report_ids

        for _ in range(100):
            inbox, report_ids = await stored()
            if len(report_ids) >= len(FORMS):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # the second copies too
        inbox, report_ids = await stored()
    finally:
        await hub.stop()
    # Each form applied, once, under its CloudEvents id: the random AMQP ids of the copies never reached the inbox.
    assert report_ids == {r.report_id for r in reports.values()}
    assert inbox == set(event_ids.values())
    # No id at all: refused with the reason, both copies; nothing applied.
    assert len(dead.raw) == 2
    assert all("message has no id" in str(h[HEADER_ERROR]) for h in dead.headers)
    assert anonymous.report_id not in report_ids
