"""Exactly-once effects at the throughput of batched transactions.

Each delivery hands the batcher its message id and a function that applies its effects to a session.
The batcher records `(consumer, message id)` in the inbox and applies the effects of all new deliveries in
ONE transaction, with the messages they emit written to the outbox. A delivery's `submit` returns only
after that transaction committed, so the caller acks after commit. A duplicate id changes nothing.
If a batch fails, its deliveries are retried one per transaction so a single bad delivery cannot sink
the others; a database outage fails them all at once (they are retried later by the broker).

Statements are the cost, not rows: one SQLAlchemy statement costs about as much CPU as twenty to thirty rows
of an executemany. So the inbox and the outbox are written with one constant statement per batch, and a consumer
can collect its own rows in a `deferred(session, ...)` accumulator that the batcher flushes once, after every
delivery of the transaction was applied and before the outbox is written. This is the hub's one way to write
rows at commit: the router's reports and work orders, the statistics' facts and counters, the spikes consumer's
step (which must see the whole batch in event-time order) all use it; what they emit goes through the one
`OutboxWriter`, handed to the relay after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra.clock import utcnow
from infra.db.dialect import insert_ignore
from infra.db.tables import InboxEntry
from infra.errors import PermanentError, is_transient
from infra.outbox import OnCommit, OutboxWriter, Outgoing

log = logging.getLogger(__name__)

# A delivery's effects on the transaction's session; it returns the messages it emits, or None (most emit none,
# or emit through a deferred accumulator).
Apply = Callable[[AsyncSession], Awaitable[Sequence[Outgoing] | None]]

_DEFERRED = "hub.batcher.deferred"
SESSION_TAG = "hub.batcher.consumer"


class Deferred(Protocol):
    """Rows that deliveries of one transaction collected, written together once all of them were applied.

    `flush` returns the messages they emit (to the outbox with the others). An accumulator that also has a
    `committed()` method is told when the transaction committed (to cache what is now stored, for example).
    """

    async def flush(self, session: AsyncSession) -> list[Outgoing]: ...


@runtime_checkable
class _TellsCommit(Protocol):
    def committed(self) -> None: ...


D = TypeVar("D", bound=Deferred)


def deferred(session: AsyncSession, key: str, factory: Callable[[], D]) -> D:
    """The transaction's accumulator `key`, made by `factory` on first use.

    The batcher awaits its `flush(session)` once, after every delivery of the transaction was applied and
    before the outbox is written; the messages it returns go to the outbox with the others.
    """
    registry: dict[str, Any] = session.info.setdefault(_DEFERRED, {})
    if key not in registry:
        registry[key] = factory()
    return registry[key]  # type: ignore[no-any-return]


async def _flush_deferred(session: AsyncSession, outgoing: list[Outgoing]) -> list[Deferred]:
    """Flush the transaction's accumulators (their messages added to `outgoing`); the accumulators."""
    registry: dict[str, Deferred] = session.info.pop(_DEFERRED, None) or {}
    for accumulator in registry.values():
        outgoing.extend(await accumulator.flush(session))
    return list(registry.values())


class ConflictingDuplicate(PermanentError):
    """A message id applied before arrived again with another body: not a duplicate, and not applied."""


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@dataclass(eq=False)
class _Item:
    message_id: str
    apply: Apply
    future: asyncio.Future[bool] = field(repr=False)
    body_hash: str | None = None
    conflict: bool = False


class TransactionBatcher:
    """Groups deliveries of one consumer into inbox-guarded transactions."""

    def __init__(
        self,
        consumer: str,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        max_size: int = 128,
        max_wait_s: float = 0.004,
        on_commit: OnCommit | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.consumer = consumer
        self._sessions = session_factory
        self._max_size = max_size
        self._max_wait_s = max_wait_s
        self._outbox = OutboxWriter(on_commit)
        self._clock = clock
        self._pending: list[_Item] = []
        self._has_items = asyncio.Event()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.committed = 0

    async def submit(self, message_id: str, apply: Apply, *, body: bytes | None = None) -> bool:
        """Apply once; True if applied now, False if this message id was applied before.

        With `body`, its hash is recorded in the inbox, and the same id with another body is not a duplicate:
        it raises `ConflictingDuplicate` (dead-lettered with the reason) instead of being dropped.
        """
        if self._task is None or self._task.done():
            self.start()
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append(_Item(message_id, apply, future, body_hash(body) if body is not None else None))
        self._has_items.set()
        if len(self._pending) >= self._max_size:
            self._full.set()
        return await future

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"batcher-{self.consumer}")

    async def stop(self) -> None:
        """Finish what was submitted, then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        while self._pending:
            await self._flush()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while True:
            await self._has_items.wait()
            if len(self._pending) < self._max_size and self._max_wait_s > 0:
                # Give concurrent deliveries a moment to join this transaction.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._max_wait_s)
            await self._flush()

    async def _flush(self) -> None:
        batch, self._pending = self._pending[: self._max_size], self._pending[self._max_size :]
        if not self._pending:
            self._has_items.clear()
        if len(self._pending) < self._max_size:
            self._full.clear()
        if not batch:
            return
        try:
            applied = await self._transaction(batch)
        except Exception as exc:
            if len(batch) == 1 or is_transient(exc):
                for item in batch:
                    _fail(item, exc)
                return
            log.warning("batch of %d failed (%s); retrying one per transaction", len(batch), type(exc).__name__)
            for item in batch:
                try:
                    single = await self._transaction([item])
                except Exception as item_exc:
                    _fail(item, item_exc)
                else:
                    _resolve(item, item in single)
            return
        for item in batch:
            _resolve(item, item in applied)

    async def run(self, apply: Apply) -> None:
        """Effects no message caused (a timer's), in a transaction of their own: deferred rows and outbox as for a
        delivery, no inbox entry."""
        now = self._clock()
        outgoing: list[Outgoing] = []
        async with self._sessions() as session, session.begin():
            session.info[SESSION_TAG] = self.consumer
            outgoing.extend(await apply(session) or ())
            accumulators = await _flush_deferred(session, outgoing)
            written = await self._outbox.write(session, outgoing, now)
        self._committed(accumulators, written, now)

    async def _transaction(self, batch: list[_Item]) -> set[_Item]:
        now = self._clock()
        applied: set[_Item] = set()
        outgoing: list[Outgoing] = []
        # Sorted keys give every replica the same lock order on the inbox: no deadlocks between them.
        ids = sorted({item.message_id for item in batch})
        ordered = sorted(batch, key=lambda i: i.message_id)
        hashes: dict[str, str | None] = {}
        for item in ordered:
            item.conflict = False
            hashes.setdefault(item.message_id, item.body_hash)
        async with self._sessions() as session, session.begin():
            session.info[SESSION_TAG] = self.consumer  # whose transaction this is (logs, fault-injection tests)
            stmt = insert_ignore(session, InboxEntry).returning(InboxEntry.__table__.c.message_id)
            rows = [
                {"consumer": self.consumer, "message_id": mid, "processed_at": now, "body_hash": hashes[mid]}
                for mid in ids
            ]
            fresh = set((await session.execute(stmt, rows)).scalars())
            # Ids seen before: the body recorded with them (the rare case, one query).
            seen = [item.message_id for item in ordered if item.body_hash and item.message_id not in fresh]
            recorded: dict[str, str | None] = {}
            if seen:
                inbox = InboxEntry.__table__.c
                found = await session.execute(
                    select(inbox.message_id, inbox.body_hash).where(
                        inbox.consumer == self.consumer, inbox.message_id.in_(sorted(set(seen)))
                    )
                )
                recorded = {mid: digest for mid, digest in found.all()}
            for item in ordered:
                # The same id twice in one batch (a duplicate in flight) is applied once.
                if item.message_id in fresh:
                    fresh.discard(item.message_id)
                    recorded[item.message_id] = item.body_hash
                    outgoing.extend(await item.apply(session) or ())
                    applied.add(item)
                elif item.body_hash and (known := recorded.get(item.message_id)) and known != item.body_hash:
                    item.conflict = True
            accumulators = await _flush_deferred(session, outgoing)
            written = await self._outbox.write(session, outgoing, now)
        self.batches += 1
        self.committed += len(batch)
        self._committed(accumulators, written, now)
        return applied

    def _committed(self, accumulators: list[Deferred], written: list[Outgoing], now: dt.datetime) -> None:
        for accumulator in accumulators:
            if isinstance(accumulator, _TellsCommit):
                accumulator.committed()
        self._outbox.hand_off(written, now)


def _resolve(item: _Item, applied: bool) -> None:
    if item.conflict:
        _fail(
            item,
            ConflictingDuplicate(
                f"message id {item.message_id} was applied before with another body: "
                "not a duplicate, not applied (a new message needs a new id)"
            ),
        )
    elif not item.future.done():
        item.future.set_result(applied)


def _fail(item: _Item, exc: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(exc)
