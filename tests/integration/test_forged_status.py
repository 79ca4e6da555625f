"""Figures a contractor cannot forge: the statistics count only validated changes (`workorder.status.applied`).

The hub in this process (router, status, stats) in a vhost of its own on PostgreSQL; contractors A and B with their
own provisioned broker users, publishing as an outside contractor would.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest
from sqlalchemy import func, select

from consumers.router.tables import WorkOrder
from consumers.stats.queries import Period
from consumers.stats.tables import StatWorkOrder
from consumers.stats.workorders import workorder_figures
from infra.consuming import HEADER_ERROR
from tests.support import CitySystem, drain_queue, make_report, until
from tests.trust_support import A, B, contractors_hub, queue_depth, status_body

pytestmark = pytest.mark.integration


async def test_a_contractor_cannot_forge_figures_and_a_backdated_done_closes(amqp_url: str, postgres_url: str) -> None:
    async with contractors_hub(amqp_url, postgres_url, ["router", "status", "stats"]) as c:
        sessions, tz = c.hub.sessions, c.hub.domain.calendar.tz
        run = uuid.uuid4().hex[:8]
        report = make_report(random.Random(7), 1, run=run, category="lighting.defect")  # B's: the grid operator
        async with CitySystem(c.url) as city:
            await city.publish_report(report)

        async def order_counted() -> bool:
            async with sessions() as session:
                return bool((await session.execute(select(func.count()).select_from(StatWorkOrder))).scalar_one())

        await until(order_counted, what="the work order in the statistics")
        async with sessions() as session:
            order = (await session.execute(select(WorkOrder).where(WorkOrder.assignee == B))).scalar_one()
        today = dt.datetime.now(tz).date()
        # The order counts in its report's filing period (event time), not on the day it was routed.
        filed = report.filed_at.astimezone(tz).date()
        period = Period(filed - dt.timedelta(days=2), filed + dt.timedelta(days=2))

        async def figures() -> tuple[int, int, int]:
            async with sessions() as session:
                f = (await workorder_figures(session, period, None, tz=tz, as_of=today))[""]
            return f.issued, f.done, f.rejected

        now = dt.datetime.now(dt.UTC)
        # A, on its own user, says B's order is done: refused by the status consumer, and no figure moves.
        await c.publish_status(A, status_body(order.work_order_id, B, "done", now), message_id=f"forged-{run}")
        # A asks about B's order as its own, and about an order that does not exist: the same answer for both.
        await c.publish_status(A, status_body(order.work_order_id, A, "done", now), message_id=f"theirs-{run}")
        missing = "wo-" + "0" * 32
        await c.publish_status(A, status_body(missing, A, "done", now), message_id=f"missing-{run}")
        await until(lambda: _depth(c.url, "hub.status.dlq", 3), what="A's attempts in hub.status.dlq")
        # B itself: in progress, then a done stamped before it (allowed: done follows in_progress), then a
        # forged reopening (accepted after done) that the state machine refuses.
        await c.publish_status(B, status_body(order.work_order_id, B, "in_progress", now + dt.timedelta(minutes=30)))
        await c.publish_status(B, status_body(order.work_order_id, B, "done", now + dt.timedelta(minutes=10)))
        await c.publish_status(B, status_body(order.work_order_id, B, "accepted", now + dt.timedelta(hours=1)))
        await until(lambda: _depth(c.url, "hub.status.dlq", 4), what="the reopening in hub.status.dlq")

        async def done_counted() -> bool:
            return (await figures())[1] == 1

        await until(done_counted, what="B's done in the statistics")
        async with sessions() as session:
            stored = await session.execute(select(WorkOrder).where(WorkOrder.work_order_id == order.work_order_id))
            assert stored.scalar_one().status == "done"
        # Done once, never rejected: neither the forged done, nor the refused reopening, nor the order of times changed it.
        assert await figures() == (1, 1, 0)
        dead = await drain_queue(c.url, "hub.status.dlq", expect=4, timeout=10)
    reasons = {mid.split("-")[0]: h[HEADER_ERROR] for mid, h in zip(dead.message_ids, dead.headers, strict=True)}
    assert "sends for 'waste_company' only" in reasons["forged"]
    # Whether it exists and is someone else's, or does not exist: "unknown work order", nothing more.
    assert reasons["theirs"] == f"PermanentError: unknown work order {order.work_order_id}"
    assert reasons["missing"] == f"PermanentError: unknown work order {missing}"


async def _depth(url: str, queue: str, n: int) -> bool:
    return await queue_depth(url, queue) >= n
