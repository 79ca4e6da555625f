"""Reliability item 7, as a property: whatever the interleaving of deliveries, redeliveries and crashes before or
after commit, the statistics count each distinct report once and each report gets exactly its work orders.

The real code under test: the `TransactionBatcher` (inbox, batching, one-by-one retry of a failed batch) with the
router's and the statistics' handlers, on SQLite and PostgreSQL, in-process. The broker is modelled, not used:
  * deliver             one delivery of a message;
  * redeliver           the same message twice at once (a redelivery racing the first delivery);
  * crash_before_commit the consumer applies everything, then dies before COMMIT: a `before_commit` hook raises
                        inside the transaction, so it rolls back, and the delivery stays unacked;
  * crash_after_commit  committed, but the ack was lost: the broker delivers the same message id again.
Operations of one round run concurrently, so they share batches (and a crash sinks a batch that must then be
retried one by one). At the end the broker redelivers every message once more: an unacked one is still owed.
Messages 5..7 carry reports 0..2 again under new message ids (a city system that republished under a new id).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from consumers.router.handler import RoutingService
from consumers.router.tables import Report, WorkOrder
from consumers.stats.aggregates import ALL, REPORTS
from consumers.stats.handler import StatsService
from consumers.stats.tables import StatCounter, StatReport
from contracts import ReportFiled
from hub.bootstrap import Domain
from hub.settings import Settings
from infra.batcher import Apply, TransactionBatcher
from infra.db import create_engine, create_session_factory
from infra.db.tables import InboxEntry, OutboxMessage
from infra.outbox import Outgoing
from tests.support import make_report

pytestmark = pytest.mark.integration

DOMAIN = Domain.load(Settings())
ROUTING = RoutingService(DOMAIN.catalogue, DOMAIN.rules, DOMAIN.calendar)
STATS = StatsService(DOMAIN.calendar)

REPORTS_IN_POOL = 5
MESSAGES = 8
KINDS = ("deliver", "redeliver", "crash_before_commit", "crash_after_commit")

operation = st.tuples(st.sampled_from(KINDS), st.integers(0, MESSAGES - 1))
rounds = st.lists(st.lists(operation, min_size=1, max_size=6), min_size=1, max_size=6)


class Crash(Exception):
    """The consumer died inside its transaction: nothing of it may commit."""


def _die(_session: Session) -> None:
    raise Crash("killed before COMMIT")


def crashing(apply: Apply) -> Apply:
    """Apply the real effects, then die just before COMMIT (after the batcher and the handlers wrote everything)."""

    async def run(session: AsyncSession) -> list[Outgoing]:
        out = await apply(session)
        # Registered after the statistics' own before_commit hook: their rows are written, then we die.
        event.listen(session.sync_session, "before_commit", _die)
        return out

    return run


class Consumers:
    """The router and the statistics, each with its own batcher, both fed every delivery (both bind report.filed)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], run: str) -> None:
        self.batchers = [
            TransactionBatcher(name, sessions, max_size=4, max_wait_s=0.002) for name in ("router", "stats")
        ]
        self.reports = [make_report(random.Random(i), i, run=run) for i in range(REPORTS_IN_POOL)]
        self.message_ids = [f"{run}-m{i}" for i in range(MESSAGES)]
        self.acked: set[int] = set()

    def report(self, message: int) -> ReportFiled:
        return self.reports[message % REPORTS_IN_POOL]

    async def deliver(self, message: int, *, crash: bool = False) -> None:
        report, mid = self.report(message), self.message_ids[message]
        applies: list[Apply] = [
            lambda s: ROUTING.apply(s, report, mid),
            lambda s: STATS.apply_report(s, report),
        ]
        results = await asyncio.gather(
            *(
                batcher.submit(mid, crashing(apply) if crash else apply)
                for batcher, apply in zip(self.batchers, applies, strict=True)
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Crash):
                raise result
        if not any(isinstance(r, Crash) for r in results):
            self.acked.add(message)

    async def run(self, kind: str, message: int) -> None:
        if kind == "deliver":
            await self.deliver(message)
        elif kind == "redeliver":
            await asyncio.gather(self.deliver(message), self.deliver(message))
        elif kind == "crash_before_commit":
            await self.deliver(message, crash=True)
        else:  # crash_after_commit: the ack never reached the broker, which delivers the message again
            await self.deliver(message)
            await self.deliver(message)

    async def stop(self) -> None:
        for batcher in self.batchers:
            await batcher.stop()


async def scalar(sessions: async_sessionmaker[AsyncSession], stmt: Any) -> Any:
    async with sessions() as session:
        return (await session.execute(stmt)).scalar_one()


async def reports_counted(sessions: async_sessionmaker[AsyncSession]) -> int:
    """The statistics' own figure: reports in the yearly `all` counters."""
    c = StatCounter.__table__.c
    stmt = select(func.coalesce(func.sum(c.n), 0)).where(c.metric == REPORTS, c.dim_key == ALL, c.period_kind == "year")
    return int(await scalar(sessions, stmt))


async def state(sessions: async_sessionmaker[AsyncSession], run: str, message_ids: list[str]) -> dict[str, Any]:
    prefix = f"rep-{run}-%"
    async with sessions() as session:
        orders = sorted(
            (await session.execute(select(WorkOrder.work_order_id).where(WorkOrder.report_id.like(prefix)))).scalars()
        )
        inbox = {
            (c, m)
            for c, m in (
                await session.execute(
                    select(InboxEntry.consumer, InboxEntry.message_id).where(InboxEntry.message_id.in_(message_ids))
                )
            ).all()
        }
        emitted = int(
            (
                await session.execute(
                    select(func.count()).select_from(OutboxMessage).where(OutboxMessage.message_id.in_(orders or [""]))
                )
            ).scalar_one()
        )
    return {
        "reports": int(
            await scalar(sessions, select(func.count()).select_from(Report).where(Report.report_id.like(prefix)))
        ),
        "stat_reports": int(
            await scalar(
                sessions, select(func.count()).select_from(StatReport).where(StatReport.report_id.like(prefix))
            )
        ),
        "counted": await reports_counted(sessions),
        "orders": orders,
        "emitted": emitted,
        "inbox": inbox,
    }


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=rounds)
async def test_any_interleaving_keeps_statistics_equal_to_distinct_reports(
    sessions: async_sessionmaker[AsyncSession], plan: list[list[tuple[str, int]]]
) -> None:
    run = uuid.uuid4().hex[:10]  # examples share the database: each has its own ids
    consumers = Consumers(sessions, run)
    counted_before = await reports_counted(sessions)
    try:
        for ops in plan:
            await asyncio.gather(*(consumers.run(kind, message) for kind, message in ops))
        # Before recovery: a crash before commit left no trace; what was acked is applied once.
        acked_reports = {consumers.report(m).report_id for m in consumers.acked}
        before = await state(sessions, run, consumers.message_ids)
        assert before["inbox"] == {(c, consumers.message_ids[m]) for m in consumers.acked for c in ("router", "stats")}
        assert before["reports"] == before["stat_reports"] == len(acked_reports)
        assert before["counted"] - counted_before == len(acked_reports)
        # The broker redelivers what it still owes (and, harmlessly, what was acked: duplicates change nothing).
        touched = sorted({message for ops in plan for _, message in ops})
        await asyncio.gather(*(consumers.deliver(message) for message in touched))
    finally:
        await consumers.stop()

    distinct = {consumers.report(m).report_id: consumers.report(m) for m in touched}
    expected_orders = sorted(o.work_order_id for r in distinct.values() for o in ROUTING.work_orders(r))
    after = await state(sessions, run, consumers.message_ids)
    assert after["reports"] == len(distinct)
    assert after["stat_reports"] == len(distinct)
    assert after["counted"] - counted_before == len(distinct)
    assert after["orders"] == expected_orders
    assert after["emitted"] == len(expected_orders)  # each work order published once, never twice
    assert after["inbox"] == {(c, consumers.message_ids[m]) for m in touched for c in ("router", "stats")}
