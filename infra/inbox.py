"""Inbox retention: processed message ids are kept `retention_days` for deduplication, then deleted.

The window must outlast every way a message can come again: the retry rounds (seconds), a city system's
re-publish, and a dead letter replayed days later (`hub dlq replay`, reliability item 6: at least 7 days).
`hub run` prunes periodically; each round deletes in bounded batches, and on PostgreSQL each batch takes its
rows `FOR UPDATE SKIP LOCKED`, so replicas pruning at the same time never wait for each other nor delete a row
twice, and no batch holds locks long beside the consumers' inbox inserts.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra.clock import Clock, utcnow
from infra.db.tables import InboxEntry

log = logging.getLogger(__name__)


class InboxPruner:
    """One pruning round per call: every inbox row processed more than `retention_days` ago; how many went."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        retention_days: float,
        batch_size: int = 5_000,
        clock: Clock = utcnow,
    ) -> None:
        if retention_days < 7:
            raise ValueError("the inbox must keep message ids at least 7 days (dead letters are replayed that late)")
        self._sessions = sessions
        self._retention = dt.timedelta(days=retention_days)
        self._batch_size = batch_size
        self._clock = clock

    async def __call__(self) -> int:
        cutoff = self._clock() - self._retention
        inbox = InboxEntry.__table__.c
        expired = (
            select(inbox.consumer, inbox.message_id)
            .where(inbox.processed_at < cutoff)
            .limit(self._batch_size)
            .with_for_update(skip_locked=True)  # SQLite (one writer at a time) has no row locks: left out there
        )
        stmt = delete(InboxEntry).where(tuple_(inbox.consumer, inbox.message_id).in_(expired))
        total = 0
        while True:
            async with self._sessions() as session, session.begin():
                deleted = int((await session.execute(stmt)).rowcount or 0)  # type: ignore[attr-defined]
            total += deleted
            if deleted < self._batch_size:
                break
        if total:
            log.info("inbox pruned", extra={"deleted": total, "before": cutoff.isoformat()})
        return total
