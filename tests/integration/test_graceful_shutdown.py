"""SIGTERM mid-stream: in-flight deliveries commit and are acked, or go back to the queue; nothing is half-applied."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from consumers.router.tables import Report, WorkOrder
from infra.db import create_engine, create_session_factory
from tests.integration.test_router_exactly_once import ROUTING, count_rows, expected_orders, hub_env, wait_for
from tests.support import CitySystem, HubProcess, make_report

pytestmark = pytest.mark.e2e


async def test_sigterm_drains_in_flight_work_and_a_restart_finishes_the_rest(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    rng = random.Random(77)
    run = uuid.uuid4().hex[:8]
    reports = [make_report(rng, i, run=run) for i in range(1500)]
    expected = expected_orders(reports)
    env = hub_env(clean_broker, postgres_url)
    hub = HubProcess("router", env=env, log_path=tmp_path / "hub.log").start()
    await hub.wait_ready(clean_broker)
    async with CitySystem(clean_broker) as city:
        await asyncio.gather(*(city.publish_report(r) for r in reports))
    await wait_for(postgres_url, 100)
    started = time.monotonic()
    assert hub.stop(timeout=30) == 0, hub.log_tail()
    stop_seconds = time.monotonic() - started
    routed_at_stop, orders_at_stop = await count_rows(postgres_url)

    # Whatever was committed is whole: every stored report has all its work orders.
    engine = create_engine(postgres_url)
    sessions = create_session_factory(engine)
    async with sessions() as session:
        per_report = dict(
            (await session.execute(select(WorkOrder.report_id, func.count()).group_by(WorkOrder.report_id))).all()
        )
        stored = set((await session.execute(select(Report.report_id))).scalars())
    await engine.dispose()
    wanted = {r.report_id: len(ROUTING.work_orders(r)) for r in reports}
    assert all(per_report.get(rid) == wanted[rid] for rid in stored)

    hub = HubProcess("router", env=env, log_path=tmp_path / "hub.log").start()
    try:
        await wait_for(postgres_url, len(reports))
    finally:
        hub.stop()
    assert await count_rows(postgres_url) == (len(reports), len(expected))
    assert routed_at_stop < len(reports), "SIGTERM came too late to test anything"
    assert stop_seconds < 20
    assert orders_at_stop == sum(wanted[rid] for rid in stored)
