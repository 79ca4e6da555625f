"""Inbox retention: `hub run` deletes processed message ids older than `HUB_INBOX_RETENTION_DAYS`, replica-safe."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, insert, select

from hub.bootstrap import build_hub
from hub.settings import ConsumingSettings, Settings
from infra.db.tables import InboxEntry
from infra.inbox import InboxPruner

pytestmark = pytest.mark.integration


async def test_hub_run_prunes_expired_inbox_rows_and_keeps_the_window(clean_broker: str, database_url: str) -> None:
    settings = Settings(
        amqp_url=clean_broker,
        database_url=database_url,
        consuming=ConsumingSettings(inbox_retention_days=7, inbox_prune_interval_s=0.3),
    )
    hub = build_hub(settings, consumers=["router"])
    await hub.prepare()
    now = dt.datetime.now(dt.UTC)
    old = [now - dt.timedelta(days=7, hours=1), now - dt.timedelta(days=400)]
    kept = [now - dt.timedelta(days=6, hours=23), now - dt.timedelta(minutes=1)]
    rows = [
        {"consumer": consumer, "message_id": f"{label}-{i}", "processed_at": at}
        for consumer in ("router", "stats")
        for label, times in (("old", old), ("kept", kept))
        for i in range(1500)
        for at in [times[i % 2]]
    ]
    async with hub.sessions() as session, session.begin():
        await session.execute(insert(InboxEntry), rows)

    async def count(prefix: str) -> int:
        async with hub.sessions() as session:
            stmt = select(func.count()).select_from(InboxEntry).where(InboxEntry.message_id.startswith(prefix))
            return int((await session.execute(stmt)).scalar_one())

    # Two other replicas pruning at the same moment, in small batches, beside the hub's own round.
    replicas = [InboxPruner(hub.sessions, retention_days=7, batch_size=250) for _ in range(2)]
    await hub.start()
    try:
        deleted = await asyncio.gather(*(replica() for replica in replicas))
        for _ in range(100):
            if await count("old-") == 0:
                break
            await asyncio.sleep(0.1)
        names = [job.name for job in hub.background if hasattr(job, "name")]
    finally:
        await hub.stop()
    assert "inbox-pruning" in names
    assert await count("old-") == 0
    assert await count("kept-") == 3000  # the window stays: a late replay is still recognised
    assert sum(deleted) <= 3000  # nobody deleted a row twice


async def test_a_window_shorter_than_the_replay_horizon_is_refused(sqlite_url: str) -> None:
    hub = build_hub(Settings(database_url=sqlite_url), consumers=["router"])
    with pytest.raises(ValueError, match="at least 7 days"):
        InboxPruner(hub.sessions, retention_days=3)
    await hub.engine.dispose()
