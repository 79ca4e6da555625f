"""The inbox-guarded batch transaction: duplicates apply once, one bad delivery cannot sink its batch."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from infra.batcher import TransactionBatcher
from infra.db import create_engine, create_session_factory
from infra.db.tables import InboxEntry, OutboxMessage
from infra.outbox import Outgoing

pytestmark = pytest.mark.integration


def _emit(message_id: str):  # type: ignore[no-untyped-def]
    async def apply(_session: AsyncSession) -> list[Outgoing]:
        return [Outgoing(message_id=f"out-{message_id}", exchange="city.events", routing_key="x", body=b"{}")]

    return apply


async def _boom(_session: AsyncSession) -> list[Outgoing]:
    raise RuntimeError("a bug in one handler")


async def test_duplicates_in_one_batch_apply_once_and_a_failing_item_is_isolated(database_url: str) -> None:
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    handed: list[str] = []
    batcher = TransactionBatcher(
        "test",
        sessions,
        max_size=50,
        max_wait_s=0.05,
        on_commit=lambda messages, _at: handed.extend(m.message_id for m in messages),
    )
    try:
        ids = [f"m-{i}" for i in range(20)]
        results = await asyncio.gather(
            *(batcher.submit(mid, _emit(mid)) for mid in ids),
            *(batcher.submit(mid, _emit(mid)) for mid in ids[:5]),  # the same deliveries again, in flight
            batcher.submit("m-bad", _boom),
            return_exceptions=True,
        )
        again = await batcher.submit("m-0", _emit("m-0"))  # a redelivery after commit
    finally:
        await batcher.stop()
    async with sessions() as session:
        inbox = (await session.execute(select(func.count()).select_from(InboxEntry))).scalar_one()
        outbox = (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
    await engine.dispose()

    applied, failures = results[:25], results[25:]
    assert sum(r is True for r in applied) == 20
    assert sum(r is False for r in applied) == 5
    assert isinstance(failures[0], RuntimeError)
    assert again is False
    assert inbox == 20  # the failed delivery left no trace: it will be retried
    assert outbox == 20
    # The relay's hand-off is told of each row written, once: not of the duplicates, not of the failed delivery.
    assert sorted(handed) == sorted(f"out-{mid}" for mid in ids)
