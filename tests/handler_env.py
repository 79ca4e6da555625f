"""Run a consumer's handler as the batcher runs it, on in-memory SQLite, with no broker and a fixed clock.

    out = await env.handle(service.apply, report, "m-1")
    out.rows("work_orders", "assignee")  ->  [{"assignee": "waste_company"}]
    out.emitted                          ->  [("workorder.issued.waste_company", {...the message...})]

`handle` submits one delivery to a real `TransactionBatcher` (inbox, deferred rows, commit hooks, outbox),
so a handler is tested with the same transaction it gets in production; `emitted` is what that transaction
wrote to the outbox (the relay would publish exactly that), `rows` what a table holds afterwards.
The outside (SMTP, HTTP, the broker) is never reached: senders are not part of a handler.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from infra.batcher import TransactionBatcher
from infra.db import Base, create_session_factory

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


@dataclass
class Outcome:
    """What one delivery left behind: its outbox messages, and the tables to look into."""

    applied: bool
    emitted: list[tuple[str, dict[str, Any]]]
    _tables: dict[str, list[dict[str, Any]]] = field(repr=False)

    def rows(self, table: str, *columns: str) -> list[dict[str, Any]]:
        """The rows of `table` (only `columns`, when given), in insertion order."""
        return [{c: row[c] for c in columns} if columns else row for row in self._tables[table]]


@dataclass
class HandlerEnv:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    consumer: str = "test"
    clock: Callable[[], dt.datetime] = lambda: NOW
    _outbox_seen: int = 0
    _deliveries: int = 0

    @classmethod
    async def create(cls) -> HandlerEnv:
        # One connection for the whole test: an in-memory database lives as long as its connection.
        engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        return cls(engine, create_session_factory(engine))

    async def handle(
        self, handler: Callable[..., Awaitable[Any]], message: Any, *args: Any, message_id: str | None = None
    ) -> Outcome:
        """Deliver `message` to `handler(session, message, *args)` once, in its own committed transaction."""
        self._deliveries += 1
        batcher = TransactionBatcher(self.consumer, self.sessions, max_size=1, max_wait_s=0, clock=self.clock)
        try:
            applied = await batcher.submit(
                message_id or f"delivery-{self._deliveries}", lambda session: handler(session, message, *args)
            )
        finally:
            await batcher.stop()
        return await self.outcome(applied)

    async def outcome(self, applied: bool = True) -> Outcome:
        async with self.sessions() as session:
            tables = {}
            for name, table in Base.metadata.tables.items():
                result = await session.execute(select(table).order_by(*_order(table)))
                tables[name] = [dict(row._mapping) for row in result]
        outbox = tables["outbox"][self._outbox_seen :]
        self._outbox_seen = len(tables["outbox"])
        emitted = [(row["routing_key"], json.loads(row["body"])) for row in outbox]
        return Outcome(applied, emitted, tables)

    async def close(self) -> None:
        await self.engine.dispose()


def _order(table: Table) -> list[Any]:
    return list(table.primary_key.columns) or list(table.columns)[:1]
