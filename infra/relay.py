"""The outbox relay: publishes committed outbox rows with publisher confirms, then marks them published.

Several relays (one per replica) may run against PostgreSQL: `FOR UPDATE SKIP LOCKED` gives each row to
one of them. A crash between the broker's confirm and the UPDATE republishes a row with the same message
id; consumers deduplicate on it (at-least-once publish, exactly-once effect).
An unroutable message (mandatory flag returned by the broker) is not marked published: it stays in the
outbox with the error, is retried, and shows in `hub outbox` and the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra.db.models import OutboxMessage

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OutboxRelay:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        amqp_url: str,
        *,
        batch_size: int = 500,
        poll_interval_s: float = 0.5,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessions = session_factory
        self._amqp_url = amqp_url
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._clock = clock
        self._wake = asyncio.Event()
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.failed = 0
        # Metrics: told which rows the broker confirmed, e.g. to count work orders per assignee.
        self.on_published: Callable[[list[OutboxMessage]], None] | None = None

    def wake(self) -> None:
        """Called after a commit that wrote outbox rows: publish now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # One last round so a clean shutdown leaves nothing behind that the broker could take.
        with contextlib.suppress(Exception):
            await self.publish_pending()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _connect(self) -> None:
        if self._connection is None:
            self._connection = await aio_pika.connect_robust(
                self._amqp_url, client_properties={"connection_name": "hub-relay"}
            )
        if self._channel is None or self._channel.is_closed:
            self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            self._exchanges.clear()

    async def _exchange(self, name: str) -> AbstractExchange:
        assert self._channel is not None
        if name not in self._exchanges:
            self._exchanges[name] = (
                self._channel.default_exchange if name == "" else await self._channel.get_exchange(name, ensure=False)
            )
        return self._exchanges[name]

    async def _run(self) -> None:
        backoff = self._poll_interval_s
        while True:
            try:
                published = await self.publish_pending()
                backoff = self._poll_interval_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay round failed: %s: %s", type(exc).__name__, exc)
                backoff = min(backoff * 2, 10.0)
                published = 0
                await asyncio.sleep(backoff)
            if published >= self._batch_size:
                continue  # backlog: go on at once
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), backoff)
            self._wake.clear()

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were confirmed."""
        await self._connect()
        async with self._sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                # Rows stay locked while they are published, so another replica's relay skips them.
                async with session.begin():
                    rows = await self._pending_rows(session, lock=True)
                    return await self._publish_rows(session, rows)
            # SQLite (one embedded process): read, publish, then write in a short transaction, because a
            # read transaction upgraded to a write fails at once when a consumer committed in between.
            async with session.begin():
                rows = await self._pending_rows(session, lock=False)
            async with session.begin():
                return await self._publish_rows(session, rows)

    async def _pending_rows(self, session: AsyncSession, *, lock: bool) -> list[OutboxMessage]:
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.published_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(self._batch_size)
        )
        if lock:
            stmt = stmt.with_for_update(skip_locked=True)
        return list((await session.execute(stmt)).scalars())

    async def _publish_rows(self, session: AsyncSession, rows: list[OutboxMessage]) -> int:
        if not rows:
            return 0
        results = await asyncio.gather(*(self._publish(row) for row in rows), return_exceptions=True)
        now = self._clock()
        ok_ids = [row.id for row, res in zip(rows, results, strict=True) if res is None]
        if ok_ids:
            await session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ok_ids)).values(published_at=now))
        for row, res in zip(rows, results, strict=True):
            if isinstance(res, BaseException):
                error = f"{type(res).__name__}: {res}"[:1000]
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id)
                    .values(attempts=OutboxMessage.attempts + 1, last_error=error)
                )
                log.error(
                    "outbox message %s to %s/%s not published: %s", row.message_id, row.exchange, row.routing_key, error
                )
        self.published += len(ok_ids)
        self.failed += len(rows) - len(ok_ids)
        if self.on_published is not None and ok_ids:
            self.on_published([row for row, res in zip(rows, results, strict=True) if res is None])
        return len(ok_ids)

    async def _publish(self, row: OutboxMessage) -> None:
        exchange = await self._exchange(row.exchange)
        message = aio_pika.Message(
            body=row.body,
            headers=row.headers,
            content_type=row.content_type,
            message_id=row.message_id,
            correlation_id=row.correlation_id,
            type=row.message_type,
            app_id="city-contact-hub",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            timestamp=row.created_at,
        )
        # mandatory: a message no queue takes is returned and raises, instead of vanishing.
        await exchange.publish(message, routing_key=row.routing_key, mandatory=True, timeout=30)


async def pending_count(session_factory: async_sessionmaker[AsyncSession]) -> int:
    async with session_factory() as session:
        result = await session.execute(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
        )
        return int(result.scalar_one())
