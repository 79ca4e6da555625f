"""Status updates and who sent them: deduplication per sender, conflicting bodies refused, replays keep the sender.

The hub in this process (router, status) in a vhost of its own on PostgreSQL; contractors A and B publish on their
own provisioned broker users.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest
from sqlalchemy import select

from consumers.contractors.tables import WorkOrderEvent
from consumers.router.tables import WorkOrder
from consumers.router.workorders import work_order_id
from infra.consuming import HEADER_ERROR
from infra.deadletters import DeadLetterQueue
from tests.support import CitySystem, drain_queue, make_report, until
from tests.trust_support import A, B, contractors_hub, queue_depth, status_body

pytestmark = pytest.mark.integration


async def test_ids_are_per_sender_a_changed_body_is_refused_and_a_replay_keeps_its_sender(
    amqp_url: str, postgres_url: str
) -> None:
    async with contractors_hub(amqp_url, postgres_url, ["router", "status"]) as c:
        sessions = c.hub.sessions
        run = uuid.uuid4().hex[:8]
        rng = random.Random(11)
        for_b = make_report(rng, 1, run=run, category="lighting.defect")
        for_a = make_report(rng, 2, run=run, category="waste.missed_collection")
        late = make_report(rng, 3, run=run, category="lighting.defect")  # filed after B's update about it
        async with CitySystem(c.url) as city:
            await city.publish_report(for_b)
            await city.publish_report(for_a)

        async def orders() -> dict[str, WorkOrder]:
            async with sessions() as session:
                return {o.assignee: o for o in (await session.execute(select(WorkOrder))).scalars()}

        async def both_issued() -> bool:
            return {A, B} <= set(await orders())

        await until(both_issued, what="A's and B's work orders")
        wo_a, wo_b = (await orders())[A].work_order_id, (await orders())[B].work_order_id
        now = dt.datetime.now(dt.UTC)
        shared = f"st-{run}"
        # B, then A, under the same message id: each its own message.
        await c.publish_status(B, status_body(wo_b, B, "accepted", now), message_id=shared)
        await c.publish_status(A, status_body(wo_a, A, "accepted", now), message_id=shared)
        # B again under that id: the same body is a duplicate; another body is refused, not silently dropped.
        await c.publish_status(B, status_body(wo_b, B, "accepted", now), message_id=shared)
        await c.publish_status(B, status_body(wo_b, B, "done", now), message_id=shared)
        # B reports on an order the hub does not know yet (its report comes later): dead-lettered.
        wo_late = work_order_id(late.report_id, B)
        await c.publish_status(B, status_body(wo_late, B, "accepted", now), message_id=f"early-{run}")
        await until(lambda: _depth(c.url, "hub.status.dlq", 2), what="two status dead letters")

        async def statuses() -> dict[str, str]:
            return {o.work_order_id: o.status for o in (await orders()).values()}

        async def a_accepted() -> bool:
            return (await statuses()).get(wo_a) == "accepted"

        await until(a_accepted, what="A's update under B's message id applied")
        letters = {letter.message_id: letter for letter in await DeadLetterQueue(c.url, "status").peek()}
        assert "applied before with another body" in letters[shared].error
        assert (await statuses())[wo_b] == "accepted"

        # The report arrives; replaying B's early update applies it, as B's (its verified user kept).
        async with CitySystem(c.url) as city:
            await city.publish_report(late)

        async def late_issued() -> bool:
            return wo_late in await statuses()

        await until(late_issued, what="the late report's work order")
        assert await DeadLetterQueue(c.url, "status").replay(f"early-{run}") == 1

        async def late_accepted() -> bool:
            return (await statuses()).get(wo_late) == "accepted"

        await until(late_accepted, what="the replayed update applied")
        async with sessions() as session:
            events = {
                (e.work_order_id, e.status): e.sender for e in (await session.execute(select(WorkOrderEvent))).scalars()
            }
        remaining = await drain_queue(c.url, "hub.status.dlq", timeout=5, settle=0.5)
    assert events == {
        (wo_b, "accepted"): f"amqp:{c.user(B)}",
        (wo_a, "accepted"): f"amqp:{c.user(A)}",
        (wo_late, "accepted"): f"amqp:{c.user(B)}",
    }
    # Only the conflicting body is left: the replay did not come back refused.
    assert remaining.message_ids == [shared]
    assert "another body" in str(remaining.headers[0][HEADER_ERROR])


async def _depth(url: str, queue: str, n: int) -> bool:
    return await queue_depth(url, queue) >= n
