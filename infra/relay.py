"""The outbox relay: publishes committed outbox rows with publisher confirms, then marks them published.

Two paths, one guarantee (a committed row is published at least once; consumers deduplicate on its message id):
  * hand-off, the hot path: the writer of a transaction (a consumer's batcher, the spike detector, the privacy
    job) hands its new rows to the relay of its own process right after the commit. They are published at once
    from memory, without reading them back, each batch without waiting for the confirms of the one before, and
    the confirmed ones are marked published together every `mark_interval_s`. Reading the rows back in
    rounds that each waited for their slowest confirm made a work order wait for the round before it
    (benchmarks/README.md: p50 0.6 s, p99 3 s at 200 reports/s), and cost a transaction per round;
  * the sweep, the safety net: rows still unpublished `sweep_after_s` after their commit (their process died
    before publishing or marking them, the broker refused them, a writer without a relay) are read in rounds,
    `FOR UPDATE SKIP LOCKED` on PostgreSQL so each goes to one replica, published, and marked. Until then a
    row belongs to the process that wrote it, so replicas do not publish each other's fresh rows twice; a hand-off
    whose publish, confirm and mark outlast `sweep_after_s` can still go out twice (4,302 messages for 3,318 work
    orders under load with `hub run --workers 2`, benchmarks/README.md), with the same message id.
A crash between the broker's confirm and the mark republishes a row with the same message id: at-least-once
publish, exactly-once effect. A row whose publish failed keeps its error and is tried again by the sweep after a
growing back-off (`next_attempt_at`), so failing rows never crowd fresh ones out of a sweep round; one the broker
returned as unroutable (mandatory flag, no queue bound) `max_attempts` times is parked (`parked_at`): no relay
tries it again until an operator clears `parked_at`. Only the broker's own answer about a message (returned or
nacked) counts as an attempt and grows its back-off: a publish lost with the connection or the channel (a node
going away, a timeout) says nothing about the row, so it is tried again after `retry_backoff_s` whatever
happened before. Counting those made a row that failed a few times during a node's failover wait up to
`max_backoff_s` (300 s) once the cluster was healthy again.

Messages in flight (published, confirm not yet in) are bounded by `max_in_flight`. aiormq publishes one message
at a time per channel (it holds the channel lock until the frames are written, and RabbitMQ's flow control slows
that writing under load), and a publish's timeout ran from the moment it was started: with thousands started at
once (8 batches of 500 during a year's replay) the last ones spent their 30 s waiting for the lock and failed
with TimeoutError without ever being sent, and the sweep published them 10 s later, after newer messages (a
`spike.resolved` before its `spike.detected`). Now a message waits for a slot without a deadline, in order, and
the timeout covers only its own publish and confirm.

Urgent messages (routing keys starting with one of `urgent_prefixes`: the hub passes `spike.`) have a lane of their
own: their own list, one batch at a time in the order they were handed over, on a channel of their own, outside
`max_in_flight`. In a year's replay an alert waited 0.7-11.9 s behind 17-136 work orders and status changes of
its own process on the one channel, and the router, getting it late, gave the incident's next reports orders of
their own instead of folding them into the incident order (docs/incidents.md). Order is kept within each lane;
no consumer depends on the order between an alert and a work order.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra import amqp, cloudevents
from infra.clock import utcnow
from infra.db.dialect import chunks
from infra.db.tables import OutboxMessage
from infra.errors import describe
from infra.outbox import Outgoing

log = logging.getLogger(__name__)

# Failed messages logged one by one per round; the rest as a count.
_LOGGED_FAILURES = 10


class Published(Protocol):
    """What the relay tells `on_published` of each confirmed message."""

    @property
    def message_id(self) -> str: ...

    @property
    def routing_key(self) -> str: ...


class OutboxRelay:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        amqp_url: str,
        *,
        batch_size: int = 500,
        poll_interval_s: float = 0.5,
        sweep_after_s: float = 10.0,
        mark_interval_s: float = 0.05,
        max_batches_in_flight: int = 8,
        max_in_flight: int = 256,
        publish_timeout_s: float = 30.0,
        max_attempts: int = 8,
        retry_backoff_s: float = 1.0,
        max_backoff_s: float = 300.0,
        urgent_prefixes: Sequence[str] = (),
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessions = session_factory
        self._amqp_url = amqp_url
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._sweep_after = dt.timedelta(seconds=sweep_after_s)
        self._mark_interval_s = mark_interval_s
        self._clock = clock
        self._publish_timeout_s = publish_timeout_s
        self._max_attempts = max_attempts
        self._retry_backoff_s = retry_backoff_s
        self._max_backoff_s = max_backoff_s
        # Published and not yet confirmed: waiting here costs no deadline, and keeps the order messages came in.
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        # The urgent lane: its messages, in hand-off order, published a batch at a time on a channel of their own.
        self._urgent_prefixes = tuple(urgent_prefixes)
        self._urgent: list[tuple[Outgoing, dt.datetime]] = []
        self._urgent_ready = asyncio.Event()
        self._urgent_channel: AbstractChannel | None = None
        self._urgent_exchanges: dict[str, AbstractExchange] = {}
        self._tasks: list[asyncio.Task[None]] = []
        # Hand-off: messages waiting to be published, batches being published, ids confirmed but not yet marked.
        self._handed: list[tuple[Outgoing, dt.datetime]] = []
        self._handed_ready = asyncio.Event()
        self._slots = asyncio.Semaphore(max_batches_in_flight)
        self._batches: set[asyncio.Task[None]] = set()
        self._to_mark: list[str] = []
        self._mark_ready = asyncio.Event()
        # Message ids this process was handed and has not marked yet: its own sweep leaves them alone.
        self._owned: set[str] = set()
        # When each message waiting in `_handed` or for an in-flight slot was handed over (time.monotonic()).
        self._handed_at: dict[str, float] = {}
        self._sweep_after_half_s = sweep_after_s / 2
        self.published = 0
        self.failed = 0
        # Metrics: told which messages the broker confirmed, e.g. to count work orders per assignee.
        self.on_published: Callable[[Sequence[Published]], None] | None = None

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def handoff(self, messages: Sequence[Outgoing], committed_at: dt.datetime) -> None:
        """Called right after a commit that wrote these outbox rows: publish them now, from memory."""
        if not messages:
            return
        if not self.running:
            return  # not started (or stopping): the sweep publishes them
        self._owned.update(m.message_id for m in messages)
        handed_at = time.monotonic()
        self._handed_at.update((m.message_id, handed_at) for m in messages)
        for m in messages:
            (self._urgent if self._is_urgent(m) else self._handed).append((m, committed_at))
        if self._urgent:
            self._urgent_ready.set()
        if self._handed:
            self._handed_ready.set()

    def _is_urgent(self, message: Outgoing) -> bool:
        return bool(self._urgent_prefixes) and message.routing_key.startswith(self._urgent_prefixes)

    async def start(self) -> None:
        await self._connect()
        self._tasks = [
            asyncio.create_task(self._run_handed(), name="outbox-relay-handoff"),
            asyncio.create_task(self._run_urgent(), name="outbox-relay-urgent"),
            asyncio.create_task(self._run_marks(), name="outbox-relay-marks"),
            asyncio.create_task(self._run_sweep(), name="outbox-relay-sweep"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # What was handed over is published, what was confirmed is marked: a clean shutdown leaves no row that
        # only a sweep `sweep_after_s` later would publish (a second time).
        with contextlib.suppress(Exception):
            if self._batches:  # the batches in flight first, so that each lane keeps its order
                await asyncio.gather(*self._batches, return_exceptions=True)
            while self._urgent:
                await self._publish_handed(self._take_urgent(), expire=False, urgent=True)
            while self._handed:
                await self._publish_handed(self._take_handed(), expire=False)
            await self._mark()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _connect(self) -> None:
        if self._connection is None:
            self._connection = await amqp.connect_robust(self._amqp_url, "relay")
        if self._channel is None or self._channel.is_closed:
            self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            self._exchanges.clear()
        if self._urgent_prefixes and (self._urgent_channel is None or self._urgent_channel.is_closed):
            self._urgent_channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            self._urgent_exchanges.clear()

    async def _exchange(self, name: str, *, urgent: bool = False) -> AbstractExchange:
        channel, exchanges = (
            (self._urgent_channel, self._urgent_exchanges) if urgent else (self._channel, self._exchanges)
        )
        assert channel is not None
        if name not in exchanges:
            exchanges[name] = channel.default_exchange if name == "" else await channel.get_exchange(name, ensure=False)
        return exchanges[name]

    # ------------------------------------------------------------------------------------------ hand-off

    def _take_handed(self) -> list[tuple[Outgoing, dt.datetime]]:
        batch, self._handed = self._handed[: self._batch_size], self._handed[self._batch_size :]
        if not self._handed:
            self._handed_ready.clear()
        return batch

    async def _run_handed(self) -> None:
        while True:
            await self._handed_ready.wait()
            await self._slots.acquire()
            batch = self._take_handed()
            task = asyncio.create_task(self._publish_handed(batch), name="outbox-relay-batch")
            self._batches.add(task)
            task.add_done_callback(self._batch_done)

    def _take_urgent(self) -> list[tuple[Outgoing, dt.datetime]]:
        batch, self._urgent = self._urgent[: self._batch_size], self._urgent[self._batch_size :]
        if not self._urgent:
            self._urgent_ready.clear()
        return batch

    async def _run_urgent(self) -> None:
        while True:
            await self._urgent_ready.wait()
            task = asyncio.create_task(
                self._publish_handed(self._take_urgent(), urgent=True), name="outbox-relay-urgent-batch"
            )
            self._batches.add(task)
            task.add_done_callback(self._urgent_done)
            # One batch at a time keeps the lane's order; shielded, so that stop() cancelling this loop lets the
            # batch finish (and be marked) instead of leaving it, published, to a later sweep.
            with contextlib.suppress(Exception):
                await asyncio.shield(task)

    def _urgent_done(self, task: asyncio.Task[None]) -> None:
        self._batches.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("outbox urgent hand-off batch failed: %s", describe(exc))  # its rows are the sweep's

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._batches.discard(task)
        self._slots.release()
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("outbox hand-off batch failed: %s", describe(exc))

    async def _send_handed(self, message: Outgoing, committed_at: dt.datetime, *, expire: bool, urgent: bool) -> None:
        async with contextlib.nullcontext() if urgent else self._in_flight:
            handed_at = self._handed_at.pop(message.message_id, None)
            # A hand-off that waited (here or for a slot) past half of `sweep_after_s` is left to the sweep, which
            # publishes it once under the row's lock. Published from here as well, it went out twice whenever
            # another replica's sweep took it first: under load `hub run --workers 2` put 5,661-6,298 messages on
            # the assignee queues for about 3,300 work orders (benchmarks/e2e). Monotonic: the writer's clock may
            # be another one (a test's fixed time).
            if expire and handed_at is not None and time.monotonic() - handed_at > self._sweep_after_half_s:
                raise _LeftToSweep
            await self._publish(message, committed_at, urgent=urgent)

    async def _publish_handed(
        self, batch: list[tuple[Outgoing, dt.datetime]], *, expire: bool = True, urgent: bool = False
    ) -> None:
        if not batch:
            return
        try:
            await self._connect()
            results: list[BaseException | None] = await asyncio.gather(
                *(
                    self._send_handed(message, committed_at, expire=expire, urgent=urgent)
                    for message, committed_at in batch
                ),
                return_exceptions=True,
            )
        except Exception as channel_exc:  # no channel: every message of the batch failed the same way
            results = [channel_exc] * len(batch)
        for message, _ in batch:
            self._handed_at.pop(message.message_id, None)
        left = [
            message.message_id
            for (message, _), res in zip(batch, results, strict=True)
            if isinstance(res, _LeftToSweep)
        ]
        if left:
            self._owned.difference_update(left)
            log.info("outbox hand-off behind: %d messages left to the sweep", len(left))
            batch, results = (
                [item for item, res in zip(batch, results, strict=True) if not isinstance(res, _LeftToSweep)],
                [res for res in results if not isinstance(res, _LeftToSweep)],
            )
        confirmed = [message for (message, _), res in zip(batch, results, strict=True) if res is None]
        failed = [(message, res) for (message, _), res in zip(batch, results, strict=True) if res is not None]
        self._confirmed(confirmed)
        if failed:
            # Left to the sweep: the row stays unpublished with its error, this process no longer claims it.
            self._owned.difference_update(message.message_id for message, _ in failed)
            self.failed += len(failed)
            with contextlib.suppress(Exception):
                async with self._sessions() as session, session.begin():
                    await self._record_failures(session, [(message, error, 1) for message, error in failed])

    def _confirmed(self, messages: Sequence[Published]) -> None:
        if not messages:
            return
        self.published += len(messages)
        self._to_mark.extend(m.message_id for m in messages)
        self._mark_ready.set()
        if self.on_published is not None:
            self.on_published(messages)

    async def _run_marks(self) -> None:
        backoff = self._mark_interval_s
        while True:
            await self._mark_ready.wait()
            # Coalesce: one UPDATE for everything confirmed within the interval.
            await asyncio.sleep(backoff)
            try:
                await self._mark()
                backoff = self._mark_interval_s
            except Exception as exc:
                log.warning("outbox rows not marked published yet: %s", describe(exc))
                backoff = min(max(backoff * 2, 0.5), 10.0)

    async def _mark(self) -> None:
        self._mark_ready.clear()
        ids, self._to_mark = self._to_mark, []
        if not ids:
            return
        try:
            now = self._clock()
            async with self._sessions() as session, session.begin():
                for chunk in chunks(ids):
                    await session.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.message_id.in_(chunk), OutboxMessage.published_at.is_(None))
                        .values(published_at=now)
                    )
        except BaseException:
            self._to_mark[:0] = ids  # marked later; a sweep meanwhile would only republish a duplicate
            self._mark_ready.set()
            raise
        self._owned.difference_update(ids)

    # --------------------------------------------------------------------------------------------- sweep

    async def _run_sweep(self) -> None:
        backoff = self._poll_interval_s
        while True:
            try:
                published = await self.publish_pending()
                backoff = self._poll_interval_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay round failed: %s", describe(exc))
                backoff = min(backoff * 2, 10.0)
                published = 0
            if published < self._batch_size:  # else a backlog: go on at once
                await asyncio.sleep(backoff)

    async def publish_pending(self) -> int:
        """Publish one batch of the rows left unpublished `sweep_after_s` after their commit; how many were confirmed."""
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
        now = self._clock()
        stmt = (
            select(OutboxMessage)
            .where(
                OutboxMessage.published_at.is_(None),
                OutboxMessage.parked_at.is_(None),
                or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
                # A row its writer handed to its own relay is that relay's for `sweep_after_s`; any other at once.
                or_(OutboxMessage.handed_off.is_(False), OutboxMessage.created_at <= now - self._sweep_after),
            )
            # Rows never tried first: however many keep failing, a fresh row is in the next round.
            .order_by(OutboxMessage.attempts, OutboxMessage.id)
            .limit(self._batch_size)
        )
        if lock:
            stmt = stmt.with_for_update(skip_locked=True)
        return [row for row in (await session.execute(stmt)).scalars() if row.message_id not in self._owned]

    async def _publish_rows(self, session: AsyncSession, rows: list[OutboxMessage]) -> int:
        if not rows:
            return 0
        results = await asyncio.gather(*(self._send(row, row.created_at) for row in rows), return_exceptions=True)
        now = self._clock()
        ok_ids = [row.id for row, res in zip(rows, results, strict=True) if res is None]
        if ok_ids:
            await session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ok_ids)).values(published_at=now))
        await self._record_failures(
            session,
            [
                (row, res, row.attempts + 1)
                for row, res in zip(rows, results, strict=True)
                if isinstance(res, BaseException)
            ],
        )
        self.published += len(ok_ids)
        self.failed += len(rows) - len(ok_ids)
        if self.on_published is not None and ok_ids:
            self.on_published([row for row, res in zip(rows, results, strict=True) if res is None])
        return len(ok_ids)

    async def _record_failures(
        self, session: AsyncSession, failures: Sequence[tuple[Outgoing | OutboxMessage, BaseException, int]]
    ) -> None:
        """Keep each error; the next attempt after a back-off; park a row the broker could not route `max_attempts`
        times. One executemany for the lot, and a few log lines per round, however many rows failed."""
        if not failures:
            return
        now = self._clock()
        params: list[dict[str, Any]] = []
        for n, (message, exc, attempts) in enumerate(failures):
            error = f"{type(exc).__name__}: {exc}"[:1000]
            # Returned, nacked, or its exchange missing: the broker's answer about this row.
            answered = isinstance(exc, aio_pika.exceptions.DeliveryError | aiormq.exceptions.ChannelNotFoundEntity)
            if not answered:  # the transport failed: not an attempt of this row's
                attempts -= 1
            backoff = min(self._retry_backoff_s * 2 ** max(attempts - 1, 0), self._max_backoff_s)
            park = isinstance(exc, aio_pika.exceptions.PublishError) and attempts >= self._max_attempts
            params.append(
                {
                    "b_message_id": message.message_id,
                    "b_counted": 1 if answered else 0,
                    "b_error": error,
                    "b_next": now + dt.timedelta(seconds=backoff),
                    "b_parked": now if park else None,
                }
            )
            if n < _LOGGED_FAILURES:
                log.error(
                    "outbox message %s to %s/%s not published (%s%s): %s",
                    message.message_id,
                    message.exchange,
                    message.routing_key,
                    f"attempt {attempts}" if answered else "connection",
                    ", parked" if park else "",
                    error,
                )
        if len(failures) > _LOGGED_FAILURES:
            log.error("%d more outbox messages not published in this round", len(failures) - _LOGGED_FAILURES)
        outbox = OutboxMessage.__table__.c
        stmt = (
            update(OutboxMessage.__table__)  # type: ignore[arg-type]  # the Core table: executemany by message id
            .where(outbox.message_id == bindparam("b_message_id"))
            .values(
                attempts=outbox.attempts + bindparam("b_counted"),
                last_error=bindparam("b_error"),
                next_attempt_at=bindparam("b_next"),
                parked_at=bindparam("b_parked"),
            )
        )
        await session.execute(stmt, params)

    async def _send(self, message: Outgoing | OutboxMessage, created_at: dt.datetime) -> None:
        async with self._in_flight:
            await self._publish(message, created_at)

    async def _publish(
        self, message: Outgoing | OutboxMessage, created_at: dt.datetime, *, urgent: bool = False
    ) -> None:
        exchange = await self._exchange(message.exchange, urgent=urgent)
        amqp_message = aio_pika.Message(
            body=message.body,
            headers=message.headers,
            content_type=message.content_type if isinstance(message, OutboxMessage) else cloudevents.CONTENT_TYPE,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            type=message.message_type,
            app_id="city-contact-hub",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            timestamp=created_at,
        )
        # mandatory: a message no queue takes is returned and raises, instead of vanishing.
        await exchange.publish(
            amqp_message, routing_key=message.routing_key, mandatory=True, timeout=self._publish_timeout_s
        )


class _LeftToSweep(Exception):
    """A hand-off given up to the sweep (not an error: the row stays pending for any relay's sweep)."""


async def pending_count(session_factory: async_sessionmaker[AsyncSession]) -> int:
    async with session_factory() as session:
        result = await session.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.published_at.is_(None), OutboxMessage.parked_at.is_(None))
        )
        return int(result.scalar_one())


async def parked_count(session_factory: async_sessionmaker[AsyncSession]) -> int:
    """Rows no relay tries any more (unroutable `max_attempts` times): an operator's to look at."""
    async with session_factory() as session:
        result = await session.execute(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.parked_at.is_not(None))
        )
        return int(result.scalar_one())
