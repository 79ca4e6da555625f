"""The signed status callback answers "unknown work order" alike for an order that does not exist and for another
contractor's: its 409 never tells a contractor that a report exists, nor whom it went to."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import uuid

import pytest
from sqlalchemy import select

from consumers.router.tables import WorkOrder
from hub.bootstrap import build_hub
from hub.settings import Settings
from tests.integration.test_contractor_callback import PATH, callback_client, signed
from tests.support import CitySystem, make_report

pytestmark = pytest.mark.integration


async def test_the_callback_refuses_a_missing_and_another_contractors_order_in_the_same_words(
    clean_broker: str, postgres_url: str
) -> None:
    hub = build_hub(Settings(amqp_url=clean_broker, database_url=postgres_url), consumers=["router"])
    await hub.start()
    try:
        report = make_report(random.Random(13), 1, run=uuid.uuid4().hex[:8], category="lighting.defect")
        async with CitySystem(clean_broker) as city:
            await city.publish_report(report)
        theirs = None
        for _ in range(200):
            async with hub.sessions() as session:
                theirs = (await session.execute(select(WorkOrder.work_order_id))).scalar_one_or_none()
            if theirs:
                break
            await asyncio.sleep(0.1)
        assert theirs is not None, "the grid operator's work order"
    finally:
        await hub.stop()
    missing = f"wo-{uuid.uuid4().hex}"
    answers = {}
    async with callback_client(postgres_url) as client:  # signed as the waste company
        for label, order in (("theirs", theirs), ("missing", missing)):
            body = json.dumps(
                {
                    "work_order_id": order,
                    "assignee": "waste_company",
                    "status": "accepted",
                    "changed_at": dt.datetime.now(dt.UTC).isoformat(),
                }
            ).encode()
            answer = await client.post(PATH, content=body, headers=signed(body))
            assert answer.status_code == 409, answer.text
            answers[label] = answer.json()["error"]
    assert answers["theirs"] == f"PermanentError: unknown work order {theirs}"
    assert answers["missing"] == f"PermanentError: unknown work order {missing}"
