"""Transient failures are retried after a delay, never in a hot loop, and nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import random
import uuid

import asyncpg
import pytest
from sqlalchemy import func, select

from consumers.router.tables import Report, WorkOrder
from hub.bootstrap import build_hub
from hub.settings import ConsumingSettings, Settings
from tests.support import CitySystem, make_report

pytestmark = pytest.mark.integration


async def _admin(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_database_outage_parks_deliveries_in_the_retry_queue_then_applies_them_once(
    clean_broker: str, postgres_url: str, postgres_admin_url: str
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    settings = Settings(
        amqp_url=clean_broker, database_url=postgres_url, consuming=ConsumingSettings(retry_delay_ms=1000)
    )
    hub = build_hub(settings, consumers=["router"])
    await hub.start()
    rng = random.Random(7)
    run = uuid.uuid4().hex[:8]
    reports = [make_report(rng, i, run=run, category="lighting.defect") for i in range(40)]
    try:
        # The database refuses every connection (as during a failover), and open ones are cut.
        await _admin(postgres_admin_url, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        await _admin(
            postgres_admin_url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        )
        async with CitySystem(clean_broker) as city:
            for report in reports:
                await city.publish_report(report)
        await asyncio.sleep(3.5)  # three retry rounds of 1 s
        policy = hub.policies["router"]
        retried_during_outage = policy.counts["retried"]
        await _admin(postgres_admin_url, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while loop.time() < deadline:
            async with hub.sessions() as session:
                routed = (await session.execute(select(func.count()).select_from(Report))).scalar_one()
            if routed == len(reports):
                break
            await asyncio.sleep(0.2)
        async with hub.sessions() as session:
            orders = (await session.execute(select(func.count()).select_from(WorkOrder))).scalar_one()
    finally:
        await _admin(postgres_admin_url, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await hub.stop()

    assert routed == len(reports)
    assert orders == len(reports)  # lighting.defect: one assignee each
    assert policy.counts["dead_lettered"] == 0
    # Every delivery failed and came back at most once per retry delay: about 3-4 rounds of 40, not thousands.
    assert len(reports) <= retried_during_outage <= len(reports) * 5, retried_during_outage
